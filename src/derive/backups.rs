//! Backups as the pane sees them: a row per cluster and Velero schedule (a cluster with
//! Velero but no schedule is a row of its own, a finding), and the fleet's figures:
//! clusters within RPO, the oldest good backup, failures in the last day, and the recent
//! restores' durations (the RTO seen).

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::fleet::ago;
use crate::fleet::backup::{BackupSummary, Finding, RestoreSummary, Rpo, ScheduleHealth, Timing, judge_with};
use crate::fleet::cluster::ClusterModel;
use crate::fleet::kind::Kind;
use crate::fleet::state::ClusterId;
use crate::fleet::summary::ObjectKey;

/// The Velero kinds: all of them listed means the cluster's backups are known.
const VELERO_KINDS: [Kind; 4] = [Kind::Schedule, Kind::Backup, Kind::Restore, Kind::BackupStorageLocation];

/// What a row of the pane is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKind {
    Schedule {
        key: ObjectKey,
        health: Box<ScheduleHealth>,
    },
    /// Velero runs but nothing schedules backups: a finding.
    NoSchedule,
    /// The Velero CRDs are not installed.
    NotInstalled,
    /// Not listed yet (connecting, or the watches failed so far).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRow {
    pub cluster: ClusterId,
    pub kind: RowKind,
}

impl BackupRow {
    pub fn schedule(&self) -> Option<&ObjectKey> {
        match &self.kind {
            RowKind::Schedule { key, .. } => Some(key),
            _ => None,
        }
    }

    pub fn health(&self) -> Option<&ScheduleHealth> {
        match &self.kind {
            RowKind::Schedule { health, .. } => Some(health),
            _ => None,
        }
    }

    /// 3 red, 2 a finding, 1 a warning, 0 fine; below that, rows with nothing to judge.
    pub fn severity(&self) -> i8 {
        match &self.kind {
            RowKind::Schedule { health, .. } => health.severity() as i8,
            RowKind::NoSchedule => 2,
            RowKind::Unknown => -1,
            RowKind::NotInstalled => -2,
        }
    }

    /// The text the filter searches, less the cluster's name.
    pub fn text(&self) -> String {
        match &self.kind {
            RowKind::Schedule { key, .. } => format!("{} {}", key.1, self.state_word()),
            _ => self.state_word().to_owned(),
        }
    }

    /// The row's verdict in a word or two (the pane's STATE column says more).
    pub fn state_word(&self) -> &'static str {
        match &self.kind {
            RowKind::NoSchedule => "no schedule",
            RowKind::NotInstalled => "not installed",
            RowKind::Unknown => "unknown",
            RowKind::Schedule { health, .. } => match (&health.rpo, health.findings.first()) {
                (Rpo::Invalid(_), _) => "invalid",
                (_, Some(Finding::StorageUnavailable { .. })) => "storage down",
                (Rpo::Never { .. }, _) => "never backed up",
                (Rpo::Late { .. }, _) => "late",
                (_, Some(Finding::LastFailed { .. })) => "last failed",
                (_, Some(Finding::Paused)) => "paused",
                (_, Some(Finding::Warnings { .. })) => "warnings",
                (Rpo::NotDue, None) => "not due yet",
                (Rpo::Within, None) => "ok",
            },
        }
    }

    /// Whether the pane lists it (clusters without Velero are said once, above).
    pub fn listed(&self) -> bool {
        self.kind != RowKind::NotInstalled
    }
}

/// Whether Velero is installed and every one of its kinds listed (`Some(true)`), not
/// installed (`Some(false)`), or not known yet.
fn velero_known(c: &ClusterModel) -> Option<bool> {
    if VELERO_KINDS.iter().any(|k| c.lacks(*k)) {
        return Some(false);
    }
    VELERO_KINDS.iter().all(|k| c.listed(*k)).then_some(true)
}

/// Cron timings already computed at `now`, by cron text: a fleet's schedules share a
/// few crons, and each walks the calendar.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    now: Option<Timestamp>,
    by_cron: HashMap<String, Result<Timing, String>>,
}

impl Timings {
    fn of(&mut self, cron: &str, now: Timestamp) -> &Result<Timing, String> {
        if self.now != Some(now) {
            self.by_cron.clear();
            self.now = Some(now);
        }
        self.by_cron.entry(cron.to_owned()).or_insert_with(|| Timing::of(cron, now))
    }
}

/// The rows of one cluster, judged at `now`.
pub fn cluster_rows(
    c: &ClusterModel,
    id: ClusterId,
    now: Timestamp,
    grace: Duration,
    timings: &mut Timings,
) -> Vec<BackupRow> {
    let row = |kind| BackupRow { cluster: id, kind };
    match velero_known(c) {
        Some(false) => return vec![row(RowKind::NotInstalled)],
        None if c.schedules.is_empty() => return vec![row(RowKind::Unknown)],
        _ => {}
    }
    if c.schedules.is_empty() {
        return vec![row(RowKind::NoSchedule)];
    }
    c.schedules
        .iter()
        .map(|(key, s)| {
            let timing = timings.of(&s.cron, now);
            let health = judge_with(s, Some(timing), &c.backups, c.storage.values(), now, grace);
            row(RowKind::Schedule { key: key.clone(), health: Box::new(health) })
        })
        .collect()
}

/// The backups a row's detail lists, newest first: the schedule's, or (for a cluster
/// without schedules) every backup of the cluster.
pub fn backups_of<'a>(c: &'a ClusterModel, row: &BackupRow) -> Vec<(&'a ObjectKey, &'a BackupSummary)> {
    let mut list: Vec<(&ObjectKey, &BackupSummary)> =
        c.backups.iter().filter(|(_, b)| row.schedule().is_none_or(|(ns, name)| b.made_by(ns, name))).collect();
    list.sort_by(|a, b| (b.1.data_at(), &b.0.1).cmp(&(a.1.data_at(), &a.0.1)));
    list
}

/// The cluster's restores, newest first.
pub fn restores_of(c: &ClusterModel) -> Vec<(&ObjectKey, &RestoreSummary)> {
    let mut list: Vec<(&ObjectKey, &RestoreSummary)> = c.restores.iter().collect();
    list.sort_by(|a, b| (b.1.started.or(b.1.created), &b.0.1).cmp(&(a.1.started.or(a.1.created), &a.0.1)));
    list
}

/// Restores counted for the RTO figure.
const RTO_RESTORES: usize = 5;
pub const DAY: Duration = Duration::from_secs(86_400);

/// What one cluster adds to the fleet's backup figures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterBackups {
    /// Velero is not installed; unknown yet.
    pub not_installed: bool,
    pub unknown: bool,
    /// It has schedules, every one within its RPO.
    pub within: bool,
    /// The oldest newest-good-backup of its schedules: when, and which schedule.
    pub oldest: Option<(Timestamp, String)>,
    /// When its backups that failed or partly failed ended (or were made).
    pub failures: Vec<Timestamp>,
    pub running_backups: usize,
    pub running_restores: usize,
    /// Finished restores: when they ended and how long they took.
    pub restores: Vec<(Timestamp, Duration)>,
}

impl ClusterBackups {
    pub fn of(c: &ClusterModel, rows: &[BackupRow]) -> Self {
        let mut f = ClusterBackups {
            not_installed: rows.iter().any(|r| r.kind == RowKind::NotInstalled),
            unknown: rows.iter().any(|r| r.kind == RowKind::Unknown),
            ..Self::default()
        };
        if f.not_installed || f.unknown {
            return f;
        }
        let schedules: Vec<&ScheduleHealth> = rows.iter().filter_map(|r| r.health()).collect();
        f.within = !schedules.is_empty() && schedules.iter().all(|h| !h.rpo.breached());
        for r in rows {
            if let (Some(h), Some((_, name))) = (r.health(), r.schedule())
                && let Some(at) = h.good_at
                && f.oldest.as_ref().is_none_or(|(a, _)| at < *a)
            {
                f.oldest = Some((at, name.clone()));
            }
        }
        for b in c.backups.values() {
            if b.phase.failed()
                && let Some(at) = b.completed.or(b.created)
            {
                f.failures.push(at);
            }
            f.running_backups += usize::from(!b.phase.finished());
        }
        for r in c.restores.values() {
            if !r.phase.finished() {
                f.running_restores += 1;
            } else if let (Some(done), Some(took)) = (r.completed, r.took()) {
                f.restores.push((done, took));
            }
        }
        f
    }
}

/// The fleet's figures for the header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetBackups {
    /// Clusters with Velero, and those whose every schedule is within its RPO (a cluster
    /// without a schedule is not).
    pub clusters: usize,
    pub within: usize,
    pub not_installed: usize,
    /// The oldest newest-good-backup: when its data is from, its cluster and schedule.
    pub oldest: Option<(Timestamp, String, String)>,
    /// Backups that failed or partly failed in the last 24 hours.
    pub failures_24h: usize,
    /// The durations of the latest finished restores, newest first (the RTO seen).
    pub rto: Vec<Duration>,
    pub running_backups: usize,
    pub running_restores: usize,
    /// When a failure leaves the last 24 hours.
    pub changes_at: Option<Timestamp>,
}

impl FleetBackups {
    /// The figures of the clusters (name and their share), at `now`.
    pub fn of<'a>(clusters: impl Iterator<Item = (&'a str, &'a ClusterBackups)>, now: Timestamp) -> Self {
        let mut f = FleetBackups::default();
        let mut changes = crate::fleet::Horizon::new(now);
        let mut restores: Vec<(Timestamp, Duration)> = Vec::new();
        for (name, c) in clusters {
            if c.not_installed {
                f.not_installed += 1;
                continue;
            }
            if c.unknown {
                continue;
            }
            f.clusters += 1;
            f.within += usize::from(c.within);
            if let Some((at, schedule)) = &c.oldest
                && f.oldest.as_ref().is_none_or(|(a, _, _)| at < a)
            {
                f.oldest = Some((*at, name.to_owned(), schedule.clone()));
            }
            for at in &c.failures {
                if ago(now, *at) <= DAY {
                    f.failures_24h += 1;
                    changes.after(crate::fleet::later(*at, DAY));
                }
            }
            f.running_backups += c.running_backups;
            f.running_restores += c.running_restores;
            restores.extend(&c.restores);
        }
        restores.sort_by_key(|r| std::cmp::Reverse(r.0));
        f.rto = restores.into_iter().take(RTO_RESTORES).map(|(_, d)| d).collect();
        f.changes_at = changes.get();
        f
    }
}
