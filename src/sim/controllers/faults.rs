//! The scenario's fault timeline: faults switched on and off on the matching clusters at
//! their times (repeating when asked), several at once composing.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::fault::FaultState;
use crate::scenario::{Scenario, glob_match};

/// Recomputes a cluster's API faults from every scenario fault active on it.
fn recompute(cluster: &Cluster, scenario: &Scenario, active: &BTreeSet<(String, usize)>) {
    let mut state = FaultState::default();
    for (_, idx) in active.iter().filter(|(name, _)| name == cluster.name()) {
        scenario.faults[*idx].apply_to(&mut state);
    }
    cluster.faults.set(state);
}

pub async fn run(clusters: Vec<Arc<Cluster>>, scenario: Arc<Scenario>, shutdown: CancellationToken) {
    let start = Instant::now();
    let mut timeline: BinaryHeap<Reverse<(Instant, usize, bool)>> = BinaryHeap::new();
    for (idx, fault) in scenario.faults.iter().enumerate() {
        timeline.push(Reverse((start + fault.at, idx, true)));
    }
    let mut active: BTreeSet<(String, usize)> = BTreeSet::new();
    while let Some(Reverse((at, idx, on))) = timeline.pop() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(at) => {}
        }
        let fault = &scenario.faults[idx];
        if on {
            if let Some(d) = fault.duration {
                timeline.push(Reverse((at + d, idx, false)));
            }
            if let Some(every) = fault.every.filter(|e| !e.is_zero()) {
                timeline.push(Reverse((at + every, idx, true)));
            }
        }
        for cluster in clusters.iter().filter(|c| glob_match(&fault.cluster, c.name())) {
            let key = (cluster.name().to_owned(), idx);
            if on {
                active.insert(key);
            } else {
                active.remove(&key);
            }
            tracing::info!(cluster = cluster.name(), fault = idx, on, "scenario fault");
            recompute(cluster, &scenario, &active);
            if let Some(crd) = &fault.remove_crd {
                let result = if on { cluster.remove_crd(crd) } else { cluster.restore_crd(crd) };
                if let Err(e) = result {
                    tracing::warn!(cluster = cluster.name(), crd, error = %e, "scenario CRD fault");
                }
            }
            if fault.storage_unavailable {
                cluster.set_velero_storage(!on);
            }
        }
    }
    shutdown.cancelled().await;
}
