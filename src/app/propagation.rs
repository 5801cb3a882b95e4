//! Policy propagation as the panes see it, derived from the model: the fleet's remote
//! Kustomizations as columns (grouped by source), and per spoke the state of each, its
//! propagation times and its policy report counts. Computed on demand; nothing here is
//! stored.

use jiff::Timestamp;

use super::model::Model;
use crate::fleet::cluster::State;
use crate::fleet::kind::Kind;
use crate::fleet::propagation::PropagationStats;
use crate::fleet::registry::Role;
use crate::fleet::summary::{ObjectKey, ReportSummary, SourceRef, SourceSummary};
use crate::fleet::sync::{SyncState, sync_state};

/// A column of the matrix: Kustomizations of one name that follow one source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SyncColumn {
    pub source: SourceRef,
    pub name: String,
}

/// One Kustomization of a spoke and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCell {
    pub key: ObjectKey,
    pub state: SyncState,
}

/// Policy report counts of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compliance {
    /// Not read (yet): no context reaches the spoke, or the watch has not listed.
    Unknown,
    /// Neither PolicyReport nor ClusterPolicyReport is served.
    NotInstalled,
    Counts {
        pass: i64,
        fail: i64,
        warn: i64,
        error: i64,
        skip: i64,
        reports: usize,
    },
}

impl Compliance {
    pub fn of(model: &Model, context: usize) -> Compliance {
        let c = &model.clusters[context];
        if c.lacks(Kind::PolicyReport) && c.lacks(Kind::ClusterPolicyReport) {
            return Compliance::NotInstalled;
        }
        if !c.listed(Kind::PolicyReport) && !c.listed(Kind::ClusterPolicyReport) {
            return Compliance::Unknown;
        }
        let sum = |f: fn(&ReportSummary) -> i64| c.reports.values().map(f).sum();
        Compliance::Counts {
            pass: sum(|r| r.pass),
            fail: sum(|r| r.fail),
            warn: sum(|r| r.warn),
            error: sum(|r| r.error),
            skip: sum(|r| r.skip),
            reports: c.reports.len(),
        }
    }

    /// Failures (`fail` results), the number the fleet's target of zero is about.
    pub fn failures(&self) -> i64 {
        match self {
            Compliance::Counts { fail, .. } => *fail,
            _ => 0,
        }
    }
}

/// A row of the propagation pane: a spoke (or a context the hub does not know).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpokeSync {
    pub key: String,
    pub name: String,
    pub context: Option<usize>,
    pub registration: Option<usize>,
    /// Per column of the fleet: this spoke's Kustomization there, if it has one.
    pub cells: Vec<Option<SyncCell>>,
    pub compliance: Compliance,
}

impl SpokeSync {
    pub fn present(&self) -> impl Iterator<Item = &SyncCell> {
        self.cells.iter().flatten()
    }

    pub fn in_sync(&self) -> usize {
        self.present().filter(|c| c.state.is_in_sync()).count()
    }

    pub fn total(&self) -> usize {
        self.present().count()
    }

    /// The worst cell: highest severity, then longest behind.
    pub fn worst(&self) -> Option<&SyncCell> {
        self.present().max_by_key(|c| (c.state.severity(), std::cmp::Reverse(c.state.behind_since())))
    }

    /// Since when the spoke has been behind on some Kustomization.
    pub fn behind_since(&self) -> Option<Timestamp> {
        self.present().filter_map(|c| c.state.behind_since()).min()
    }

    pub fn alarm(&self, now: Timestamp, target: std::time::Duration) -> bool {
        self.present().any(|c| c.state.alarm(now, target))
    }

    pub fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.present().map(|c| &c.key)
    }

    pub fn stats(&self, model: &Model, now: Timestamp) -> PropagationStats {
        let s = &model.settings;
        model.propagation.stats(self.keys(), now, s.propagation_window, s.propagation_target)
    }
}

/// The fleet's remote Kustomization columns, ordered by source then name.
pub fn columns(model: &Model) -> Vec<SyncColumn> {
    let Some(hub) = model.hub() else { return Vec::new() };
    let mut columns: Vec<SyncColumn> = hub
        .kustomizations
        .values()
        .filter(|k| k.remote)
        .map(|k| SyncColumn { source: k.source.clone(), name: k.name.clone() })
        .collect();
    columns.sort();
    columns.dedup();
    columns
}

/// The source of a column, as the hub has it.
pub fn source<'a>(model: &'a Model, id: &SourceRef) -> Option<&'a SourceSummary> {
    model.hub()?.sources.get(id)
}

fn unreachable(model: &Model, context: Option<usize>) -> bool {
    context.is_some_and(|i| {
        matches!(model.clusters[i].state(model.now, model.settings.thresholds), State::Unreachable { .. })
    })
}

/// The row of a context (a spoke or a candidate; `None` for the hub).
pub fn context_sync(model: &Model, columns: &[SyncColumn], index: usize) -> Option<SpokeSync> {
    let c = model.clusters.get(index)?;
    if c.is_hub {
        return None;
    }
    let registration = model.join.roles.get(index).and_then(|(role, r)| (*role == Role::Spoke).then_some(*r)?);
    let compliance = Compliance::of(model, index);
    Some(row(model, columns, c.context.clone(), c.context.clone(), Some(index), registration.map(|r| r.0), compliance))
}

/// The row of a registration no context reaches (the hub's view only).
pub fn hub_only_sync(model: &Model, columns: &[SyncColumn], registration: usize) -> Option<SpokeSync> {
    let name = model.registrations.get(registration)?.name.clone();
    let key = super::rows::hub_only_key(&name);
    Some(row(model, columns, key, name, None, Some(registration), Compliance::Unknown))
}

fn row(
    model: &Model,
    columns: &[SyncColumn],
    key: String,
    name: String,
    context: Option<usize>,
    registration: Option<usize>,
    compliance: Compliance,
) -> SpokeSync {
    let mut cells = vec![None; columns.len()];
    if let (Some(hub), Some(r)) = (model.hub(), registration.and_then(|r| model.registrations.get(r))) {
        let down = unreachable(model, context);
        for ks_key in &r.kustomizations {
            let Some(ks) = hub.kustomizations.get(ks_key) else { continue };
            let column = SyncColumn { source: ks.source.clone(), name: ks.name.clone() };
            let Ok(at) = columns.binary_search(&column) else { continue };
            let state = sync_state(ks, hub.sources.get(&ks.source), &model.propagation, down);
            cells[at] = Some(SyncCell { key: ks_key.clone(), state });
        }
    }
    SpokeSync { key, name, context, registration, cells, compliance }
}

/// The row of a key of the propagation pane.
pub fn row_of_key(model: &Model, columns: &[SyncColumn], key: &str) -> Option<SpokeSync> {
    if let Some((index, _)) = model.cluster_by_name(key) {
        return context_sync(model, columns, index);
    }
    let r = model
        .join
        .hub_only
        .iter()
        .copied()
        .find(|&r| super::rows::hub_only_key(&model.registrations[r].name) == key)?;
    hub_only_sync(model, columns, r)
}

/// The hub's own Kustomizations (no `spec.kubeConfig`) and their states.
pub fn hub_own(model: &Model) -> Vec<SyncCell> {
    let Some(hub) = model.hub() else { return Vec::new() };
    hub.kustomizations
        .iter()
        .filter(|(_, k)| !k.remote)
        .map(|(key, k)| SyncCell {
            key: key.clone(),
            state: sync_state(k, hub.sources.get(&k.source), &model.propagation, false),
        })
        .collect()
}

/// Fleet totals for headers, footers and the health pane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetSync {
    pub spokes: usize,
    /// Spokes with every Kustomization in sync.
    pub in_sync: usize,
    /// Spokes behind for longer than the target.
    pub alarms: usize,
    /// Policy failures on every cluster besides the hub (target zero), and the clusters
    /// with the most.
    pub violations: i64,
    pub worst: Vec<(String, i64)>,
    /// Clusters (besides the hub) where the policy report CRDs are not installed.
    pub reports_missing: Vec<String>,
}

pub fn fleet_sync(model: &Model) -> FleetSync {
    let columns = columns(model);
    let now = model.now;
    let mut out = FleetSync::default();
    let mut offenders = Vec::new();
    for index in 0..model.clusters.len() {
        let Some(row) = context_sync(model, &columns, index) else { continue };
        if row.registration.is_some() {
            out.spokes += 1;
            out.in_sync += usize::from(row.total() > 0 && row.in_sync() == row.total());
            out.alarms += usize::from(row.alarm(now, model.settings.propagation_target));
        }
        // Every cluster watched besides the hub counts, registered or not: its rows show.
        match row.compliance {
            Compliance::NotInstalled => out.reports_missing.push(row.name.clone()),
            ref c if c.failures() > 0 => offenders.push((row.name.clone(), c.failures())),
            _ => {}
        }
    }
    for &r in &model.join.hub_only {
        if let Some(row) = hub_only_sync(model, &columns, r) {
            out.spokes += 1;
            out.in_sync += usize::from(row.total() > 0 && row.in_sync() == row.total());
            out.alarms += usize::from(row.alarm(now, model.settings.propagation_target));
        }
    }
    out.violations = offenders.iter().map(|(_, n)| n).sum();
    offenders.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    offenders.truncate(3);
    out.worst = offenders;
    out
}
