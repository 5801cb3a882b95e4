//! kubectl against the simulated fleet: it must not tell it from real clusters.
//!
//! Each test is skipped, with the reason printed, when kubectl is not on PATH (`.ci/run`
//! installs it, so CI always runs them).

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{admin, still_fleet};
use fleetdeck::sim::Fleet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

fn kubectl_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("kubectl")).find(|p| p.is_file())
}

/// The client minor version of a kubectl binary.
fn minor_version(bin: &PathBuf) -> Option<u32> {
    let out = Command::new(bin).args(["version", "--client", "-o", "json"]).output().ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["clientVersion"]["minor"].as_str()?.trim_end_matches('+').parse().ok()
}

/// The oldest kubectl these tests hold the simulator to: OpenAPI v3 for `explain` and
/// server-side field validation.
const MIN_MINOR: u32 = 27;

/// The kubectl binary, or `None` after printing why the test is skipped.
fn kubectl_or_skip(test: &str) -> Option<PathBuf> {
    let Some(bin) = kubectl_path() else {
        println!("SKIPPED {test}: kubectl is not on PATH (.ci/run installs it)");
        return None;
    };
    match minor_version(&bin) {
        Some(minor) if minor >= MIN_MINOR => Some(bin),
        found => {
            println!("SKIPPED {test}: kubectl 1.{found:?} is older than 1.{MIN_MINOR}, which these tests need");
            None
        }
    }
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(bin: PathBuf, fleet: &Fleet) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        fleet.write_kubeconfig(&kubeconfig).unwrap();
        Self { bin, kubeconfig, _dir: dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("KUBECONFIG", &self.kubeconfig).env("HOME", self._dir.path()).args(args);
        c
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().expect("kubectl runs")).await.unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(!out.status.success(), "kubectl {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }

    fn file(&self, name: &str, content: &str) -> String {
        let path = self._dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_nodes_kustomizations_and_backups() {
    let Some(bin) = kubectl_or_skip("get_nodes_kustomizations_and_backups") else { return };
    let fleet = still_fleet(2).await;
    let k = Kubectl::new(bin, &fleet);
    let nodes = k.ok(&["get", "nodes"]).await;
    assert!(nodes.lines().next().unwrap().starts_with("NAME"));
    assert!(
        nodes.contains("hub-control-plane") && nodes.contains("Ready") && nodes.contains("control-plane"),
        "{nodes}"
    );
    let wide = k.ok(&["--context", "staging-eu-1", "get", "nodes", "-o", "wide"]).await;
    assert!(wide.contains("INTERNAL-IP") && wide.contains("containerd://"), "{wide}");

    let ks = k.ok(&["get", "kustomizations.kustomize.toolkit.fluxcd.io", "-A"]).await;
    assert!(ks.contains("READY") && ks.contains("staging-eu-1") && ks.contains("production-eu-1"), "{ks}");
    assert!(ks.contains("Applied revision: main@sha1:"), "{ks}");

    let json = k.ok(&["--context", "staging-eu-1", "get", "backups.velero.io", "-A", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&json).unwrap();
    let items = list["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|b| b["kind"] == "Backup" && b["status"]["phase"].is_string()));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_with_a_request_timeout() {
    let Some(bin) = kubectl_or_skip("watch_with_a_request_timeout") else { return };
    let fleet = still_fleet(1).await;
    let k = Kubectl::new(bin, &fleet);
    let child = k
        .command(&["get", "configmaps", "-n", "default", "--watch", "--request-timeout=4s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cms: Api<ConfigMap> = Api::namespaced(admin(&fleet, "hub").await, "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "watched"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let out =
        tokio::time::timeout(Duration::from_secs(20), tokio::task::spawn_blocking(move || child.wait_with_output()))
            .await
            .expect("kubectl stops at its request timeout")
            .unwrap()
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("kube-root-ca.crt"), "the initial list: {stdout}");
    assert!(stdout.contains("watched"), "the watched creation: {stdout}");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_server_side_and_create_with_a_server_dry_run() {
    let Some(bin) = kubectl_or_skip("apply_server_side_and_create_with_a_server_dry_run") else { return };
    let fleet = still_fleet(1).await;
    let k = Kubectl::new(bin, &fleet);
    let manifest = k.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: default\ndata:\n  a: \"1\"\n",
    );
    let out = k.ok(&["apply", "--server-side", "-f", &manifest]).await;
    assert!(out.contains("configmap/applied serverside-applied"), "{out}");
    let manager = k.ok(&["get", "cm", "applied", "-o", "jsonpath={.metadata.managedFields[0].manager}"]).await;
    assert_eq!(manager, "kubectl");
    let changed = k.file(
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: default\ndata:\n  a: \"2\"\n",
    );
    let err = k.fails(&["apply", "--server-side", "--field-manager", "other", "-f", &changed]).await;
    assert!(err.contains("conflict"), "{err}");
    k.ok(&["apply", "--server-side", "--field-manager", "other", "--force-conflicts", "-f", &changed]).await;
    assert_eq!(k.ok(&["get", "cm", "applied", "-o", "jsonpath={.data.a}"]).await, "2");

    let dry = k.file("dry.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dry\n  namespace: default\n");
    let out = k.ok(&["create", "--dry-run=server", "-f", &dry]).await;
    assert!(out.contains("created (server dry run)"), "{out}");
    let out = k.ok(&["create", "configmap", "dry2", "--from-literal=x=y", "--dry-run=server", "-o", "name"]).await;
    assert_eq!(out.trim(), "configmap/dry2", "typed clients send protobuf; it is decoded");
    let err = k.fails(&["get", "cm", "dry", "dry2"]).await;
    assert!(err.contains("NotFound"), "{err}");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_can_i_for_both_users() {
    let Some(bin) = kubectl_or_skip("auth_can_i_for_both_users") else { return };
    let fleet = still_fleet(1).await;
    let k = Kubectl::new(bin, &fleet);
    assert_eq!(k.ok(&["auth", "can-i", "create", "configmaps"]).await.trim(), "yes");
    assert_eq!(k.ok(&["--context", "staging-eu-1", "auth", "can-i", "delete", "nodes"]).await.trim(), "yes");
    let viewer = ["--user", "hub-readonly"];
    let out = k.run(&[&viewer[..], &["auth", "can-i", "create", "configmaps"]].concat()).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    assert!(!out.status.success(), "can-i exits non-zero on no");
    assert_eq!(
        k.ok(&[&viewer[..], &["auth", "can-i", "list", "kustomizations.kustomize.toolkit.fluxcd.io"]].concat())
            .await
            .trim(),
        "yes"
    );
    let whoami = k.ok(&[&viewer[..], &["auth", "whoami"]].concat()).await;
    assert!(whoami.contains("fleet-viewer"), "{whoami}");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_resources_and_explain() {
    let Some(bin) = kubectl_or_skip("api_resources_and_explain") else { return };
    let fleet = still_fleet(1).await;
    let k = Kubectl::new(bin, &fleet);
    let resources = k.ok(&["api-resources"]).await;
    for kind in [
        "Kustomization",
        "GitRepository",
        "OCIRepository",
        "Backup",
        "Schedule",
        "BackupStorageLocation",
        "Deployment",
        "ClusterRole",
    ] {
        assert!(resources.contains(kind), "{kind} in {resources}");
    }
    let spoke = k.ok(&["--context", "staging-eu-1", "api-resources", "--api-group", "wgpolicyk8s.io"]).await;
    assert!(spoke.contains("PolicyReport") && spoke.contains("ClusterPolicyReport"), "{spoke}");
    let explain = k.ok(&["explain", "kustomization.spec.kubeConfig"]).await;
    assert!(explain.contains("secretRef"), "{explain}");
    let explain = k.ok(&["explain", "nodes.status.conditions"]).await;
    assert!(explain.contains("lastHeartbeatTime"), "{explain}");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyday_edits_label_patch_delete() {
    let Some(bin) = kubectl_or_skip("everyday_edits_label_patch_delete") else { return };
    let fleet = still_fleet(1).await;
    let k = Kubectl::new(bin, &fleet);
    k.ok(&["create", "namespace", "edits"]).await;
    k.ok(&["-n", "edits", "create", "configmap", "c", "--from-literal=a=1"]).await;
    k.ok(&["-n", "edits", "label", "cm", "c", "team=platform"]).await;
    k.ok(&[
        "-n",
        "edits",
        "patch",
        "cm",
        "c",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/data/a","value":"2"}]"#,
    ])
    .await;
    k.ok(&["-n", "edits", "patch", "cm", "c", "--type=merge", "-p", r#"{"data":{"b":"3"}}"#]).await;
    k.ok(&["-n", "edits", "patch", "cm", "c", "-p", r#"{"data":{"c":"4"}}"#]).await;
    let data = k.ok(&["-n", "edits", "get", "cm", "-l", "team=platform", "-o", "jsonpath={.items[0].data}"]).await;
    let data: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data, json!({"a": "2", "b": "3", "c": "4"}));
    k.ok(&["-n", "edits", "delete", "cm", "c"]).await;
    let err = k.fails(&["-n", "edits", "get", "cm", "c"]).await;
    assert!(err.contains("NotFound"), "{err}");
    fleet.stop().await;
}
