//! Policy propagation as the panes see it: the fleet's remote Kustomizations as columns
//! (grouped by source), per spoke the state of each of its Kustomizations, its
//! propagation figures and its policy report counts, and the fleet's totals.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::fleet::cluster::ClusterModel;
use crate::fleet::kind::Kind;
use crate::fleet::propagation::PropagationStats;
use crate::fleet::state::{ClusterId, FleetState};
use crate::fleet::summary::{ObjectKey, ReportSummary, Severity, SourceRef, SourceSummary};
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
        /// Failed results by severity (a report's failures its results do not list are
        /// `Unset`).
        by_severity: BTreeMap<Severity, i64>,
    },
}

impl Compliance {
    pub fn of(c: &ClusterModel) -> Compliance {
        if c.lacks(Kind::PolicyReport) && c.lacks(Kind::ClusterPolicyReport) {
            return Compliance::NotInstalled;
        }
        if !c.listed(Kind::PolicyReport) && !c.listed(Kind::ClusterPolicyReport) {
            return Compliance::Unknown;
        }
        let sum = |f: fn(&ReportSummary) -> i64| c.reports.values().map(f).sum();
        let mut by_severity: BTreeMap<Severity, i64> = BTreeMap::new();
        for r in c.reports.values() {
            let listed: i64 = r.fail_by_severity.values().sum();
            add_severities(&mut by_severity, &r.fail_by_severity);
            if r.fail > listed {
                *by_severity.entry(Severity::Unset).or_insert(0) += r.fail - listed;
            }
        }
        Compliance::Counts {
            by_severity,
            pass: sum(|r| r.pass),
            fail: sum(|r| r.fail),
            warn: sum(|r| r.warn),
            error: sum(|r| r.error),
            skip: sum(|r| r.skip),
            reports: c.reports.len(),
        }
    }

    /// Failed results by severity, when the reports are read.
    pub fn by_severity(&self) -> Option<&BTreeMap<Severity, i64>> {
        match self {
            Compliance::Counts { by_severity, .. } => Some(by_severity),
            _ => None,
        }
    }

    /// Failures at `threshold` or worse (those that make a cluster degraded), and those
    /// below it; zero each when not known.
    pub fn split(&self, threshold: Severity) -> (i64, i64) {
        match self {
            Compliance::Counts { by_severity, .. } => {
                by_severity.iter().fold(
                    (0, 0),
                    |(at, below), (s, n)| {
                        if s.counts_at(threshold) { (at + n, below) } else { (at, below + n) }
                    },
                )
            }
            _ => (0, 0),
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

/// Adds counts by severity to a total (a cluster's reports, a fleet's clusters).
pub fn add_severities(total: &mut BTreeMap<Severity, i64>, counts: &BTreeMap<Severity, i64>) {
    for (s, n) in counts {
        *total.entry(*s).or_insert(0) += n;
    }
}

/// Whose row a propagation row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// A context joined to a registration on the hub.
    Spoke { id: ClusterId, registration: usize },
    /// A context the hub does not register.
    Candidate { id: ClusterId },
    /// A registration no context reaches (the hub's view only).
    HubOnly { registration: usize },
}

impl Whose {
    pub fn context(self) -> Option<ClusterId> {
        match self {
            Whose::Spoke { id, .. } | Whose::Candidate { id } => Some(id),
            Whose::HubOnly { .. } => None,
        }
    }

    pub fn registration(self) -> Option<usize> {
        match self {
            Whose::Spoke { registration, .. } | Whose::HubOnly { registration } => Some(registration),
            Whose::Candidate { .. } => None,
        }
    }
}

/// A row of the propagation pane: a spoke, a candidate, or a registration no context
/// reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpokeSync {
    pub name: String,
    pub whose: Whose,
    /// Per column of the fleet: this spoke's Kustomization there, if it has one.
    pub cells: Vec<Option<SyncCell>>,
    pub compliance: Compliance,
    /// Its propagation figures over the window.
    pub stats: PropagationStats,
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

    pub fn registered(&self) -> bool {
        self.whose.registration().is_some()
    }

    /// Every Kustomization in sync (and at least one).
    pub fn all_in_sync(&self) -> bool {
        self.total() > 0 && self.in_sync() == self.total()
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
}

/// The fleet's remote Kustomization columns, ordered by source then name.
pub fn columns(fleet: &FleetState) -> Vec<SyncColumn> {
    let Some(hub) = fleet.hub() else { return Vec::new() };
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
pub fn source<'a>(fleet: &'a FleetState, id: &SourceRef) -> Option<&'a SourceSummary> {
    fleet.hub()?.sources.get(id)
}

/// The row of a spoke or candidate; `unreachable` is fleetdeck's own view of it.
pub fn context_row(
    fleet: &FleetState,
    columns: &[SyncColumn],
    id: ClusterId,
    unreachable: bool,
    now: Timestamp,
) -> SpokeSync {
    let c = &fleet.clusters()[id];
    let whose = match fleet.role(id).registration() {
        Some(registration) => Whose::Spoke { id, registration },
        None => Whose::Candidate { id },
    };
    row(fleet, columns, c.context.clone(), whose, Compliance::of(c), unreachable, now)
}

/// The row of a registration no context reaches (the hub's view only).
pub fn hub_only_row(
    fleet: &FleetState,
    columns: &[SyncColumn],
    registration: usize,
    now: Timestamp,
) -> Option<SpokeSync> {
    let name = fleet.registration(registration)?.name.clone();
    Some(row(fleet, columns, name, Whose::HubOnly { registration }, Compliance::Unknown, false, now))
}

fn row(
    fleet: &FleetState,
    columns: &[SyncColumn],
    name: String,
    whose: Whose,
    compliance: Compliance,
    unreachable: bool,
    now: Timestamp,
) -> SpokeSync {
    let mut cells = vec![None; columns.len()];
    if let (Some(hub), Some(r)) = (fleet.hub(), whose.registration().and_then(|r| fleet.registration(r))) {
        for ks_key in &r.kustomizations {
            let Some(ks) = hub.kustomizations.get(ks_key) else { continue };
            let column = SyncColumn { source: ks.source.clone(), name: ks.name.clone() };
            let Ok(at) = columns.binary_search(&column) else { continue };
            let state = sync_state(ks, hub.sources.get(&ks.source), fleet.propagation(), unreachable);
            cells[at] = Some(SyncCell { key: ks_key.clone(), state });
        }
    }
    let s = &fleet.settings;
    let keys = cells.iter().flatten().map(|c| &c.key);
    let stats = fleet.propagation().stats(keys, now, s.propagation_window, s.propagation_target);
    SpokeSync { name, whose, cells, compliance, stats }
}

/// The hub's own Kustomizations (no `spec.kubeConfig`) and their states.
pub fn hub_own(fleet: &FleetState) -> Vec<SyncCell> {
    let Some(hub) = fleet.hub() else { return Vec::new() };
    hub.kustomizations
        .iter()
        .filter(|(_, k)| !k.remote)
        .map(|(key, k)| SyncCell {
            key: key.clone(),
            state: sync_state(k, hub.sources.get(&k.source), fleet.propagation(), false),
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

impl FleetSync {
    /// Totals over the rows of every context besides the hub, and of registrations no
    /// context reaches.
    pub fn of<'a>(
        contexts: impl Iterator<Item = &'a SpokeSync>,
        hub_only: &[SpokeSync],
        now: Timestamp,
        target: std::time::Duration,
    ) -> FleetSync {
        let mut out = FleetSync::default();
        let mut offenders = Vec::new();
        let count = |out: &mut FleetSync, row: &SpokeSync| {
            out.spokes += 1;
            out.in_sync += usize::from(row.all_in_sync());
            out.alarms += usize::from(row.alarm(now, target));
        };
        for row in contexts {
            if row.registered() {
                count(&mut out, row);
            }
            // Every cluster watched besides the hub counts, registered or not: its rows show.
            match row.compliance {
                Compliance::NotInstalled => out.reports_missing.push(row.name.clone()),
                ref c if c.failures() > 0 => offenders.push((row.name.clone(), c.failures())),
                _ => {}
            }
        }
        for row in hub_only {
            count(&mut out, row);
        }
        out.violations = offenders.iter().map(|(_, n)| n).sum();
        offenders.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        offenders.truncate(3);
        out.worst = offenders;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_split_at_the_severity_threshold() {
        let counts = |pairs: &[(Severity, i64)]| Compliance::Counts {
            pass: 0,
            fail: pairs.iter().map(|p| p.1).sum(),
            warn: 0,
            error: 0,
            skip: 0,
            reports: 1,
            by_severity: pairs.iter().copied().collect(),
        };
        let c = counts(&[(Severity::High, 1), (Severity::Medium, 3), (Severity::Low, 2), (Severity::Unset, 1)]);
        // (at the threshold or worse, below it); an unset severity always counts.
        assert_eq!(c.split(Severity::Critical), (1, 6));
        assert_eq!(c.split(Severity::High), (2, 5));
        assert_eq!(c.split(Severity::Medium), (5, 2));
        assert_eq!(c.split(Severity::Info), (7, 0));
        assert_eq!(Compliance::Unknown.split(Severity::High), (0, 0));
        assert!(!crate::derive::judge::Problem::Findings { count: 5, below: Severity::High }.degrades());
        assert!(crate::derive::judge::Problem::Violations(1).degrades());
    }
}
