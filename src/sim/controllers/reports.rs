//! Kyverno's policy reports on a spoke: one PolicyReport per application namespace and a
//! ClusterPolicyReport, with a few violations, changing now and then as workloads are
//! fixed or broken.

use color_eyre::eyre::Result;
use jiff::Timestamp;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use super::exponential;
use crate::api::{Caller, write};
use crate::cluster::Cluster;
use crate::resource::GroupResource;
use crate::scenario::{PolicyShape, Scenario};
use crate::seed::{self, put};
use crate::state::ClusterState;

/// (policy, rule, category, severity, message when failing)
const CHECKS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "disallow-privileged-containers",
        "privileged-containers",
        "Pod Security Standards (Baseline)",
        "medium",
        "validation error: Privileged mode is disallowed. The fields spec.containers[*].securityContext.privileged must be unset or set to `false`.",
    ),
    (
        "require-labels",
        "check-team",
        "Best Practices",
        "medium",
        "validation error: The label `team` is required. rule check-team failed at path /metadata/labels/team/",
    ),
    (
        "restrict-image-registries",
        "validate-registries",
        "Best Practices",
        "high",
        "validation error: Unknown image registry. rule validate-registries failed at path /spec/template/spec/containers/0/image/",
    ),
    (
        "disallow-latest-tag",
        "validate-image-tag",
        "Best Practices",
        "medium",
        "validation error: Using a mutable image tag e.g. 'latest' is not allowed. rule validate-image-tag failed at path /spec/template/spec/containers/0/image/",
    ),
];

fn result(check: &(&str, &str, &str, &str, &str), fail: bool, resource: &Value) -> Value {
    let (policy, rule, category, severity, message) = *check;
    json!({
        "policy": policy, "rule": rule, "category": category, "severity": severity,
        "result": if fail { "fail" } else { "pass" },
        "message": if fail { message.to_owned() } else { format!("validation rule '{rule}' passed.") },
        "scored": true, "source": "kyverno",
        "timestamp": {"seconds": Timestamp::now().as_second(), "nanos": 0},
        "resources": [resource],
    })
}

fn summary(results: &[Value]) -> Value {
    let count = |r: &str| results.iter().filter(|x| x["result"] == r).count();
    json!({"pass": count("pass"), "fail": count("fail"), "warn": count("warn"), "error": count("error"), "skip": count("skip")})
}

fn reference(object: &Value) -> Value {
    json!({"apiVersion": object["apiVersion"], "kind": object["kind"], "name": object["metadata"]["name"],
        "namespace": object["metadata"]["namespace"], "uid": object["metadata"]["uid"]})
}

/// The report a bad revision's workloads get: every check fails on each Deployment of
/// `namespace` (the findings fleetdeck's security trigger counts as new).
pub fn bad_revision_report(st: &ClusterState, namespace: &str, revision: &str) -> Value {
    let deployments: Vec<Value> = st
        .store
        .list(&GroupResource::new("apps", "deployments"), Some(namespace), None)
        .map(|(_, o)| o.value())
        .collect();
    let results: Vec<Value> =
        deployments.iter().flat_map(|d| CHECKS.iter().map(|c| result(c, true, &reference(d)))).collect();
    json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": "polr-bad-revision", "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "kyverno"}, "annotations": {"sim.fleetdeck.io/revision": revision}},
        "scope": {"apiVersion": "v1", "kind": "Namespace", "name": namespace},
        "summary": summary(&results), "results": results})
}

/// Seeds the reports of the application namespaces and the cluster report.
pub fn seed(st: &mut ClusterState, shape: &PolicyShape) -> Result<()> {
    seed::put_manifest(st, "kubectl", seed::POLICY_REPORT_CRDS)?;
    let mut rng = rand::rng();
    // Staging drifts more than production.
    let drift = if st.info.environment == "production" { 0.04 } else { 0.15 };
    let on = |globs: &[String]| globs.iter().any(|g| crate::scenario::glob_match(g, &st.info.name));
    let high = on(&shape.high_on);
    // Findings on the clusters the scenario names (all when it names none).
    let violations = shape.violations && (shape.findings_on.is_empty() || on(&shape.findings_on) || high);
    for ns in ["payments", "storefront"] {
        let deployments: Vec<Value> =
            st.store.list(&GroupResource::new("apps", "deployments"), Some(ns), None).map(|(_, o)| o.value()).collect();
        let mut results = Vec::new();
        for d in &deployments {
            let image = d.pointer("/spec/template/spec/containers/0/image").and_then(Value::as_str).unwrap_or("");
            for check in CHECKS {
                let fail = violations
                    && match check.0 {
                        // Enforced at admission on spokes whose policies are in sync.
                        "disallow-privileged-containers" => false,
                        // What the workload really is: one seeded Deployment has no team label.
                        "require-labels" => d.pointer("/metadata/labels/team").is_none(),
                        "disallow-latest-tag" => image.ends_with(":latest") || rng.random_bool(drift / 2.0),
                        // The high one only where the scenario puts it, on one workload.
                        "restrict-image-registries" => high && d == &deployments[0],
                        _ => rng.random_bool(drift),
                    };
                results.push(result(check, fail, &reference(d)));
            }
        }
        put(
            st,
            "kyverno-reports-controller",
            json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": {"name": format!("polr-ns-{ns}"), "namespace": ns, "labels": {"app.kubernetes.io/managed-by": "kyverno"}},
            "summary": summary(&results), "results": results}),
        )?;
    }
    let namespaces: Vec<Value> =
        st.store.list(&GroupResource::new("", "namespaces"), None, None).map(|(_, o)| o.value()).collect();
    let results: Vec<Value> = namespaces
        .iter()
        .map(|n| {
            // Application namespaces without an owner label: low findings, where there
            // are findings at all.
            let app = n.pointer("/metadata/name").and_then(Value::as_str).is_some_and(|n| n == "storefront");
            let mut r = result(
                &(
                    "require-labels",
                    "check-owner",
                    "Best Practices",
                    "low",
                    "validation error: The label `owner` is required.",
                ),
                violations && app,
                &reference(n),
            );
            r["policy"] = json!("require-namespace-owner");
            r
        })
        .collect();
    put(
        st,
        "kyverno-reports-controller",
        json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "ClusterPolicyReport",
        "metadata": {"name": "cpol-require-namespace-owner", "labels": {"app.kubernetes.io/managed-by": "kyverno"}},
        "summary": summary(&results), "results": results}),
    )?;
    Ok(())
}

/// Flips one result of one namespaced report (a workload fixed, or broken); the
/// high-severity rule stays where the scenario put it.
fn churn(st: &mut ClusterState) {
    let Some(rt) = st.registry.lookup("wgpolicyk8s.io", "v1alpha2", "policyreports").cloned() else { return };
    let reports: Vec<(String, String)> =
        st.store.list(&rt.group_resource(), None, None).map(|(k, _)| k.clone()).collect();
    let Some((ns, name)) = reports.choose(&mut rand::rng()).cloned() else { return };
    let _ = write::modify_internal(st, &Caller::system("kyverno-reports-controller"), &rt, &ns, &name, "", |report| {
        let Some(results) = report.get_mut("results").and_then(Value::as_array_mut) else { return };
        let candidates: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r["policy"] != "disallow-privileged-containers" && r["severity"] != "high")
            .map(|(i, _)| i)
            .collect();
        let Some(&i) = candidates.choose(&mut rand::rng()) else { return };
        let fail = results[i]["result"] != "fail";
        let check = CHECKS.iter().find(|c| results[i]["policy"] == c.0).copied().unwrap_or(CHECKS[1]);
        let resource = results[i]["resources"][0].clone();
        results[i] = result(&check, fail, &resource);
        let s = summary(results);
        report["summary"] = s;
    });
}

pub async fn run(cluster: Arc<Cluster>, scenario: Arc<Scenario>, shutdown: CancellationToken) {
    let installed = cluster.lock().registry.lookup("wgpolicyk8s.io", "v1alpha2", "policyreports").is_some();
    let Some(every) = scenario.policy.churn_every.filter(|_| installed) else {
        shutdown.cancelled().await;
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(exponential(every)) => churn(&mut cluster.lock()),
        }
    }
}
