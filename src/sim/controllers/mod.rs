//! The simulated controllers that keep a fleet alive (Flux, Velero, Kyverno's reports,
//! nodes, events, namespaces) and the scenario's fault timeline. They act through the
//! same API operations as clients, so everything they do is versioned and watchable.

pub mod events;
pub mod faults;
pub mod flux;
pub mod namespaces;
pub mod nodes;
pub mod reports;
pub mod velero;
pub mod workloads;

use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::Result;
use rand::Rng;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cluster::Cluster;
use super::scenario::Scenario;
use super::seed::{self, put};
use super::state::{ClusterRole, ClusterState};
use super::store::Change;

/// An exponentially distributed delay with the given mean (events of a Poisson process),
/// clamped to a tenth and four times the mean.
pub fn exponential(mean: Duration) -> Duration {
    let u: f64 = rand::rng().random_range(1e-9..1.0);
    let secs = -u.ln() * mean.as_secs_f64();
    Duration::from_secs_f64(secs.clamp(mean.as_secs_f64() / 10.0, mean.as_secs_f64() * 4.0))
}

/// The changes of one cluster's store, followed by a controller.
pub struct ChangeFeed {
    rx: watch::Receiver<u64>,
    cursor: u64,
}

impl ChangeFeed {
    pub fn new(cluster: &Cluster) -> Self {
        let st = cluster.lock();
        Self { rx: st.store.subscribe(), cursor: st.store.rv() }
    }

    /// Waits for changes that pass `filter`. After a history gap (the feed fell too far
    /// behind), returns an empty list: the caller rescans the state.
    pub async fn wait(&mut self, cluster: &Cluster, filter: impl Fn(&Change) -> bool) -> Vec<Arc<Change>> {
        loop {
            if self.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            let st = cluster.lock();
            let changes = st.store.changes_since(self.cursor);
            self.cursor = st.store.rv();
            match changes {
                Ok(changes) => {
                    let relevant: Vec<Arc<Change>> = changes.into_iter().filter(|c| filter(c)).collect();
                    if !relevant.is_empty() {
                        return relevant;
                    }
                }
                Err(_) => return Vec::new(),
            }
        }
    }
}

/// Seeds a cluster for its role (the hub's Flux comes later, in `seed_hub`).
pub fn seed_cluster(
    st: &mut ClusterState,
    uid: &str,
    scenario: &Scenario,
    revisions: &flux::Revisions,
    nodes: usize,
) -> Result<()> {
    seed::base(st, nodes, uid)?;
    let role = st.info.role;
    for ns in seed::role_namespaces(role) {
        seed::ensure_namespace(st, ns, json!({}))?;
    }
    if role != ClusterRole::Hub {
        put(
            st,
            "helm",
            seed::deployment(
                "kyverno",
                "kyverno-admission-controller",
                "ghcr.io/kyverno/kyverno:v1.13.2",
                3,
                json!({"app.kubernetes.io/part-of": "kyverno"}),
            ),
        )?;
        put(
            st,
            "helm",
            seed::deployment(
                "payments",
                "api",
                "registry.example.com/payments/api:2.14.1",
                3,
                json!({"team": "payments"}),
            ),
        )?;
        put(
            st,
            "helm",
            seed::deployment("payments", "worker", "registry.example.com/payments/worker:2.14.1", 2, json!({})),
        )?;
        put(
            st,
            "helm",
            seed::deployment(
                "storefront",
                "web",
                "registry.example.com/storefront/web:5.2.0",
                2,
                json!({"team": "storefront"}),
            ),
        )?;
        put(
            st,
            "helm",
            seed::workload(
                "StatefulSet",
                "payments",
                "ledger",
                "registry.example.com/payments/ledger:2.14.1",
                Some(3),
                json!({"team": "payments"}),
            ),
        )?;
        put(
            st,
            "helm",
            seed::workload(
                "DaemonSet",
                "fleet-system",
                "node-agent",
                "registry.example.com/platform/node-agent:1.8.0",
                None,
                json!({"team": "platform"}),
            ),
        )?;
        reports::seed(st, &scenario.policy)?;
    }
    if role == ClusterRole::Spoke {
        let (ns, sa) = flux::HUB_SA;
        put(
            st,
            "fleetdeck",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}}),
        )?;
        put(
            st,
            "fleetdeck",
            seed::cluster_role_binding(
                &format!("{sa}-admin"),
                "cluster-admin",
                json!([{"kind": "ServiceAccount", "name": sa, "namespace": ns}]),
            ),
        )?;
        put(
            st,
            "fleetdeck",
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": format!("{sa}-token"), "namespace": ns, "annotations": {"kubernetes.io/service-account.name": sa}}}),
        )?;
        flux::seed_spoke(st, revisions)?;
    }
    velero::seed(st, scenario)?;
    Ok(())
}

/// Seeds the hub's Flux with every registered spoke.
pub fn seed_hub(
    hub: &Cluster,
    scenario: &Scenario,
    spokes: &[flux::Registration],
    revisions: &flux::Revisions,
) -> Result<()> {
    flux::seed_hub(&mut hub.lock(), scenario, spokes, revisions)
}

/// Starts every controller of every cluster, and the fault timeline.
pub fn spawn(clusters: &[Arc<Cluster>], scenario: Arc<Scenario>, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    let spokes: Vec<Arc<Cluster>> = clusters.iter().filter(|c| c.info.role != ClusterRole::Hub).cloned().collect();
    for cluster in clusters {
        tasks.push(tokio::spawn(events::run(cluster.clone(), scenario.clone(), shutdown.clone())));
        tasks.push(tokio::spawn(nodes::run(cluster.clone(), scenario.clone(), shutdown.clone())));
        tasks.push(tokio::spawn(namespaces::run(cluster.clone(), shutdown.clone())));
        tasks.push(tokio::spawn(velero::run(cluster.clone(), scenario.clone(), shutdown.clone())));
        if cluster.info.role == ClusterRole::Hub {
            let flux = flux::Flux::new(cluster.clone(), spokes.clone(), scenario.clone());
            tasks.push(tokio::spawn(flux.run(shutdown.clone())));
        } else {
            tasks.push(tokio::spawn(reports::run(cluster.clone(), scenario.clone(), shutdown.clone())));
            tasks.push(tokio::spawn(workloads::run(cluster.clone(), scenario.clone(), shutdown.clone())));
        }
    }
    tasks.push(tokio::spawn(faults::run(clusters.to_vec(), scenario, shutdown)));
    tasks
}
