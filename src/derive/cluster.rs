//! One cluster derived: its state, latency and availability over the windows, its
//! propagation row, policy reports, backup rows and judgment, and the text the filter
//! searches.
//!
//! Two parts, made again on different occasions. The rows (propagation, reports,
//! backups) are made of the cluster's watched objects and the hub's shared data, so a
//! probe, which arrives every few seconds, does not touch them; the rest (state,
//! latency, judgment) is cheap and made again whenever the cluster changed. Either is
//! also made again when the time came at which it changes by itself (a backup falling
//! due, a sample leaving the latency window).

use std::sync::Arc;

use jiff::Timestamp;

use super::Shared;
use super::backups::{BackupRow, ClusterBackups, Timings, cluster_rows};
use super::judge::{Facts, Judgment, judge};
use super::propagation::{Compliance, SpokeSync, context_row};
use crate::fleet::cluster::{ClusterModel, State};
use crate::fleet::probes::LatencyStats;
use crate::fleet::registry::ContextRole;
use crate::fleet::state::{ClusterId, FleetState};
use crate::fleet::trigger::{Trigger, TriggerFacts, evaluate, violations_baseline};
use crate::fleet::{Horizon, later};

/// What a cluster's rows are made of: its watched objects, the hub's shared data, and
/// whether fleetdeck can reach it (a propagation cell of an unreachable spoke says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowsKey {
    data_rev: u64,
    shared_rev: u64,
    unreachable: bool,
}

/// A cluster's rows on the propagation and backups panes.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// Its row of the propagation pane (none for the hub).
    pub sync: Option<SpokeSync>,
    pub compliance: Compliance,
    pub backups: Vec<BackupRow>,
    pub backup_totals: ClusterBackups,
    key: RowsKey,
    changes_at: Option<Timestamp>,
}

impl Rows {
    fn derive(
        fleet: &FleetState,
        shared: &Shared,
        id: ClusterId,
        key: RowsKey,
        now: Timestamp,
        timings: &mut Timings,
    ) -> Rows {
        let c = &fleet.clusters()[id];
        let s = &fleet.settings;
        let sync = (!c.is_hub).then(|| context_row(fleet, &shared.columns, id, key.unreachable, now));
        let backups = cluster_rows(c, id, now, s.backup_grace, timings);
        let mut changes = Horizon::new(now);
        for cell in sync.iter().flat_map(|r| r.present()) {
            if let Some(since) = cell.state.behind_since() {
                changes.after(later(since, s.propagation_target));
            }
        }
        changes.merge(sync.as_ref().and_then(|r| r.stats.changes_at));
        for row in &backups {
            changes.merge(row.health().and_then(|h| h.changes_at));
        }
        Rows {
            sync,
            compliance: Compliance::of(c),
            backup_totals: ClusterBackups::of(c, &backups),
            backups,
            key,
            changes_at: changes.get(),
        }
    }

    fn fresh(&self, key: RowsKey, now: Timestamp) -> bool {
        self.key == key && self.changes_at.is_none_or(|t| now < t)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    pub id: ClusterId,
    pub state: State,
    pub role: ContextRole,
    pub latency: LatencyStats,
    pub availability: Option<f64>,
    pub stale: bool,
    /// Its rows, shared with the views before it while they hold.
    pub rows: Arc<Rows>,
    pub judgment: Judgment,
    /// Its rollback triggers, firing and watching.
    pub triggers: Vec<Trigger>,
    /// Its failed policy results before its current revision arrived.
    pub violations_baseline: Option<i64>,
    /// What the filter searches: name, role, state and version, lower case.
    pub search: String,
    /// The cluster's and the shared revision it was made at.
    revs: (u64, u64),
    /// When a judgment of it changes with no new data.
    changes_at: Option<Timestamp>,
}

impl ClusterView {
    /// Whether it still holds for the fleet at `now`.
    pub fn fresh(&self, c: &ClusterModel, shared: &Shared, now: Timestamp) -> bool {
        self.revs == (c.rev, shared.rev) && self.changes_at.is_none_or(|t| now < t)
    }

    pub fn changes_at(&self) -> Option<Timestamp> {
        self.changes_at
    }

    /// The registration it is joined to, if it is a spoke.
    pub fn registration(&self) -> Option<usize> {
        self.role.registration()
    }
}

/// Derives one cluster at `now`, reusing the rows of `last` (its view before) while they
/// hold.
pub fn derive(
    fleet: &FleetState,
    shared: &Shared,
    id: ClusterId,
    last: Option<&ClusterView>,
    now: Timestamp,
    timings: &mut Timings,
) -> ClusterView {
    let c = &fleet.clusters()[id];
    let s = &fleet.settings;
    let state = c.state(now, s.thresholds);
    let role = fleet.role(id);
    let latency = c.probes.latency(now, s.latency_target);
    let availability = c.probes.availability(now);
    let stale = c.is_stale(now, s.thresholds);
    let key = RowsKey {
        data_rev: c.data_rev,
        shared_rev: shared.rev,
        unreachable: matches!(state, State::Unreachable { .. }),
    };
    let rows = match last.map(|v| &v.rows) {
        Some(rows) if rows.fresh(key, now) => rows.clone(),
        _ => Arc::new(Rows::derive(fleet, shared, id, key, now, timings)),
    };
    let facts = Facts {
        cluster: c,
        state: &state,
        latency: &latency,
        availability,
        stale,
        compliance: &rows.compliance,
        backups: &rows.backups,
    };
    let judgment = match &rows.sync {
        Some(row) => judge(facts, row.present(), s, now),
        None => judge(facts, shared.hub_own.iter(), s, now),
    };
    let (triggers, triggers_change, violations_baseline) = triggers(fleet, id, &state, now);
    let mut changes = Horizon::new(now);
    changes.merge(triggers_change);
    changes.merge(c.changes_at(now, s.thresholds));
    changes.merge(c.probes.changes_at(now));
    changes.merge(rows.changes_at);
    // The hub's own Kustomizations, which the hub's judgment counts.
    if rows.sync.is_none() {
        for since in shared.hub_own.iter().filter_map(|cell| cell.state.behind_since()) {
            changes.after(later(since, s.propagation_target));
        }
    }
    let search =
        format!("{} {} {} {}", c.context, role.role().label(), state.label(), c.version.as_deref().unwrap_or(""))
            .to_lowercase();
    ClusterView {
        id,
        state,
        role,
        latency,
        availability,
        stale,
        rows,
        judgment,
        triggers,
        violations_baseline,
        search,
        revs: (c.rev, shared.rev),
        changes_at: changes.get(),
    }
}

/// The cluster's rollback triggers at `now`, and when they change with no new data.
fn triggers(
    fleet: &FleetState,
    id: ClusterId,
    state: &State,
    now: Timestamp,
) -> (Vec<Trigger>, Option<Timestamp>, Option<i64>) {
    let c = &fleet.clusters()[id];
    let s = &fleet.settings;
    let kustomizations = fleet.registration_of(id).map_or(&[][..], |r| &r.kustomizations[..]);
    let hub = fleet.hub();
    let revision_at = kustomizations
        .iter()
        .filter_map(|k| hub.and_then(|h| h.kustomizations.get(k)).and_then(|ks| ks.applied_at))
        .max();
    let propagations: Vec<Vec<_>> = kustomizations
        .iter()
        .map(|k| fleet.propagation().applied(k).map(|a| (a.at(), a.took.map(|t| t.duration))).collect())
        .collect();
    let facts = TriggerFacts {
        state,
        unready: &c.unready,
        violations: &c.violations,
        revision_at,
        probes: c.probes.kept(),
        latency_target: s.latency_target,
        propagations: &propagations,
        propagation_target: s.propagation_target,
    };
    let (triggers, changes) = evaluate(&facts, &s.triggers, now);
    (triggers, changes, violations_baseline(&facts))
}
