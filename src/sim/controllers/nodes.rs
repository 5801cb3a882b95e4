//! Nodes that go NotReady now and then (the kubelet stops posting status) and come back,
//! with the node controller's taints and events.

use std::sync::Arc;

use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::events::{Involved, Note, record};
use super::exponential;
use crate::api::{Caller, write};
use crate::clock;
use crate::cluster::Cluster;
use crate::resource::GroupResource;
use crate::scenario::Scenario;
use crate::seed::node_conditions;
use crate::state::ClusterState;

/// Marks a node Ready or not, with the taints and events a real cluster shows.
pub fn set_ready(st: &mut ClusterState, name: &str, ready: bool) {
    let Some(rt) = st.registry.lookup("", "v1", "nodes").cloned() else { return };
    let now = clock::now();
    let status = write::modify_internal(st, &Caller::system("kubelet"), &rt, "", name, "status", |node| {
        node["status"]["conditions"] = node_conditions(ready, &now);
    });
    let taints = write::modify_internal(st, &Caller::system("node-controller"), &rt, "", name, "", |node| {
        if ready {
            if let Some(spec) = node.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("taints");
            }
        } else {
            node["spec"]["taints"] = json!([
                {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": now},
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": now},
            ]);
        }
    });
    if let (Ok(_), Ok(node)) = (status, taints) {
        let involved = Involved::of(&node);
        if ready {
            record(
                st,
                "kubelet",
                &involved,
                Note::normal("NodeReady", &format!("Node {name} status is now: NodeReady")),
            );
        } else {
            record(
                st,
                "node-controller",
                &involved,
                Note::normal("NodeNotReady", &format!("Node {name} status is now: NodeNotReady")),
            );
        }
    }
}

fn pick_worker(st: &ClusterState) -> Option<String> {
    let workers: Vec<String> = st
        .store
        .list(&GroupResource::new("", "nodes"), None, None)
        .filter(|(_, o)| !o.labels.contains_key("node-role.kubernetes.io/control-plane"))
        .map(|(k, _)| k.1.clone())
        .collect();
    workers.choose(&mut rand::rng()).cloned()
}

pub async fn run(cluster: Arc<Cluster>, scenario: Arc<Scenario>, shutdown: CancellationToken) {
    let Some(mean) = scenario.fleet.node_flap_every else {
        shutdown.cancelled().await;
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(exponential(mean)) => {}
        }
        let Some(node) = pick_worker(&cluster.lock()) else { continue };
        set_ready(&mut cluster.lock(), &node, false);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(scenario.fleet.node_flap_for.sample()) => {}
        }
        set_ready(&mut cluster.lock(), &node, true);
    }
}
