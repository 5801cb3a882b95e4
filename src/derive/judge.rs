//! A cluster judged against its targets: its verdict (healthy, degraded, unreachable)
//! and every problem found, typed, so the wall colours and counts them and `check` words
//! them at the instant it reports.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::backups::{BackupRow, RowKind};
use super::propagation::{Compliance, SyncCell};
use crate::fleet::ago;
use crate::fleet::cluster::{ClusterModel, State};
use crate::fleet::probes::LatencyStats;
use crate::fleet::state::FleetSettings;
use crate::fleet::summary::Severity;
use crate::fleet::sync::SyncState;

/// How a cluster (or the fleet) stands, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Healthy,
    Degraded,
    Unreachable,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Unreachable => "unreachable",
        }
    }

    /// `fleetdeck check`'s exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Degraded => 1,
            Verdict::Unreachable => 2,
        }
    }
}

/// Whose Kustomizations a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    Spoke,
    /// The hub's own (no `spec.kubeConfig`).
    Hub,
}

impl Whose {
    fn prefix(self) -> &'static str {
        match self {
            Whose::Spoke => "",
            Whose::Hub => "hub ",
        }
    }
}

/// Something wrong with a cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    NotConnected,
    StillListing,
    /// Degraded, Unreachable or Unauthorized, with the error that made it so.
    State {
        label: &'static str,
        message: Option<String>,
    },
    NodesNotReady {
        not_ready: usize,
        total: usize,
    },
    Latency {
        p95: Duration,
        target: Duration,
    },
    /// Availability and its target, as fractions.
    Availability {
        ratio: f64,
        target: f64,
    },
    ComponentNotReady(&'static str),
    Behind {
        whose: Whose,
        name: String,
        since: Timestamp,
        target: Duration,
    },
    KustomizationFailed {
        whose: Whose,
        name: String,
        reason: String,
    },
    NoSource {
        whose: Whose,
        name: String,
    },
    BehindUnreachable {
        whose: Whose,
        name: String,
    },
    Violations(i64),
    /// Failed policy results below `slo.violation_severity`: told, but not a health
    /// problem.
    Findings {
        count: i64,
        below: Severity,
    },
    /// A schedule behind its RPO, with the pane's word for how.
    BackupLate {
        schedule: String,
        word: &'static str,
    },
    /// A finding about a schedule that is a failure now (storage down).
    BackupFinding(String),
    NoSchedule,
    Stale,
    /// A registration no kubeconfig context reaches.
    NoContext,
}

/// Milliseconds, with microsecond precision.
pub fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

impl Problem {
    /// Whether the problem makes a cluster degraded (findings below the severity
    /// threshold are told but are not a health problem).
    pub fn degrades(&self) -> bool {
        !matches!(self, Problem::Findings { .. })
    }

    /// The problem in words at `now` (how long something has been behind moves on).
    pub fn text(&self, now: Timestamp) -> String {
        match self {
            Problem::NotConnected => "not connected yet".to_owned(),
            Problem::StillListing => "still listing its objects".to_owned(),
            Problem::State { label, message: Some(m) } => format!("{label}: {m}"),
            Problem::State { label, message: None } => (*label).to_owned(),
            Problem::NodesNotReady { not_ready, total } => format!("{not_ready} of {total} nodes not ready"),
            Problem::Latency { p95, target } => {
                format!("API p95 {} ms over the {} ms target", millis(*p95), target.as_millis())
            }
            Problem::Availability { ratio, target } => {
                format!("availability {:.2}% under the {}% target", ratio * 100.0, target * 100.0)
            }
            Problem::ComponentNotReady(what) => format!("{what} controllers not ready"),
            Problem::Behind { whose, name, since, target } => format!(
                "{}Kustomization {name} behind its source for {}s (target {}s)",
                whose.prefix(),
                ago(now, *since).as_secs(),
                target.as_secs()
            ),
            Problem::KustomizationFailed { whose, name, reason } => {
                format!("{}Kustomization {name} failed: {reason}", whose.prefix())
            }
            Problem::NoSource { whose, name } => {
                format!("{}Kustomization {name} has no source artifact on the hub", whose.prefix())
            }
            Problem::BehindUnreachable { whose, name } => {
                format!("{}Kustomization {name} is behind and its cluster unreachable", whose.prefix())
            }
            Problem::Violations(v) => format!("{v} policy violation{}", if *v == 1 { "" } else { "s" }),
            Problem::Findings { count, below } => format!(
                "{count} policy finding{} below {} (reported, not degrading)",
                if *count == 1 { "" } else { "s" },
                below.label()
            ),
            Problem::BackupLate { schedule, word } => format!("backup schedule {schedule} behind its RPO ({word})"),
            Problem::BackupFinding(text) => text.clone(),
            Problem::NoSchedule => "Velero runs but no schedule backs this cluster up".to_owned(),
            Problem::Stale => "its data is stale".to_owned(),
            Problem::NoContext => "registered on the hub; no kubeconfig context reaches it".to_owned(),
        }
    }
}

/// Kustomizations counted by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub in_sync: usize,
    pub pending: usize,
    pub failed: usize,
    pub suspended: usize,
}

impl SyncCounts {
    pub fn total(&self) -> usize {
        self.in_sync + self.pending + self.failed + self.suspended
    }
}

/// Counts Kustomizations by state and adds what is wrong with them to `problems`.
pub fn count<'a>(
    cells: impl Iterator<Item = &'a SyncCell>,
    whose: Whose,
    now: Timestamp,
    target: Duration,
    problems: &mut Vec<Problem>,
) -> SyncCounts {
    let mut p = SyncCounts::default();
    for cell in cells {
        let name = cell.key.1.clone();
        match &cell.state {
            SyncState::InSync => p.in_sync += 1,
            SyncState::Suspended { .. } => p.suspended += 1,
            state @ (SyncState::Pending { .. } | SyncState::Stale { .. }) => {
                p.pending += 1;
                if state.alarm(now, target) {
                    let since = state.behind_since().unwrap_or(now);
                    problems.push(Problem::Behind { whose, name, since, target });
                }
            }
            SyncState::Failed { reason, .. } => {
                p.failed += 1;
                problems.push(Problem::KustomizationFailed { whose, name, reason: reason.clone() });
            }
            SyncState::NoSource => {
                p.failed += 1;
                problems.push(Problem::NoSource { whose, name });
            }
            SyncState::Unreachable { .. } => {
                p.failed += 1;
                problems.push(Problem::BehindUnreachable { whose, name });
            }
        }
    }
    p
}

/// A cluster's verdict, its problems, and its Kustomizations counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgment {
    pub verdict: Verdict,
    pub problems: Vec<Problem>,
    pub sync: SyncCounts,
}

/// What a cluster is judged on, derived already.
pub struct Facts<'a> {
    pub cluster: &'a ClusterModel,
    pub state: &'a State,
    pub latency: &'a LatencyStats,
    pub availability: Option<f64>,
    pub stale: bool,
    pub compliance: &'a Compliance,
    pub backups: &'a [BackupRow],
}

/// Judges a cluster at `now`; `cells` are its Kustomizations (a spoke's on the hub, the
/// hub's own for the hub).
pub fn judge<'a>(
    f: Facts<'_>,
    cells: impl Iterator<Item = &'a SyncCell>,
    settings: &FleetSettings,
    now: Timestamp,
) -> Judgment {
    let c = f.cluster;
    let mut problems = Vec::new();
    let mut verdict = match f.state {
        State::Live => Verdict::Healthy,
        State::Unreachable { .. } | State::Unauthorized { .. } | State::Misconfigured { .. } | State::Connecting => {
            Verdict::Unreachable
        }
        State::Degraded { .. } | State::Syncing => Verdict::Degraded,
    };
    match f.state {
        State::Live => {}
        State::Connecting => problems.push(Problem::NotConnected),
        State::Syncing => problems.push(Problem::StillListing),
        other => {
            problems.push(Problem::State { label: other.label(), message: other.error().map(|e| e.message.clone()) })
        }
    }
    let (ready, total) = c.node_counts();
    if ready < total {
        problems.push(Problem::NodesNotReady { not_ready: total - ready, total });
    }
    if let Some(p95) = f.latency.p95.filter(|p| *p > settings.latency_target) {
        problems.push(Problem::Latency { p95, target: settings.latency_target });
    }
    if let Some(a) = f.availability.filter(|a| *a < settings.availability_target) {
        problems.push(Problem::Availability { ratio: a, target: settings.availability_target });
    }
    for (namespace, what) in [("flux-system", "Flux"), ("velero", "Velero")] {
        if c.component(namespace) == Some(false) {
            problems.push(Problem::ComponentNotReady(what));
        }
    }
    let whose = if c.is_hub { Whose::Hub } else { Whose::Spoke };
    let sync = count(cells, whose, now, settings.propagation_target, &mut problems);
    let (violations, findings) = f.compliance.split(settings.violation_severity);
    if violations > 0 {
        problems.push(Problem::Violations(violations));
    }
    if findings > 0 {
        problems.push(Problem::Findings { count: findings, below: settings.violation_severity });
    }
    for row in f.backups {
        match &row.kind {
            RowKind::Schedule { key, health } => {
                if health.rpo.breached() {
                    let schedule = format!("{}/{}", key.0, key.1);
                    problems.push(Problem::BackupLate { schedule, word: row.state_word() });
                }
                problems
                    .extend(health.findings.iter().filter(|f| f.critical()).map(|f| Problem::BackupFinding(f.text())));
            }
            RowKind::NoSchedule => problems.push(Problem::NoSchedule),
            RowKind::NotInstalled | RowKind::Unknown => {}
        }
    }
    if f.stale && verdict == Verdict::Healthy {
        problems.push(Problem::Stale);
    }
    if verdict == Verdict::Healthy && problems.iter().any(Problem::degrades) {
        verdict = Verdict::Degraded;
    }
    Judgment { verdict, problems, sync }
}

/// A registration no context reaches: the hub's view is all there is, so it is degraded.
pub fn judge_hub_only<'a>(
    cells: impl Iterator<Item = &'a SyncCell>,
    settings: &FleetSettings,
    now: Timestamp,
) -> Judgment {
    let mut problems = vec![Problem::NoContext];
    let sync = count(cells, Whose::Spoke, now, settings.propagation_target, &mut problems);
    Judgment { verdict: Verdict::Degraded, problems, sync }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_order_and_exit_codes() {
        assert!(Verdict::Healthy < Verdict::Degraded && Verdict::Degraded < Verdict::Unreachable);
        assert_eq!([Verdict::Healthy, Verdict::Degraded, Verdict::Unreachable].map(Verdict::exit_code), [0, 1, 2]);
        assert_eq!(serde_json::to_value(Verdict::Degraded).unwrap(), "degraded");
    }

    #[test]
    fn problems_read_at_the_instant_they_are_told() {
        let since = Timestamp::from_second(1_800_000_000).unwrap();
        let behind = Problem::Behind { whose: Whose::Hub, name: "own".into(), since, target: Duration::from_secs(30) };
        let later = since + jiff::SignedDuration::from_secs(42);
        assert_eq!(behind.text(later), "hub Kustomization own behind its source for 42s (target 30s)");
        assert_eq!(Problem::Violations(1).text(later), "1 policy violation");
        assert_eq!(
            Problem::Latency { p95: Duration::from_micros(123_456), target: Duration::from_millis(100) }.text(later),
            "API p95 123.456 ms over the 100 ms target"
        );
        assert_eq!(millis(Duration::from_micros(12_345)), 12.345);
    }
}
