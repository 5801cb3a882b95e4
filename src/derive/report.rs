//! The fleet judged against its targets at one instant, in the shape `fleetdeck check`
//! prints (its JSON is an interface, documented in the README): per cluster its state,
//! latency, propagation, violations and backups, the problems found, and a verdict.
//! Made from the derived state; nothing is judged here.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::Derived;
use super::backups::RowKind;
use super::cluster::ClusterView;
use super::judge::{Judgment, SyncCounts, Verdict, millis};
use super::propagation::{Compliance, SpokeSync};
use crate::fleet::cluster::State;
use crate::fleet::kind::Kind;
use crate::fleet::registry::Role;
use crate::fleet::state::FleetState;
use crate::fleet::summary::Severity;

/// A cluster's state as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportState {
    Live,
    Syncing,
    Connecting,
    Degraded,
    Unreachable,
    Unauthorized,
    Misconfigured,
    /// A registration no kubeconfig context reaches.
    NoContext,
}

impl ReportState {
    pub fn of(state: &State) -> Self {
        match state {
            State::Live => Self::Live,
            State::Syncing => Self::Syncing,
            State::Connecting => Self::Connecting,
            State::Degraded { .. } => Self::Degraded,
            State::Unreachable { .. } => Self::Unreachable,
            State::Unauthorized { .. } => Self::Unauthorized,
            State::Misconfigured { .. } => Self::Misconfigured,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Syncing => "syncing",
            Self::Connecting => "connecting",
            Self::Degraded => "degraded",
            Self::Unreachable => "unreachable",
            Self::Unauthorized => "unauthorized",
            Self::Misconfigured => "misconfigured",
            Self::NoContext => "no-context",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Nodes {
    pub ready: usize,
    pub total: usize,
}

/// Milliseconds, with microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyMs {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// A spoke's Kustomizations by state, and its propagation times over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Propagation {
    pub in_sync: usize,
    pub pending: usize,
    pub failed: usize,
    pub suspended: usize,
    pub last_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
}

impl Propagation {
    fn of(counts: SyncCounts, row: Option<&SpokeSync>) -> Self {
        let stats = row.map(|r| &r.stats);
        Self {
            in_sync: counts.in_sync,
            pending: counts.pending,
            failed: counts.failed,
            suspended: counts.suspended,
            last_seconds: stats.and_then(|s| s.last).map(|t| seconds(t.duration)),
            p95_seconds: stats.and_then(|s| s.p95).map(seconds),
        }
    }

    pub fn total(&self) -> usize {
        self.in_sync + self.pending + self.failed + self.suspended
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    /// `namespace/name` of the Velero Schedule.
    pub schedule: String,
    /// When the newest good backup's data was taken.
    pub last_success: Option<Timestamp>,
    pub rpo_ok: bool,
    /// The RPO allowed: the schedule's interval plus the grace (null for a schedule that
    /// cannot be evaluated).
    pub rpo_seconds: Option<u64>,
    /// The phase of the schedule's newest backup, whatever it is.
    pub last_phase: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterReport {
    pub name: String,
    pub role: Role,
    pub state: ReportState,
    pub status: Verdict,
    pub version: Option<String>,
    pub nodes: Option<Nodes>,
    pub latency_ms: LatencyMs,
    /// Percent of successful probes over the availability window.
    pub availability: Option<f64>,
    pub propagation: Propagation,
    /// Failed policy results (target zero); null where the reports are not read.
    pub violations: Option<i64>,
    /// `compliant` (no failed results) or `non-compliant`; null where not read.
    pub compliance: Option<ComplianceWord>,
    /// The failed results by severity (`critical`, `high`, `medium`, `low`, `info`,
    /// `unset`); those at `slo.violation_severity` or worse make the cluster degraded.
    pub violations_by_severity: Option<BTreeMap<Severity, i64>>,
    /// The failed results by policy (`""` for results that name none); null where not
    /// read.
    pub violations_by_policy: Option<BTreeMap<String, i64>>,
    pub backups: Vec<BackupReport>,
    /// How old the freshest data from the cluster is, and whether that is stale.
    pub data_age_seconds: Option<u64>,
    pub stale: bool,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComplianceWord {
    Compliant,
    NonCompliant,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Targets {
    pub latency_ms: f64,
    pub availability: f64,
    pub propagation_seconds: f64,
    pub violations: i64,
}

/// A firing rollback trigger, as `check --json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TriggerReport {
    pub cluster: String,
    /// `disruption`, `security`, `latency` or `propagation`.
    pub trigger: &'static str,
    /// When its condition became true.
    pub since: Timestamp,
    pub detail: String,
    /// The line the screen shows: `rollback suggested: production-eu-1 · ...`.
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    /// The worst cluster's verdict; at least `degraded` while a rollback trigger fires.
    pub status: Verdict,
    pub hub: Option<String>,
    pub generated_at: Timestamp,
    pub targets: Targets,
    pub clusters: Vec<ClusterReport>,
    /// The firing rollback triggers, the longest-firing first.
    pub triggers: Vec<TriggerReport>,
    /// Confirmed rollbacks on the hub, newest first, with their time to recovery.
    pub recoveries: Vec<RecoveryReport>,
}

/// A rollback's recovery, as `check --json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    pub cluster: String,
    pub run: String,
    /// When the trigger fired (absent for a rollback started without one).
    pub triggered_at: Option<String>,
    pub recovered_at: Option<String>,
    /// From the trigger (else the run's start) to the recovery confirmed.
    pub seconds: u64,
}

/// The trigger line's text.
pub fn trigger_line(cluster: &str, trigger: &crate::fleet::trigger::Trigger, now: Timestamp) -> String {
    format!("rollback suggested: {}", trigger.line(cluster, now))
}

/// Seconds, to the millisecond.
pub fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn problems(j: &Judgment, now: Timestamp) -> Vec<String> {
    j.problems.iter().map(|p| p.text(now)).collect()
}

fn cluster_report(fleet: &FleetState, v: &ClusterView, now: Timestamp) -> ClusterReport {
    let c = &fleet.clusters()[v.id];
    let (ready, total) = c.node_counts();
    let connected = c.version.is_some();
    let mut backups = Vec::new();
    for row in &v.rows.backups {
        if let RowKind::Schedule { key, health } = &row.kind {
            let last_success = health.good_at;
            let last_phase =
                health.last_attempt.as_ref().and_then(|k| c.backups.get(k)).map(|b| b.phase.as_str().to_owned());
            let schedule = format!("{}/{}", key.0, key.1);
            let rpo_seconds = health.interval.map(|i| (i + health.grace).as_secs());
            backups.push(BackupReport {
                schedule,
                last_success,
                rpo_ok: !health.rpo.breached(),
                rpo_seconds,
                last_phase,
            });
        }
    }
    ClusterReport {
        name: c.context.clone(),
        role: v.role.role(),
        state: ReportState::of(&v.state),
        status: v.judgment.verdict,
        version: c.version.clone(),
        nodes: (connected && c.listed(Kind::Node)).then_some(Nodes { ready, total }),
        latency_ms: LatencyMs {
            p50: v.latency.p50.map(millis),
            p95: v.latency.p95.map(millis),
            p99: v.latency.p99.map(millis),
        },
        availability: v.availability.map(|a| (a * 1_000_000.0).round() / 10_000.0),
        propagation: Propagation::of(v.judgment.sync, v.rows.sync.as_ref()),
        violations: match v.rows.compliance {
            Compliance::Counts { fail, .. } => Some(fail),
            _ => None,
        },
        compliance: match v.rows.compliance {
            Compliance::Counts { fail: 0, .. } => Some(ComplianceWord::Compliant),
            Compliance::Counts { .. } => Some(ComplianceWord::NonCompliant),
            _ => None,
        },
        violations_by_severity: match &v.rows.compliance {
            Compliance::Counts { by_severity, .. } => Some(by_severity.clone()),
            _ => None,
        },
        violations_by_policy: matches!(v.rows.compliance, Compliance::Counts { .. }).then(|| {
            let mut by_policy: BTreeMap<String, i64> = BTreeMap::new();
            for (policy, n) in c.reports.values().flat_map(|r| &r.fail_by_policy) {
                *by_policy.entry(policy.clone()).or_insert(0) += n;
            }
            by_policy
        }),
        backups,
        data_age_seconds: c.data_age(now).map(|d| d.as_secs()),
        stale: c.is_stale(now, fleet.settings.thresholds),
        problems: problems(&v.judgment, now),
    }
}

fn hub_only_report(row: &SpokeSync, judgment: &Judgment, now: Timestamp) -> ClusterReport {
    ClusterReport {
        name: row.name.clone(),
        role: Role::HubOnly,
        state: ReportState::NoContext,
        status: judgment.verdict,
        version: None,
        nodes: None,
        latency_ms: LatencyMs { p50: None, p95: None, p99: None },
        availability: None,
        propagation: Propagation::of(judgment.sync, Some(row)),
        violations: None,
        compliance: None,
        violations_by_severity: None,
        violations_by_policy: None,
        backups: Vec::new(),
        data_age_seconds: None,
        stale: false,
        problems: problems(judgment, now),
    }
}

/// The fleet at `now` (the derived state's instant, or later for ages): every cluster,
/// hub first, then registrations no context reaches.
pub fn report(fleet: &FleetState, derived: &Derived, now: Timestamp) -> FleetReport {
    let mut clusters: Vec<ClusterReport> =
        derived.order.iter().map(|&id| cluster_report(fleet, &derived.clusters[id], now)).collect();
    let shared = &derived.shared;
    clusters.extend(shared.hub_only.iter().zip(&shared.hub_only_judgments).map(|(r, j)| hub_only_report(r, j, now)));
    let s = &fleet.settings;
    let triggers: Vec<TriggerReport> = derived
        .firing()
        .map(|(id, t)| {
            let cluster = fleet.clusters()[id].context.clone();
            TriggerReport {
                line: trigger_line(&cluster, t, now),
                cluster,
                trigger: t.kind.id(),
                since: t.since,
                detail: t.detail.clone(),
            }
        })
        .collect();
    let worst = clusters.iter().map(|c| c.status).max().unwrap_or(Verdict::Unreachable);
    use crate::workflow::rollback::{facts, recoveries};
    let recoveries = recoveries(fleet.hub().into_iter().flat_map(|h| h.runs.values().map(|r| &**r)))
        .into_iter()
        .map(|(r, ttr)| RecoveryReport {
            cluster: r.cluster.clone(),
            run: r.id.clone(),
            triggered_at: r.facts.get(facts::TRIGGERED_AT).cloned(),
            recovered_at: r.facts.get(facts::RECOVERED_AT).cloned(),
            seconds: ttr.as_secs(),
        })
        .collect();
    FleetReport {
        status: if triggers.is_empty() { worst } else { worst.max(Verdict::Degraded) },
        triggers,
        recoveries,
        hub: fleet.hub().map(|h| h.context.clone()),
        generated_at: now,
        targets: Targets {
            latency_ms: millis(s.latency_target),
            availability: s.availability_target * 100.0,
            propagation_seconds: seconds(s.propagation_target),
            violations: 0,
        },
        clusters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_figures_read_as_the_json_says() {
        assert_eq!(serde_json::to_value(ReportState::NoContext).unwrap(), "no-context");
        assert_eq!(serde_json::to_value(Role::HubOnly).unwrap(), "hub-only");
        assert_eq!(ReportState::of(&State::Live).label(), "live");
        assert_eq!(seconds(Duration::from_millis(31_250)), 31.25);
    }
}
