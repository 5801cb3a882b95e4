//! Failure paths through the real binary: exec credential plugins that hang or fail,
//! quitting while they hang, configurations and kubeconfigs a user got wrong, and what
//! `check` prints when it cannot run.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::pty::Pty;
use serde_json::Value;

/// An executable script named `corp-login` in `dir`.
fn plugin(dir: &Path, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("corp-login");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A kubeconfig of a hub and a spoke whose user gets its credential from `plugin`. The
/// servers are never reached: the plugin runs first.
fn kubeconfig(dir: &Path, plugin: &Path) -> PathBuf {
    let path = dir.join("kubeconfig.yaml");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: hub\n\
         clusters:\n- name: hub\n  cluster: {{server: 'https://127.0.0.1:9'}}\n- name: spoke\n  cluster: {{server: 'https://127.0.0.1:9'}}\n\
         users:\n- name: corp\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n\
         contexts:\n- name: hub\n  context: {{cluster: hub, user: corp}}\n- name: staging-eu-1\n  context: {{cluster: spoke, user: corp}}\n",
        plugin.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("fleetdeck.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `fleetdeck check --json` with `args`: exit code, the JSON, stderr, and how long it took.
fn check(home: &Path, args: &[&str]) -> (Option<i32>, Value, String, Duration) {
    let started = Instant::now();
    let mut all = vec!["check", "--json"];
    all.extend_from_slice(args);
    let out = common::cli(&all, home).output().expect("fleetdeck check runs");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("valid JSON ({e}): {stdout}"));
    (out.status.code(), json, String::from_utf8_lossy(&out.stderr).into_owned(), took)
}

fn problems(report: &Value) -> String {
    report["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["problems"].as_array().unwrap().clone())
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `check` on a fleet whose user's credential comes from a plugin running `script`,
/// with `settings` added to a short check: exit code, the problems, stderr, time taken.
fn check_with_plugin(script: &str, settings: &str) -> (Option<i32>, String, String, Duration) {
    let home = tempfile::tempdir().unwrap();
    let kc = kubeconfig(home.path(), &plugin(home.path(), script));
    let cfg = config(home.path(), &format!("{settings}[check]\ntimeout = \"4s\"\nsettle = \"2s\"\n"));
    let (code, report, stderr, took) =
        check(home.path(), &["--kubeconfig", kc.to_str().unwrap(), "--config", cfg.to_str().unwrap()]);
    (code, problems(&report), stderr, took)
}

#[test]
fn a_hanging_plugin_is_stopped_and_check_reports_by_its_timeout() {
    let (code, said, stderr, took) = check_with_plugin("sleep 60", "[engine]\nexec_timeout = \"1s\"\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(took < Duration::from_secs(10), "printed by check.timeout, not after the plugin: {took:?}");
    assert!(said.contains("exec plugin corp-login did not answer in 1s"), "{said}");
}

#[test]
fn a_failing_plugin_is_reported_in_its_own_words() {
    let (code, said, _, _) =
        check_with_plugin("echo \"error: token expired, run 'corp-login --refresh'\" >&2\nexit 1", "");
    assert_eq!(code, Some(2));
    assert!(
        said.contains("exec plugin corp-login failed (exit 1): error: token expired, run 'corp-login --refresh'"),
        "{said}"
    );
    assert!(!said.contains("Output {") && !said.contains("ExitStatus"), "no debug dump: {said}");
}

#[test]
fn quitting_while_a_plugin_hangs_ends_the_process_within_a_second() {
    let home = tempfile::tempdir().unwrap();
    let plugin = plugin(home.path(), "sleep 60");
    let kc = kubeconfig(home.path(), &plugin);
    let mut pty = Pty::spawn(&["--read-only", "--kubeconfig", kc.to_str().unwrap()], &[], 120, 40);
    pty.wait_for("staging-eu-1", Duration::from_secs(20));
    pty.key("q");
    let quit = Instant::now();
    let status = pty.wait_exit(Duration::from_secs(1));
    assert!(status.is_some(), "still running {:?} after q", quit.elapsed());
    assert!(pty.restored(), "the terminal is restored");
}

#[test]
fn check_that_cannot_run_exits_2_with_its_error_json() {
    let home = tempfile::tempdir().unwrap();
    // A configuration error.
    let cfg = config(home.path(), "[probe]\ninterval = \"0s\"\n");
    let (code, report, stderr, _) = check(home.path(), &["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(report["status"], "unreachable");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("fleetdeck.toml") && error.contains("probe.interval"), "{error}");
    // A log directory that cannot be created.
    let blocker = home.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let cfg = config(home.path(), &format!("[log]\ndir = \"{}/logs\"\n", blocker.display()));
    let (code, report, _, _) = check(home.path(), &["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(report["error"].as_str().unwrap().contains("logs"), "{report}");
    // No kubeconfig.
    let missing = home.path().join("nope.yaml");
    let (code, report, _, _) = check(home.path(), &["--kubeconfig", missing.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(report["error"].as_str().unwrap().contains("nope.yaml"), "{report}");
}

#[test]
fn a_users_error_is_one_clear_line() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("nope.yaml");
    let out = common::cli(&["--kubeconfig", missing.to_str().unwrap()], home.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("fleetdeck: ") && stderr.contains("nope.yaml"), "{stderr}");
    assert!(!stderr.contains("Location:") && !stderr.contains("os error"), "{stderr}");

    let bad = config(home.path(), "[probe]\ntimeout = \"0s\"\n[ui]\ncolors = \"sepia\"\n");
    let out = common::cli(&["--config", bad.to_str().unwrap()], home.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("probe.timeout = \"0s\" is out of range") && stderr.contains("ui.colors"), "{stderr}");
}

#[test]
fn sim_help_lists_no_tui_flags() {
    let home = tempfile::tempdir().unwrap();
    let out = common::cli(&["sim", "--help"], home.path()).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--spokes"), "{help}");
    for flag in ["--read-only", "--wall", "--ascii", "--audit-file"] {
        assert!(!help.contains(flag), "{flag} in sim --help:\n{help}");
    }
    let demo = common::cli(&["demo", "--help"], home.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&demo.stdout).contains("--wall"), "demo keeps the TUI's flags");
}

/// A loopback server that answers every connection with `reply` (or never, for `None`).
async fn server(reply: Option<&'static [u8]>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                match reply {
                    Some(bytes) => {
                        let _ = socket.write_all(bytes).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(3600)).await,
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_that_are_no_api_servers_are_said_to_be_so() {
    let html = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 40\r\nConnection: close\r\n\r\n<html><body><h1>Login</h1></body></html>";
    let json = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"hello\": 1}";
    let servers = [
        ("hub", Some(&html[..])),
        ("staging-hang", None),
        ("staging-garbage", Some(&b"\x00\x01garbage\xff\r\n\r\n"[..])),
        ("staging-version", Some(&b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nok"[..])),
        ("staging-json", Some(&json[..])),
    ];
    let mut clusters = String::new();
    let mut contexts = String::new();
    for (name, reply) in servers {
        let port = server(reply).await;
        clusters.push_str(&format!("- {{name: {name}, cluster: {{server: 'http://127.0.0.1:{port}'}}}}\n"));
        contexts.push_str(&format!("- {{name: {name}, context: {{cluster: {name}, user: u}}}}\n"));
    }
    contexts.push_str("- {name: staging-ghost, context: {cluster: hub, user: ghost}}\n");
    let home = tempfile::tempdir().unwrap();
    let kc = home.path().join("kubeconfig.yaml");
    std::fs::write(
        &kc,
        format!("apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n- {{name: u, user: {{token: t}}}}\ncontexts:\n{contexts}"),
    )
    .unwrap();
    let cfg = config(
        home.path(),
        "[engine]\nconnect_timeout = \"1s\"\n[probe]\ntimeout = \"1s\"\n[check]\ntimeout = \"6s\"\nsettle = \"2s\"\n",
    );
    let home_path = home.path().to_owned();
    let (code, report, stderr, _) = tokio::task::spawn_blocking(move || {
        check(&home_path, &["--kubeconfig", kc.to_str().unwrap(), "--config", cfg.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(2), "{stderr}");
    let said = |name: &str| {
        let c = report["clusters"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
        (c["state"].as_str().unwrap().to_owned(), c["problems"].to_string())
    };
    let (state, problems) = said("hub");
    assert_eq!(state, "unreachable", "never one valid answer: unreachable once that lasted");
    assert!(problems.contains(r#"not a Kubernetes API server (answered with \"<html><body><h1>Login"#), "{problems}");
    assert!(said("staging-hang").1.contains("GET /version timed out after 1s"), "{:?}", said("staging-hang"));
    for name in ["staging-garbage", "staging-version"] {
        let (state, problems) = said(name);
        assert!(
            problems.contains("not a Kubernetes API server (answered with something that is not HTTP"),
            "{problems}"
        );
        assert_eq!(state, "unreachable", "{name}");
    }
    assert!(said("staging-json").1.contains(r#"answered with \"{\\\"hello\\\": 1}\""#), "{:?}", said("staging-json"));
    let (state, problems) = said("staging-ghost");
    assert_eq!(state, "misconfigured");
    assert!(problems.contains(r#"context staging-ghost names user \"ghost\", which is not defined"#), "{problems}");
}
