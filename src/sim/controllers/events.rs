//! Kubernetes Events as the controllers' event recorders write them (repeats of the same
//! event are counted on one object, as client-go's correlator does), the routine events
//! of a living cluster, and the API server's event TTL.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::exponential;
use crate::api::{Caller, write};
use crate::clock::rfc3339;
use crate::cluster::Cluster;
use crate::resource::GroupResource;
use crate::scenario::Scenario;
use crate::state::{ClusterRole, ClusterState};

/// What an event is about.
#[derive(Debug, Clone)]
pub struct Involved {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Involved {
    /// The involved-object reference of a stored object.
    pub fn of(object: &Value) -> Self {
        let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
        Self {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            uid: s("/metadata/uid"),
        }
    }
}

/// The type, reason and message of an event.
#[derive(Debug, Clone, Copy)]
pub struct Note<'a> {
    pub type_: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

impl<'a> Note<'a> {
    pub fn normal(reason: &'a str, message: &'a str) -> Self {
        Self { type_: "Normal", reason, message }
    }

    pub fn warning(reason: &'a str, message: &'a str) -> Self {
        Self { type_: "Warning", reason, message }
    }
}

fn events_gr() -> GroupResource {
    GroupResource::new("", "events")
}

/// Records an event: a new Event object, or the count of an identical recent one raised.
pub fn record(st: &mut ClusterState, component: &str, involved: &Involved, note: Note<'_>) {
    let Note { type_, reason, message } = note;
    let Some(rt) = st.registry.lookup("", "v1", "events").cloned() else { return };
    let ns = if involved.namespace.is_empty() { "default".to_owned() } else { involved.namespace.clone() };
    let now = Timestamp::now();
    let caller = Caller::system(component);
    // Event names are `<involved name>.<suffix>`: only those can be repeats.
    let prefix = format!("{}.", involved.name);
    let existing = st
        .store
        .list(&events_gr(), Some(&ns), None)
        .filter(|(key, _)| key.1.starts_with(&prefix))
        .map(|(_, o)| o.value())
        .find(|e| {
            e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(&involved.uid)
                && e.get("reason").and_then(Value::as_str) == Some(reason)
                && e.get("message").and_then(Value::as_str) == Some(message)
        });
    if let Some(mut event) = existing {
        let count = event.get("count").and_then(Value::as_i64).unwrap_or(1);
        event["count"] = json!(count + 1);
        event["lastTimestamp"] = json!(rfc3339(now));
        let _ = write::update_internal(st, &caller, &rt, event, "");
        return;
    }
    let suffix: u64 = rand::rng().random();
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{}.{:016x}", involved.name, suffix), "namespace": ns},
        "involvedObject": {"apiVersion": involved.api_version, "kind": involved.kind, "namespace": involved.namespace, "name": involved.name, "uid": involved.uid},
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": component},
        "firstTimestamp": rfc3339(now),
        "lastTimestamp": rfc3339(now),
        "count": 1,
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": format!("{component}-{}", st.info.name),
    });
    let _ = write::create(st, &caller, &rt, &ns, event);
}

/// Records an event about the stored object `kind` `ns/name` (when it exists).
pub fn record_about(st: &mut ClusterState, component: &str, gr: &GroupResource, ns: &str, name: &str, note: Note<'_>) {
    if let Some(obj) = st.store.get(gr, ns, name).map(|o| o.value()) {
        record(st, component, &Involved::of(&obj), note);
    }
}

/// Deletes events past the TTL, and the oldest ones past `cap`.
pub fn expire(st: &mut ClusterState, ttl: Duration, cap: usize) {
    let Some(rt) = st.registry.lookup("", "v1", "events").cloned() else { return };
    let now = Timestamp::now();
    let mut events: Vec<(i64, String, String)> = st
        .store
        .list(&events_gr(), None, None)
        .map(|(key, o)| {
            let v = o.value();
            let last = v
                .get("lastTimestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<Timestamp>().ok())
                .map_or(0, |t| t.as_second());
            (last, key.0.clone(), key.1.clone())
        })
        .collect();
    events.sort();
    let excess = events.len().saturating_sub(cap);
    let caller = Caller::system("kube-apiserver");
    for (i, (last, ns, name)) in events.iter().enumerate() {
        if i < excess || now.as_second() - last > ttl.as_secs() as i64 {
            let _ = write::delete(st, &caller, &rt, ns, name, &Default::default());
        }
    }
}

/// Routine life: image pulls, scaling, probe failures, now and then.
fn routine(st: &mut ClusterState) {
    let deployments = GroupResource::new("apps", "deployments");
    let keys: Vec<(String, String)> = st
        .store
        .list(&deployments, None, None)
        .filter(|(key, _)| key.0 != "kube-system")
        .map(|(key, _)| key.clone())
        .collect();
    let Some((ns, name)) = keys.choose(&mut rand::rng()) else { return };
    let Some(deployment) = st.store.get(&deployments, ns, name).map(|o| o.value()) else { return };
    let deployment = &deployment;
    let name = deployment.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let ns = deployment.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    let image = deployment
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let pod_suffix: u32 = rand::rng().random_range(0x10000..0xfffff);
    let pod = Involved {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: ns.into(),
        name: format!("{name}-7d9c5b8f4c-{pod_suffix:05x}"),
        uid: uuid::Uuid::new_v4().to_string(),
    };
    let roll: f64 = rand::rng().random();
    if roll < 0.55 {
        record(
            st,
            "kubelet",
            &pod,
            Note::normal("Pulled", &format!("Container image \"{image}\" already present on machine")),
        );
        record(st, "kubelet", &pod, Note::normal("Started", &format!("Started container {name}")));
    } else if roll < 0.8 {
        let replicas = deployment.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let d = Involved::of(deployment);
        record(
            st,
            "deployment-controller",
            &d,
            Note::normal("ScalingReplicaSet", &format!("Scaled up replica set {name}-7d9c5b8f4c to {replicas}")),
        );
    } else if roll < 0.93 {
        record(
            st,
            "kubelet",
            &pod,
            Note::warning("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"),
        );
    } else {
        record(
            st,
            "kubelet",
            &pod,
            Note::warning("BackOff", &format!("Back-off restarting failed container {name} in pod {}_{ns}", pod.name)),
        );
    }
    if st.info.role == ClusterRole::Spoke && roll > 0.85 {
        record(
            st,
            "kyverno-admission",
            &Involved::of(deployment),
            Note::warning(
                "PolicyViolation",
                &format!(
                    "policy require-labels/check-team fail: validation error: The label `team` is required. rule check-team failed at path /metadata/labels/team/ (Deployment {ns}/{name})"
                ),
            ),
        );
    }
}

/// The events of a cluster: routine ones at the scenario's pace, and the TTL.
pub async fn run(cluster: Arc<Cluster>, scenario: Arc<Scenario>, shutdown: CancellationToken) {
    let mean = scenario.fleet.events_every;
    let ttl = scenario.fleet.event_ttl;
    let mut expiry = tokio::time::interval(Duration::from_secs(300));
    expiry.reset();
    loop {
        let next = mean.map(exponential).unwrap_or(Duration::from_secs(86_400 * 365));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(next), if mean.is_some() => routine(&mut cluster.lock()),
            _ = expiry.tick() => expire(&mut cluster.lock(), ttl, 400),
        }
    }
}
