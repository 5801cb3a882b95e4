//! One cluster derived: its state, latency and availability over the windows, its
//! propagation row, policy reports, backup rows and judgment, and the text the filter
//! searches. Made again only when the cluster changed, the hub's data every spoke's rows
//! depend on changed, or the time came when a judgment of it changes by itself.

use jiff::Timestamp;

use super::Shared;
use super::backups::{BackupRow, ClusterBackups, Timings, cluster_rows};
use super::judge::{Facts, Judgment, judge};
use super::propagation::{Compliance, SpokeSync, context_row};
use crate::fleet::Horizon;
use crate::fleet::cluster::{ClusterModel, State};
use crate::fleet::probes::LatencyStats;
use crate::fleet::registry::ContextRole;
use crate::fleet::state::{ClusterId, FleetState};

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    pub id: ClusterId,
    pub state: State,
    pub role: ContextRole,
    pub latency: LatencyStats,
    pub availability: Option<f64>,
    pub stale: bool,
    /// Its row of the propagation pane (none for the hub).
    pub sync: Option<SpokeSync>,
    pub compliance: Compliance,
    pub backups: Vec<BackupRow>,
    pub backup_totals: ClusterBackups,
    pub judgment: Judgment,
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

    pub fn unreachable(&self) -> bool {
        matches!(self.state, State::Unreachable { .. })
    }

    /// The registration it is joined to, if it is a spoke.
    pub fn registration(&self) -> Option<usize> {
        self.role.registration()
    }
}

/// Derives one cluster at `now`.
pub fn derive(
    fleet: &FleetState,
    shared: &Shared,
    id: ClusterId,
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
    let unreachable = matches!(state, State::Unreachable { .. });
    let sync = (!c.is_hub).then(|| context_row(fleet, &shared.columns, id, unreachable, now));
    let compliance = Compliance::of(c);
    let backups = cluster_rows(c, id, now, s.backup_grace, timings);
    let backup_totals = ClusterBackups::of(c, &backups);
    let facts = Facts {
        cluster: c,
        state: &state,
        latency: &latency,
        availability,
        stale,
        compliance: &compliance,
        backups: &backups,
    };
    let judgment = match &sync {
        Some(row) => judge(facts, row.present(), s, now),
        None => judge(facts, shared.hub_own.iter(), s, now),
    };
    let mut changes = Horizon::new(now);
    changes.merge(c.changes_at(now, s.thresholds));
    changes.merge(c.probes.changes_at(now));
    let cells = sync.as_ref().map_or(&shared.hub_own[..], |_| &[]);
    for cell in sync.iter().flat_map(|r| r.present()).chain(cells) {
        if let Some(since) = cell.state.behind_since() {
            changes.after(crate::fleet::later(since, s.propagation_target));
        }
    }
    if let Some(row) = &sync {
        changes.merge(row.stats.changes_at);
    }
    for row in &backups {
        changes.merge(row.health().and_then(|h| h.changes_at));
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
        sync,
        compliance,
        backups,
        backup_totals,
        judgment,
        search,
        revs: (c.rev, shared.rev),
        changes_at: changes.get(),
    }
}
