//! Backups as the pane sees them, derived from the model on demand: a row per cluster and
//! Velero schedule (a cluster with Velero but no schedule is a row of its own, a
//! finding), worst first, and the fleet's figures: clusters within RPO, the oldest good
//! backup, failures in the last day, and the recent restores' durations (the RTO seen).

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;

use super::model::Model;
use super::rows::cluster_order;
use crate::fleet::ago;
use crate::fleet::backup::{
    BackupSummary, Finding, RestoreSummary, Rpo, ScheduleHealth, Timing, failed, finished, judge_with,
};
use crate::fleet::cluster::ClusterModel;
use crate::fleet::kind::Kind;
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
    pub cluster: usize,
    pub kind: RowKind,
}

/// Separates the context from the schedule in a row key (context names may hold `/`).
const KEY_SEPARATOR: char = '\u{1f}';

/// The key of a row: the context, and the schedule's namespace/name when it has one.
pub fn row_key(context: &str, schedule: Option<&ObjectKey>) -> String {
    match schedule {
        Some((ns, name)) => format!("{context}{KEY_SEPARATOR}{ns}/{name}"),
        None => context.to_owned(),
    }
}

impl BackupRow {
    pub fn key(&self, model: &Model) -> String {
        let context = &model.clusters[self.cluster].context;
        match &self.kind {
            RowKind::Schedule { key, .. } => row_key(context, Some(key)),
            _ => row_key(context, None),
        }
    }

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

    /// The text the filter searches.
    pub fn text(&self, model: &Model) -> String {
        let c = &model.clusters[self.cluster];
        match &self.kind {
            RowKind::Schedule { key, .. } => format!("{} {} {}", c.context, key.1, self.state_word()),
            _ => format!("{} {}", c.context, self.state_word()),
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
}

/// Whether Velero is installed and every one of its kinds listed (`Some(true)`), not
/// installed (`Some(false)`), or not known yet.
fn velero_known(c: &ClusterModel) -> Option<bool> {
    if VELERO_KINDS.iter().any(|k| c.lacks(*k)) {
        return Some(false);
    }
    VELERO_KINDS.iter().all(|k| c.listed(*k)).then_some(true)
}

/// Cron timings already computed at `now`, by cron text.
type Timings = HashMap<String, Result<Timing, String>>;

/// The rows of one cluster.
fn cluster_rows(model: &Model, index: usize, now: Timestamp, timings: &mut Timings) -> Vec<BackupRow> {
    let c = &model.clusters[index];
    let row = |kind| BackupRow { cluster: index, kind };
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
            let timing = timings.entry(s.cron.clone()).or_insert_with(|| Timing::of(&s.cron, now));
            let health = judge_with(s, Some(timing), &c.backups, c.storage.values(), now, model.settings.backup_grace);
            row(RowKind::Schedule { key: key.clone(), health: Box::new(health) })
        })
        .collect()
}

/// Every row, worst first (then oldest data first, then by name), unfiltered.
pub fn all_rows(model: &Model, now: Timestamp) -> Vec<BackupRow> {
    let mut timings = Timings::new();
    let mut rows: Vec<BackupRow> =
        cluster_order(model).into_iter().flat_map(|i| cluster_rows(model, i, now, &mut timings)).collect();
    rows.sort_by(|a, b| {
        let age = |r: &BackupRow| r.health().and_then(|h| h.age);
        b.severity()
            .cmp(&a.severity())
            .then_with(|| age(b).cmp(&age(a)))
            .then_with(|| model.clusters[a.cluster].context.cmp(&model.clusters[b.cluster].context))
            .then_with(|| a.schedule().cmp(&b.schedule()))
    });
    rows
}

/// The rows the pane lists: those the filter admits, less the clusters without Velero
/// (the subtitle says those once).
pub fn rows(model: &Model, now: Timestamp) -> Vec<BackupRow> {
    listed(model, all_rows(model, now))
}

/// The rows the pane lists out of every row (judged once per screen).
pub fn listed(model: &Model, all: Vec<BackupRow>) -> Vec<BackupRow> {
    all.into_iter().filter(|r| r.kind != RowKind::NotInstalled && model.ui.filter.admits(&r.text(model))).collect()
}

/// The row of a key, if it is still there.
pub fn row_of_key(model: &Model, key: &str, now: Timestamp) -> Option<BackupRow> {
    let context = key.split(KEY_SEPARATOR).next().unwrap_or(key);
    let (index, _) = model.cluster_by_name(context)?;
    cluster_rows(model, index, now, &mut Timings::new()).into_iter().find(|r| r.key(model) == key)
}

/// The backups a row's detail lists, newest first: the schedule's, or (for a cluster
/// without schedules) every backup of the cluster.
pub fn backups_of<'a>(model: &'a Model, row: &BackupRow) -> Vec<(&'a ObjectKey, &'a BackupSummary)> {
    let c = &model.clusters[row.cluster];
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
const DAY: Duration = Duration::from_secs(86_400);

/// The fleet's figures for the header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetBackups {
    /// Clusters with Velero, and those whose every schedule is within its RPO (a cluster
    /// without a schedule is not).
    pub clusters: usize,
    pub within: usize,
    pub not_installed: usize,
    /// The oldest newest-good-backup: its age, cluster and schedule.
    pub oldest: Option<(Duration, String, String)>,
    /// Backups that failed or partly failed in the last 24 hours.
    pub failures_24h: usize,
    /// The durations of the latest finished restores, newest first (the RTO seen).
    pub rto: Vec<Duration>,
    pub running_backups: usize,
    pub running_restores: usize,
}

pub fn fleet_backups(model: &Model, rows: &[BackupRow], now: Timestamp) -> FleetBackups {
    let mut f = FleetBackups::default();
    let mut restores: Vec<(Timestamp, Duration)> = Vec::new();
    let mut by_cluster: Vec<Vec<&BackupRow>> = vec![Vec::new(); model.clusters.len()];
    for r in rows {
        by_cluster[r.cluster].push(r);
    }
    for (c, mine) in model.clusters.iter().zip(by_cluster) {
        if mine.iter().any(|r| r.kind == RowKind::NotInstalled) {
            f.not_installed += 1;
            continue;
        }
        if mine.iter().any(|r| r.kind == RowKind::Unknown) {
            continue;
        }
        f.clusters += 1;
        let schedules: Vec<&ScheduleHealth> = mine.iter().filter_map(|r| r.health()).collect();
        if !schedules.is_empty() && schedules.iter().all(|h| !h.rpo.breached()) {
            f.within += 1;
        }
        for r in &mine {
            if let (Some(h), Some((_, name))) = (r.health(), r.schedule())
                && let Some(age) = h.age
                && f.oldest.as_ref().is_none_or(|(a, _, _)| age > *a)
            {
                f.oldest = Some((age, c.context.clone(), name.clone()));
            }
        }
        for b in c.backups.values() {
            let at = b.completed.or(b.created);
            if failed(&b.phase) && at.is_some_and(|t| ago(now, t) <= DAY) {
                f.failures_24h += 1;
            }
            if !finished(&b.phase) {
                f.running_backups += 1;
            }
        }
        for r in c.restores.values() {
            if !finished(&r.phase) {
                f.running_restores += 1;
            } else if let (Some(done), Some(took)) = (r.completed, r.took()) {
                restores.push((done, took));
            }
        }
    }
    restores.sort_by_key(|r| std::cmp::Reverse(r.0));
    f.rto = restores.into_iter().take(RTO_RESTORES).map(|(_, d)| d).collect();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_keys_survive_contexts_with_slashes() {
        let key = row_key("arn:aws:eks:eu-west-1:1:cluster/prod", Some(&("velero".into(), "daily".into())));
        assert_eq!(key.split(KEY_SEPARATOR).next(), Some("arn:aws:eks:eu-west-1:1:cluster/prod"));
        assert_eq!(row_key("hub", None), "hub");
    }
}
