//! The fleet judged against its targets at one instant: per cluster its state, latency,
//! propagation, violations and backups, the problems found, and a verdict (healthy,
//! degraded, unreachable). `fleetdeck check` prints it (its JSON shape is an interface,
//! documented in the README) and the wall colours its tiles by it. Derived from the
//! model on demand; nothing here is stored.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::backups::{RowKind, all_rows};
use super::model::Model;
use super::propagation::{Compliance, SpokeSync, SyncCell, SyncColumn, columns, context_sync, hub_only_sync, hub_own};
use super::rows::cluster_order;
use crate::fleet::ago;
use crate::fleet::cluster::{ClusterModel, State};
use crate::fleet::registry::Role;
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
    /// The phase of the schedule's newest backup, whatever it is.
    pub last_phase: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterReport {
    pub name: String,
    pub role: &'static str,
    /// live, syncing, connecting, degraded, unreachable, unauthorized, or no-context (a
    /// registration no kubeconfig context reaches).
    pub state: String,
    pub status: Verdict,
    pub version: Option<String>,
    pub nodes: Option<Nodes>,
    pub latency_ms: LatencyMs,
    /// Percent of successful probes over the availability window.
    pub availability: Option<f64>,
    pub propagation: Propagation,
    /// Failed policy results (target zero); null where the reports are not read.
    pub violations: Option<i64>,
    pub backups: Vec<BackupReport>,
    /// How old the freshest data from the cluster is, and whether that is stale.
    pub data_age_seconds: Option<u64>,
    pub stale: bool,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Targets {
    pub latency_ms: f64,
    pub availability: f64,
    pub propagation_seconds: f64,
    pub violations: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    pub status: Verdict,
    pub hub: Option<String>,
    pub generated_at: Timestamp,
    pub targets: Targets,
    pub clusters: Vec<ClusterReport>,
}

fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Counts Kustomizations by state and says what is wrong with them (`whose`: "" for a
/// spoke's, "hub " for the hub's own).
fn count<'a>(
    cells: impl Iterator<Item = &'a SyncCell>,
    whose: &str,
    now: Timestamp,
    target: Duration,
    problems: &mut Vec<String>,
) -> Propagation {
    let mut p = Propagation::default();
    for cell in cells {
        let name = &cell.key.1;
        match &cell.state {
            SyncState::InSync => p.in_sync += 1,
            SyncState::Suspended { .. } => p.suspended += 1,
            state @ (SyncState::Pending { .. } | SyncState::Stale { .. }) => {
                p.pending += 1;
                if state.alarm(now, target) {
                    let behind = state.behind_since().map_or(Duration::ZERO, |s| ago(now, s));
                    problems.push(format!(
                        "{whose}Kustomization {name} behind its source for {}s (target {}s)",
                        behind.as_secs(),
                        target.as_secs()
                    ));
                }
            }
            failed => {
                p.failed += 1;
                let why = match failed {
                    SyncState::Failed { reason, .. } => format!("failed: {reason}"),
                    SyncState::NoSource => "has no source artifact on the hub".to_owned(),
                    _ => "is behind and its cluster unreachable".to_owned(),
                };
                problems.push(format!("{whose}Kustomization {name} {why}"));
            }
        }
    }
    p
}

/// A spoke's Kustomizations counted, with its propagation figures.
fn propagation(model: &Model, row: &SpokeSync, now: Timestamp, problems: &mut Vec<String>) -> Propagation {
    let target = model.settings.propagation_target;
    let stats = row.stats(model, now);
    Propagation {
        last_seconds: stats.last.map(|t| seconds(t.duration)),
        p95_seconds: stats.p95.map(seconds),
        ..count(row.present(), "", now, target, problems)
    }
}

fn cluster_report(
    model: &Model,
    index: usize,
    columns: &[SyncColumn],
    backups: &[&super::backups::BackupRow],
    now: Timestamp,
) -> ClusterReport {
    let c: &ClusterModel = &model.clusters[index];
    let s = &model.settings;
    let state = c.state(now, s.thresholds);
    let role = model.join.roles.get(index).map_or(Role::Candidate, |r| r.0);
    let mut problems = Vec::new();
    let mut verdict = match &state {
        State::Live => Verdict::Healthy,
        State::Unreachable { .. } | State::Unauthorized { .. } | State::Connecting => Verdict::Unreachable,
        State::Degraded { .. } | State::Syncing => Verdict::Degraded,
    };
    match &state {
        State::Live => {}
        State::Connecting => problems.push("not connected yet".to_owned()),
        State::Syncing => problems.push("still listing its objects".to_owned()),
        other => {
            let error = other.error().map_or_else(String::new, |e| format!(": {}", e.message));
            problems.push(format!("{}{error}", other.label()));
        }
    }
    let connected = c.version.is_some();
    let (ready, total) = c.node_counts();
    let nodes = (connected && c.listed(crate::fleet::kind::Kind::Node)).then_some(Nodes { ready, total });
    if ready < total {
        problems.push(format!("{} of {total} nodes not ready", total - ready));
    }
    let latency = c.probes.latency(now, s.latency_target);
    if let Some(p95) = latency.p95.filter(|p| *p > s.latency_target) {
        problems.push(format!("API p95 {} ms over the {} ms target", millis(p95), s.latency_target.as_millis()));
    }
    let availability = c.probes.availability(now);
    if let Some(a) = availability.filter(|a| *a < s.availability_target) {
        problems.push(format!("availability {:.2}% under the {}% target", a * 100.0, s.availability_target * 100.0));
    }
    for (namespace, what) in [("flux-system", "Flux"), ("velero", "Velero")] {
        if c.component(namespace) == Some(false) {
            problems.push(format!("{what} controllers not ready"));
        }
    }
    let propagation = if c.is_hub {
        count(hub_own(model).iter(), "hub ", now, s.propagation_target, &mut problems)
    } else {
        match context_sync(model, columns, index) {
            Some(row) => propagation(model, &row, now, &mut problems),
            None => Propagation::default(),
        }
    };
    let violations = match Compliance::of(model, index) {
        Compliance::Counts { fail, .. } => Some(fail),
        _ => None,
    };
    if let Some(v) = violations.filter(|v| *v > 0) {
        problems.push(format!("{v} policy violation{}", if v == 1 { "" } else { "s" }));
    }
    let mut reports = Vec::new();
    for row in backups {
        match &row.kind {
            RowKind::Schedule { key, health } => {
                let last_success = health.last_good.as_ref().and_then(|k| c.backups.get(k)).and_then(|b| b.data_at());
                let last_phase = health.last_attempt.as_ref().and_then(|k| c.backups.get(k)).map(|b| b.phase.clone());
                let name = format!("{}/{}", key.0, key.1);
                if health.rpo.breached() {
                    problems.push(format!("backup schedule {name} behind its RPO ({})", row.state_word()));
                }
                problems.extend(health.findings.iter().filter(|f| f.critical()).map(|f| f.text()));
                reports.push(BackupReport { schedule: name, last_success, rpo_ok: !health.rpo.breached(), last_phase });
            }
            RowKind::NoSchedule => problems.push("Velero runs but no schedule backs this cluster up".to_owned()),
            RowKind::NotInstalled | RowKind::Unknown => {}
        }
    }
    let stale = c.is_stale(now, s.thresholds);
    if stale && verdict == Verdict::Healthy {
        problems.push("its data is stale".to_owned());
    }
    if verdict == Verdict::Healthy && !problems.is_empty() {
        verdict = Verdict::Degraded;
    }
    ClusterReport {
        name: c.context.clone(),
        role: role.label(),
        state: state.label().to_lowercase(),
        status: verdict,
        version: c.version.clone(),
        nodes,
        latency_ms: LatencyMs {
            p50: latency.p50.map(millis),
            p95: latency.p95.map(millis),
            p99: latency.p99.map(millis),
        },
        availability: availability.map(|a| (a * 1_000_000.0).round() / 10_000.0),
        propagation,
        violations,
        backups: reports,
        data_age_seconds: c.data_age(now).map(|d| d.as_secs()),
        stale,
        problems,
    }
}

/// A registration on the hub that no context reaches: what the hub knows of it.
fn hub_only_report(
    model: &Model,
    columns: &[SyncColumn],
    registration: usize,
    now: Timestamp,
) -> Option<ClusterReport> {
    let row = hub_only_sync(model, columns, registration)?;
    let mut problems = vec!["registered on the hub; no kubeconfig context reaches it".to_owned()];
    let propagation = propagation(model, &row, now, &mut problems);
    Some(ClusterReport {
        name: row.name.clone(),
        role: Role::HubOnly.label(),
        state: "no-context".to_owned(),
        status: Verdict::Degraded,
        version: None,
        nodes: None,
        latency_ms: LatencyMs { p50: None, p95: None, p99: None },
        availability: None,
        propagation,
        violations: None,
        backups: Vec::new(),
        data_age_seconds: None,
        stale: false,
        problems,
    })
}

/// The fleet at `now`: every cluster (hub first), then registrations no context reaches.
pub fn report(model: &Model, now: Timestamp) -> FleetReport {
    // Judged once for every cluster: the fleet's columns and every backup schedule.
    let backups = all_rows(model, now);
    let columns = columns(model);
    let mut by_cluster: Vec<Vec<&super::backups::BackupRow>> = vec![Vec::new(); model.clusters.len()];
    for row in &backups {
        by_cluster[row.cluster].push(row);
    }
    let mut clusters: Vec<ClusterReport> =
        cluster_order(model).into_iter().map(|i| cluster_report(model, i, &columns, &by_cluster[i], now)).collect();
    clusters.extend(model.join.hub_only.iter().filter_map(|&r| hub_only_report(model, &columns, r, now)));
    let s = &model.settings;
    FleetReport {
        status: clusters.iter().map(|c| c.status).max().unwrap_or(Verdict::Unreachable),
        hub: model.hub().map(|h| h.context.clone()),
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
    fn verdicts_order_and_exit_codes() {
        assert!(Verdict::Healthy < Verdict::Degraded && Verdict::Degraded < Verdict::Unreachable);
        assert_eq!([Verdict::Healthy, Verdict::Degraded, Verdict::Unreachable].map(Verdict::exit_code), [0, 1, 2]);
        assert_eq!(serde_json::to_value(Verdict::Degraded).unwrap(), "degraded");
    }

    #[test]
    fn figures_round_to_microseconds_and_milliseconds() {
        assert_eq!(millis(Duration::from_micros(12_345)), 12.345);
        assert_eq!(seconds(Duration::from_millis(31_250)), 31.25);
    }
}
