//! The fleet's derived state: every cluster judged, the propagation matrix's columns and
//! rows, the backups rows worst first, the fleet's totals and latency, computed from the
//! fleet's state at one instant and read by `update` (selection, filters), by every view,
//! by `check` and the wall.
//!
//! [`Derive`] keeps the last [`Derived`] and makes a new one only when the fleet changed
//! (its revision moved) or the time came when a judgment changes by itself (a failure
//! lasting long enough to be an outage, a backup falling due). Even then, a cluster is
//! derived again only when it changed itself, when the hub's data every spoke's rows are
//! made of changed, or when its own judgment's time came: a probe of one cluster
//! re-derives that cluster, not the fleet. The fleet's totals are sums over the clusters'
//! parts.

pub mod backups;
pub mod cluster;
pub mod judge;
pub mod keys;
pub mod metrics;
pub mod propagation;
pub mod report;
pub mod runs;

use std::sync::Arc;

use jiff::Timestamp;

use crate::fleet::Horizon;
use crate::fleet::cluster::State;
use crate::fleet::probes::{LatencyStats, fleet_latency};
use crate::fleet::state::{ClusterId, FleetState};
use backups::{BackupRow, FleetBackups, Timings};
use cluster::ClusterView;
use judge::{Judgment, judge_hub_only};
use propagation::{FleetSync, SpokeSync, SyncCell, SyncColumn, columns, hub_only_row, hub_own};

pub use keys::RowKey;

/// What every spoke's rows are made of: the hub's Kustomization columns, the hub's own
/// Kustomizations, and the rows of registrations no context reaches.
#[derive(Debug, Clone, PartialEq)]
pub struct Shared {
    /// The fleet's shared revision it was made at.
    pub rev: u64,
    pub columns: Vec<SyncColumn>,
    pub hub_own: Vec<SyncCell>,
    pub hub_only: Vec<SpokeSync>,
    pub hub_only_judgments: Vec<Judgment>,
    changes_at: Option<Timestamp>,
}

impl Shared {
    fn derive(fleet: &FleetState, now: Timestamp) -> Shared {
        let columns = columns(fleet);
        let hub_only: Vec<SpokeSync> =
            fleet.hub_only().iter().filter_map(|&r| hub_only_row(fleet, &columns, r, now)).collect();
        let s = &fleet.settings;
        let hub_only_judgments = hub_only.iter().map(|row| judge_hub_only(row.present(), s, now)).collect();
        let hub_own = hub_own(fleet);
        let mut changes = Horizon::new(now);
        for cell in hub_only.iter().flat_map(|r| r.present()) {
            if let Some(since) = cell.state.behind_since() {
                changes.after(crate::fleet::later(since, s.propagation_target));
            }
        }
        for row in &hub_only {
            changes.merge(row.stats.changes_at);
        }
        Shared { rev: fleet.shared_rev(), columns, hub_own, hub_only, hub_only_judgments, changes_at: changes.get() }
    }

    fn fresh(&self, fleet: &FleetState, now: Timestamp) -> bool {
        self.rev == fleet.shared_rev() && self.changes_at.is_none_or(|t| now < t)
    }
}

/// Clusters by state, for footers and banners.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub clusters: usize,
    pub live: usize,
    pub degraded: usize,
    pub unreachable: usize,
    pub unauthorized: usize,
    pub misconfigured: usize,
    /// Connecting or syncing.
    pub syncing: usize,
    /// Clusters whose credentials could write (SelfSubjectAccessReview).
    pub could_write: usize,
}

/// The fleet derived at one instant.
#[derive(Debug, Clone)]
pub struct Derived {
    /// The instant it was derived at.
    pub now: Timestamp,
    /// The fleet's revision it was derived from.
    pub rev: u64,
    /// By cluster id.
    pub clusters: Vec<Arc<ClusterView>>,
    /// The clusters in display order: the hub first, then the others as given.
    pub order: Arc<[ClusterId]>,
    pub shared: Arc<Shared>,
    pub sync: FleetSync,
    /// Every backups row, worst first (then oldest data first, then by name), as (cluster,
    /// index in its view's rows).
    backups: Vec<(ClusterId, usize)>,
    pub fleet_backups: FleetBackups,
    /// Latency over every cluster's window.
    pub latency: LatencyStats,
    pub counts: Counts,
    /// The firing rollback triggers, as (cluster, index in its view's triggers), the
    /// longest-firing first.
    firing: Vec<(ClusterId, usize)>,
    changes_at: Option<Timestamp>,
}

impl Derived {
    /// The firing rollback triggers with their clusters, the longest-firing first.
    pub fn firing(&self) -> impl Iterator<Item = (ClusterId, &crate::fleet::trigger::Trigger)> {
        self.firing.iter().filter_map(|&(c, i)| Some((c, self.clusters.get(c)?.triggers.get(i)?)))
    }

    pub fn cluster(&self, id: ClusterId) -> Option<&ClusterView> {
        self.clusters.get(id).map(|c| &**c)
    }

    /// Every backups row, worst first.
    pub fn backup_rows(&self) -> impl Iterator<Item = &BackupRow> {
        self.backups.iter().filter_map(|&(c, i)| self.clusters.get(c)?.rows.backups.get(i))
    }

    /// When it stops holding with no change to the fleet.
    pub fn changes_at(&self) -> Option<Timestamp> {
        self.changes_at
    }
}

/// Whether every cluster's backups rows are those of before.
fn same_backups(before: &[Arc<ClusterView>], now: &[Arc<ClusterView>]) -> bool {
    before.len() == now.len()
        && before.iter().zip(now).all(|(b, n)| Arc::ptr_eq(b, n) || b.rows.backups == n.rows.backups)
}

/// Every backups row, worst first (then oldest good data first, then by cluster and
/// schedule).
fn backups_order(fleet: &FleetState, order: &[ClusterId], clusters: &[Arc<ClusterView>]) -> Vec<(ClusterId, usize)> {
    let mut backups: Vec<(ClusterId, usize)> =
        order.iter().flat_map(|&id| (0..clusters[id].rows.backups.len()).map(move |i| (id, i))).collect();
    let row = |&(c, i): &(ClusterId, usize)| &clusters[c].rows.backups[i];
    backups.sort_by(|a, b| {
        let (ra, rb) = (row(a), row(b));
        // Older good data first; a schedule with none at all after those with some.
        let good = |r: &BackupRow| r.health().and_then(|h| h.good_at).map(std::cmp::Reverse);
        rb.severity()
            .cmp(&ra.severity())
            .then_with(|| good(rb).cmp(&good(ra)))
            .then_with(|| fleet.clusters()[ra.cluster].context.cmp(&fleet.clusters()[rb.cluster].context))
            .then_with(|| ra.schedule().cmp(&rb.schedule()))
    });
    backups
}

/// The last derived state, and how to make the next one.
#[derive(Debug, Clone, Default)]
pub struct Derive {
    last: Option<Arc<Derived>>,
    timings: Timings,
    /// How many times the fleet was derived (anew or in part).
    computations: u64,
    /// How many clusters were derived anew, in all.
    clusters_derived: u64,
    /// The time spent deriving, in all.
    spent: std::time::Duration,
}

/// A cluster's state changed: the log says so at the default level, with the cause
/// (state changes are few; a probe's figures are not logged).
fn log_state_change(context: &str, before: Option<&State>, now: &State) {
    let from = before.map_or("none", State::label);
    if from == now.label() {
        return;
    }
    match now.error() {
        Some(e) => tracing::info!(context, from, to = now.label(), cause = %e.message, "cluster state"),
        None => tracing::info!(context, from, to = now.label(), "cluster state"),
    }
}

impl Derive {
    /// The fleet derived at `now`: the last one while it still holds.
    pub fn get(&mut self, fleet: &FleetState, now: Timestamp) -> Arc<Derived> {
        if let Some(last) = &self.last
            && last.rev == fleet.rev()
            && last.now <= now
            && last.changes_at.is_none_or(|t| now < t)
        {
            return last.clone();
        }
        let started = std::time::Instant::now();
        let derived = Arc::new(self.derive(fleet, now));
        self.spent += started.elapsed();
        self.last = Some(derived.clone());
        derived
    }

    pub fn computations(&self) -> u64 {
        self.computations
    }

    pub fn clusters_derived(&self) -> u64 {
        self.clusters_derived
    }

    pub fn spent(&self) -> std::time::Duration {
        self.spent
    }

    fn derive(&mut self, fleet: &FleetState, now: Timestamp) -> Derived {
        self.computations += 1;
        let last = self.last.as_deref();
        let shared = match last.map(|d| &d.shared) {
            Some(s) if s.fresh(fleet, now) => s.clone(),
            _ => Arc::new(Shared::derive(fleet, now)),
        };
        let clusters: Vec<Arc<ClusterView>> = fleet
            .clusters()
            .iter()
            .enumerate()
            .map(|(id, c)| match last.and_then(|d| d.clusters.get(id)) {
                Some(v) if v.fresh(c, &shared, now) => v.clone(),
                before => {
                    self.clusters_derived += 1;
                    let view = cluster::derive(fleet, &shared, id, before.map(|v| &**v), now, &mut self.timings);
                    log_state_change(&c.context, before.map(|v| &v.state), &view.state);
                    Arc::new(view)
                }
            })
            .collect();
        let order: Arc<[ClusterId]> = match last {
            Some(d) if d.order.len() == clusters.len() => d.order.clone(),
            _ => {
                let mut order: Vec<ClusterId> = (0..clusters.len()).collect();
                order.sort_by_key(|&i| !fleet.clusters()[i].is_hub);
                order.into()
            }
        };
        let s = &fleet.settings;
        let sync = FleetSync::of(
            order.iter().filter_map(|&id| clusters[id].rows.sync.as_ref()),
            &shared.hub_only,
            now,
            s.propagation_target,
        );
        let backups = match last {
            // No cluster's backups rows changed (a probe's re-derivation, say): the same order.
            Some(d) if Arc::ptr_eq(&d.order, &order) && same_backups(&d.clusters, &clusters) => d.backups.clone(),
            _ => backups_order(fleet, &order, &clusters),
        };
        let fleet_backups = FleetBackups::of(
            order.iter().map(|&id| (fleet.clusters()[id].context.as_str(), &clusters[id].rows.backup_totals)),
            now,
        );
        let latency = fleet_latency(fleet.clusters().iter().map(|c| &c.probes), now, s.latency_target);
        let mut counts = Counts { clusters: clusters.len(), ..Counts::default() };
        for (c, v) in fleet.clusters().iter().zip(&clusters) {
            match v.state {
                State::Live => counts.live += 1,
                State::Degraded { .. } => counts.degraded += 1,
                State::Unreachable { .. } => counts.unreachable += 1,
                State::Unauthorized { .. } => counts.unauthorized += 1,
                State::Misconfigured { .. } => counts.misconfigured += 1,
                State::Syncing | State::Connecting => counts.syncing += 1,
            }
            counts.could_write += usize::from(!c.could_write().is_empty());
        }
        let mut firing: Vec<(ClusterId, usize)> = order
            .iter()
            .flat_map(|&id| {
                clusters[id].triggers.iter().enumerate().filter(|(_, t)| t.firing).map(move |(i, _)| (id, i))
            })
            .collect();
        firing.sort_by_key(|&(c, i)| clusters[c].triggers[i].since);
        let mut changes = Horizon::new(now);
        changes.merge(shared.changes_at);
        changes.merge(fleet_backups.changes_at);
        for v in &clusters {
            changes.merge(v.changes_at());
        }
        Derived {
            now,
            rev: fleet.rev(),
            clusters,
            order,
            shared,
            sync,
            backups,
            fleet_backups,
            latency,
            counts,
            firing,
            changes_at: changes.get(),
        }
    }
}
