//! Workloads that degrade: a Deployment named by the scenario loses ready replicas a
//! while after the fleet's policies reach its cluster (it became a spoke), with the
//! deployment controller's status and an event, as a rollout gone wrong shows.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::events::{Involved, Note, record};
use crate::api::strategy::POLICY_CONFIGMAP;
use crate::api::{Caller, write};
use crate::cluster::Cluster;
use crate::resource::GroupResource;
use crate::scenario::{Degradation, Scenario, glob_match};

/// Sets a Deployment's ready replicas to `ready`.
fn degrade(cluster: &Cluster, d: &Degradation) {
    let (ns, name) = d.workload.split_once('/').unwrap_or(("default", d.workload.as_str()));
    let mut st = cluster.lock();
    let Some(rt) = st.registry.lookup("apps", "v1", "deployments").cloned() else { return };
    let now = crate::clock::now();
    let ready = d.ready;
    let result = write::modify_internal(
        &mut st,
        &Caller::system("kube-controller-manager"),
        &rt,
        ns,
        name,
        "status",
        |o| {
            let replicas = o.pointer("/spec/replicas").and_then(serde_json::Value::as_i64).unwrap_or(1);
            o["status"]["readyReplicas"] = json!(ready);
            o["status"]["availableReplicas"] = json!(ready);
            o["status"]["unavailableReplicas"] = json!(replicas - ready);
            o["status"]["conditions"] = json!([
                {"type": "Available", "status": if ready > 0 { "True" } else { "False" }, "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{name}-7d9c5b8f4c\" is progressing."), "lastUpdateTime": now, "lastTransitionTime": now},
            ]);
        },
    );
    match result {
        Ok(object) => {
            let involved = Involved::of(&object);
            record(
                &mut st,
                "kubelet",
                &involved,
                Note::warning("BackOff", &format!("Back-off restarting failed container {name}")),
            );
        }
        Err(e) => tracing::warn!(cluster = cluster.name(), workload = %d.workload, error = ?e, "degrading a workload"),
    }
}

pub async fn run(cluster: Arc<Cluster>, scenario: Arc<Scenario>, shutdown: CancellationToken) {
    let mine: Vec<Degradation> =
        scenario.degradations.iter().filter(|d| glob_match(&d.cluster, cluster.name())).cloned().collect();
    if mine.is_empty() {
        shutdown.cancelled().await;
        return;
    }
    let policies = GroupResource::new("", "configmaps");
    // When the fleet's policies arrived.
    let mut joined: Option<tokio::time::Instant> = None;
    let mut done = vec![false; mine.len()];
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let has_policies = cluster.lock().store.get(&policies, POLICY_CONFIGMAP.0, POLICY_CONFIGMAP.1).is_some();
        match (joined, has_policies) {
            (None, true) => joined = Some(tokio::time::Instant::now()),
            (Some(_), false) => joined = None,
            _ => {}
        }
        let Some(at) = joined else { continue };
        for (d, done) in mine.iter().zip(done.iter_mut()) {
            if !*done && at.elapsed() >= d.after {
                degrade(&cluster, d);
                *done = true;
            }
        }
        if done.iter().all(|d| *d) {
            shutdown.cancelled().await;
            return;
        }
    }
}
