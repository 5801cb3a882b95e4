//! `fleetdeck check` against the simulator: the binary on a kubeconfig of a healthy fleet
//! exits 0 with the documented JSON; a spoke over the latency target makes it 1; a spoke
//! that refuses connections makes it 2; no kubeconfig at all is 2 as well.

use crate::common;

use std::time::Duration;

use fleetdeck::sim::{ClusterRole, OutageMode, Scenario};
use serde_json::Value;

async fn check(kubeconfig: &std::path::Path, home: &std::path::Path) -> (Option<i32>, Value, String) {
    let path = kubeconfig.display().to_string();
    let mut command = tokio::process::Command::from(common::cli(&["check", "--json", "--kubeconfig", &path], home));
    let out = command.output().await.expect("fleetdeck check runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("valid JSON ({e}): {stdout}"));
    (out.status.code(), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn cluster<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["clusters"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}"))
}

/// Every field the README promises, with its type.
fn assert_shape(report: &Value) {
    assert!(["healthy", "degraded", "unreachable"].contains(&report["status"].as_str().unwrap()));
    assert_eq!(report["hub"], "hub");
    report["generated_at"].as_str().unwrap().parse::<jiff::Timestamp>().expect("generated_at is RFC 3339");
    for c in report["clusters"].as_array().unwrap() {
        assert!(c["name"].is_string());
        assert!(["hub", "spoke", "candidate", "hub-only", "unknown"].contains(&c["role"].as_str().unwrap()), "{c}");
        assert!(c["state"].is_string() && c["status"].is_string());
        assert!(c["version"].is_string() || c["version"].is_null());
        assert!(c["nodes"].is_null() || (c["nodes"]["ready"].is_u64() && c["nodes"]["total"].is_u64()));
        for q in ["p50", "p95", "p99"] {
            assert!(c["latency_ms"][q].is_number() || c["latency_ms"][q].is_null(), "{q}: {c}");
        }
        assert!(c["availability"].is_number() || c["availability"].is_null());
        for k in ["in_sync", "pending", "failed", "suspended"] {
            assert!(c["propagation"][k].is_u64(), "{k}: {c}");
        }
        for k in ["last_seconds", "p95_seconds"] {
            assert!(c["propagation"][k].is_number() || c["propagation"][k].is_null(), "{k}: {c}");
        }
        assert!(c["violations"].is_i64() || c["violations"].is_null());
        for b in c["backups"].as_array().unwrap() {
            assert!(b["schedule"].is_string() && b["rpo_ok"].is_boolean());
            assert!(b["last_success"].is_string() || b["last_success"].is_null());
            assert!(b["last_phase"].is_string() || b["last_phase"].is_null());
        }
        assert!(c["problems"].as_array().unwrap().iter().all(Value::is_string));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_by_the_worst_cluster() {
    let fleet = common::live_fleet(2, Scenario::load("healthy").unwrap()).await;
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("kubeconfig.yaml");
    fleet.write_kubeconfig(&kubeconfig).unwrap();
    let spokes: Vec<String> =
        fleet.clusters().iter().filter(|c| c.info.role == ClusterRole::Spoke).map(|c| c.name().to_owned()).collect();
    assert_eq!(spokes.len(), 2);

    let (code, report, stderr) = check(&kubeconfig, home.path()).await;
    assert_shape(&report);
    assert_eq!(code, Some(0), "a healthy fleet: {report:#} {stderr}");
    assert_eq!(report["status"], "healthy");
    assert_eq!(report["clusters"].as_array().unwrap().len(), 3);
    let spoke = cluster(&report, &spokes[0]);
    assert_eq!((spoke["role"].as_str(), spoke["state"].as_str()), (Some("spoke"), Some("live")));
    assert!(spoke["nodes"]["total"].as_u64().unwrap() > 0);
    assert!(spoke["latency_ms"]["p95"].as_f64().unwrap() > 0.0);
    assert!(spoke["propagation"]["in_sync"].as_u64().unwrap() > 0);
    assert_eq!(spoke["violations"], 0);
    assert!(spoke["backups"].as_array().unwrap().iter().all(|b| b["rpo_ok"] == true));

    // Every API round trip of one spoke over the 100 ms target: degraded.
    let slow = fleet.cluster(&spokes[0]).unwrap();
    slow.faults.update(|f| f.latency = Duration::from_millis(150));
    let (code, report, _) = check(&kubeconfig, home.path()).await;
    assert_shape(&report);
    assert_eq!(code, Some(1), "{report:#}");
    let c = cluster(&report, &spokes[0]);
    assert_eq!(c["status"], "degraded");
    assert!(c["problems"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().contains("p95")), "{c}");
    assert_eq!(cluster(&report, &spokes[1])["status"], "healthy");

    // The other spoke refuses connections: unreachable, which outranks degraded.
    fleet.cluster(&spokes[1]).unwrap().faults.update(|f| f.outage = Some(OutageMode::Refused));
    let (code, report, _) = check(&kubeconfig, home.path()).await;
    assert_shape(&report);
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(report["status"], "unreachable");
    assert_eq!(cluster(&report, &spokes[1])["status"], "unreachable");
    assert_eq!(cluster(&report, &spokes[1])["state"], "unreachable");
    fleet.stop().await;

    // No kubeconfig: the check could not run.
    let (code, report, stderr) = check(&home.path().join("absent.yaml"), home.path()).await;
    assert_eq!(code, Some(2));
    assert_eq!(report["status"], "unreachable");
    assert!(report["error"].as_str().unwrap().contains("absent.yaml") && stderr.contains("absent.yaml"));
}

/// A policy finding below `slo.violation_severity` (high) is reported but leaves the
/// fleet healthy; one at it makes the cluster degraded (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_degrade_at_the_severity_threshold_only() {
    use kube::api::{Api, ApiResource, DynamicObject, PostParams};
    let fleet = common::live_fleet(1, Scenario::load("healthy").unwrap()).await;
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("kubeconfig.yaml");
    fleet.write_kubeconfig(&kubeconfig).unwrap();
    let spoke = "staging-eu-1";
    let ar = ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport"),
        "policyreports",
    );
    let reports: Api<DynamicObject> = Api::namespaced_with(common::admin(&fleet, spoke).await, "default", &ar);
    let report = |name: &str, severity: &str| {
        serde_json::from_value::<DynamicObject>(serde_json::json!({
            "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": {"name": name, "namespace": "default"},
            "summary": {"pass": 3, "fail": 1, "warn": 0, "error": 0, "skip": 0},
            "results": [{"policy": "require-probes", "rule": "readiness", "result": "fail", "severity": severity,
                         "category": "Best Practices", "message": "a readiness probe is required",
                         "resources": [{"kind": "Deployment", "namespace": "default", "name": "web"}]}]
        }))
        .unwrap()
    };
    reports.create(&PostParams::default(), &report("best-practices", "low")).await.unwrap();
    let (code, json, stderr) = check(&kubeconfig, home.path()).await;
    assert_shape(&json);
    let c = cluster(&json, spoke);
    assert_eq!(code, Some(0), "a low finding is reported, not degrading: {json:#} {stderr}");
    assert_eq!((c["status"].as_str(), c["compliance"].as_str()), (Some("healthy"), Some("non-compliant")));
    assert!(c["violations_by_severity"]["low"].as_i64().unwrap() >= 1, "{c}");
    assert!(c["problems"].to_string().contains("below high (reported, not degrading)"), "{c}");

    reports.create(&PostParams::default(), &report("registries", "high")).await.unwrap();
    let (code, json, _) = check(&kubeconfig, home.path()).await;
    let c = cluster(&json, spoke);
    assert_eq!(code, Some(1), "a high finding degrades: {json:#}");
    assert_eq!(c["status"], "degraded");
    assert!(c["violations_by_severity"]["high"].as_i64().unwrap() >= 1, "{c}");
    fleet.stop().await;
}

/// Debian's `promtool` (package `prometheus`), or the instruction to install it.
fn promtool() -> String {
    common::local::binary(&["promtool"], "prometheus", "the OpenMetrics test lints with promtool")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_a_snapshot_in_openmetrics_that_promtool_accepts() {
    let fleet = common::live_fleet(2, Scenario::load("healthy").unwrap()).await;
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("kubeconfig.yaml");
    fleet.write_kubeconfig(&kubeconfig).unwrap();
    let path = kubeconfig.display().to_string();
    let args = ["check", "--format", "openmetrics", "--kubeconfig", &path];
    let out = tokio::process::Command::from(common::cli(&args, home.path())).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with("# EOF\n"));
    let spoke = fleet.clusters().iter().find(|c| c.info.role == ClusterRole::Spoke).unwrap().name().to_owned();
    for line in [
        "fleetdeck_fleet_status{status=\"healthy\"} 1.0".to_owned(),
        format!("fleetdeck_cluster_up{{cluster=\"{spoke}\"}} 1.0"),
        format!("fleetdeck_cluster_state{{cluster=\"{spoke}\",state=\"live\"}} 1.0"),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains(&format!("fleetdeck_cluster_api_latency_seconds{{cluster=\"{spoke}\",percentile=\"95\"}}")));
    // The real linter, as a textfile collector's user would run it.
    let mut lint = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    lint.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let linted = lint.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&linted.stdout), String::from_utf8_lossy(&linted.stderr));
    assert!(linted.status.success(), "promtool check metrics: {said}\n{text}");
    assert!(said.trim().is_empty(), "promtool's lint findings: {said}");
}
