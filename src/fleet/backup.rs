//! Velero, as the backups pane judges it: summaries of Backup, Schedule, Restore and
//! BackupStorageLocation (`velero.io/v1`), and each schedule's RPO against its own cron.
//!
//! The RPO of a schedule is how old its newest good backup is. The target is the
//! schedule's own: the newest scheduled run that should have finished by now (its fire
//! time plus the grace) must be covered by a Completed backup started at or after it. A
//! daily schedule is late after a day and a grace, an hourly one after an hour and a
//! grace; `@every` schedules are judged by their interval. A failed backup older than the
//! newest good one is history, not an alarm; one newer is called out, and so are a paused
//! schedule, a completed backup with warnings (items were skipped), a partial failure,
//! and an unavailable storage location.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::ago;
use super::cron::Schedule;
use super::phase::VeleroPhase;
use super::summary::ObjectKey;
use crate::fields::{flag, int, label, strings, text, time};

/// The label that links a Backup to the Schedule that made it.
pub const SCHEDULE_LABEL: &str = "velero.io/schedule-name";

/// A backup or restore as it runs: its phase and progress, and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run<'a> {
    pub phase: &'a VeleroPhase,
    /// Items backed up or restored, of `total`.
    pub done: i64,
    pub total: i64,
    pub errors: i64,
    pub warnings: i64,
    pub problem: String,
}

/// A Velero Backup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackupSummary {
    pub namespace: String,
    pub name: String,
    /// The Schedule that made it (`velero.io/schedule-name`).
    pub schedule: Option<String>,
    /// Unset until Velero picks the backup up (it is then New).
    pub phase: VeleroPhase,
    pub created: Option<Timestamp>,
    pub started: Option<Timestamp>,
    pub completed: Option<Timestamp>,
    pub expiration: Option<Timestamp>,
    pub errors: i64,
    pub warnings: i64,
    pub failure_reason: String,
    pub validation_errors: Vec<String>,
    pub total_items: i64,
    pub items_backed_up: i64,
    pub storage_location: String,
}

impl BackupSummary {
    pub fn fold(v: &Value) -> Self {
        Self {
            namespace: text(v, "/metadata/namespace"),
            name: text(v, "/metadata/name"),
            schedule: label(v, SCHEDULE_LABEL),
            phase: VeleroPhase::parse(&text(v, "/status/phase")),
            created: time(v, "/metadata/creationTimestamp"),
            started: time(v, "/status/startTimestamp"),
            completed: time(v, "/status/completionTimestamp"),
            expiration: time(v, "/status/expiration"),
            errors: int(v, "/status/errors"),
            warnings: int(v, "/status/warnings"),
            failure_reason: text(v, "/status/failureReason"),
            validation_errors: strings(v, "/status/validationErrors"),
            total_items: int(v, "/status/progress/totalItems"),
            items_backed_up: int(v, "/status/progress/itemsBackedUp"),
            storage_location: text(v, "/spec/storageLocation"),
        }
    }

    pub fn run(&self) -> Run<'_> {
        Run {
            phase: &self.phase,
            done: self.items_backed_up,
            total: self.total_items,
            errors: self.errors,
            warnings: self.warnings,
            problem: self.problem(),
        }
    }

    /// Whether the schedule `namespace/name` made it.
    pub fn made_by(&self, namespace: &str, name: &str) -> bool {
        self.namespace == namespace && self.schedule.as_deref() == Some(name)
    }

    /// A backup the RPO counts: Completed. PartiallyFailed ones skipped data.
    pub fn is_good(&self) -> bool {
        self.phase == VeleroPhase::Completed
    }

    /// The point in time its data is from: when it started (or was created).
    pub fn data_at(&self) -> Option<Timestamp> {
        self.started.or(self.created)
    }

    /// How long it ran (so far, for one in flight).
    pub fn duration(&self, now: Timestamp) -> Option<Duration> {
        let start = self.started?;
        Some(ago(self.completed.unwrap_or(now), start))
    }

    /// Why it failed, in one line.
    pub fn problem(&self) -> String {
        if !self.failure_reason.is_empty() {
            self.failure_reason.clone()
        } else if !self.validation_errors.is_empty() {
            self.validation_errors.join("; ")
        } else if self.errors > 0 {
            format!("{} error{}", self.errors, if self.errors == 1 { "" } else { "s" })
        } else {
            String::new()
        }
    }
}

/// A Velero Schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleSummary {
    pub namespace: String,
    pub name: String,
    /// `spec.schedule`: a cron expression, a descriptor or `@every <duration>`.
    pub cron: String,
    pub paused: bool,
    pub phase: String,
    pub last_backup: Option<Timestamp>,
    pub validation_errors: Vec<String>,
    pub created: Option<Timestamp>,
    /// The storage location its backups go to (empty: the default one).
    pub storage_location: String,
    /// `spec.template`: what a backup made from it contains (for "back up now").
    pub template: Value,
    /// `spec.useOwnerReferencesInBackup`.
    pub owner_references: bool,
    pub uid: String,
}

impl ScheduleSummary {
    /// Whether its backups go to `storage`: the location its template names, else the
    /// default one.
    pub fn stores_in(&self, storage: &StorageSummary) -> bool {
        if self.storage_location.is_empty() { storage.default } else { storage.name == self.storage_location }
    }

    pub fn fold(v: &Value) -> Self {
        Self {
            namespace: text(v, "/metadata/namespace"),
            name: text(v, "/metadata/name"),
            cron: text(v, "/spec/schedule"),
            paused: flag(v, "/spec/paused"),
            phase: text(v, "/status/phase"),
            last_backup: time(v, "/status/lastBackup"),
            validation_errors: strings(v, "/status/validationErrors"),
            created: time(v, "/metadata/creationTimestamp"),
            storage_location: text(v, "/spec/template/storageLocation"),
            template: v.pointer("/spec/template").cloned().unwrap_or(Value::Null),
            owner_references: flag(v, "/spec/useOwnerReferencesInBackup"),
            uid: text(v, "/metadata/uid"),
        }
    }
}

/// A Velero Restore.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoreSummary {
    pub namespace: String,
    pub name: String,
    pub backup: String,
    pub schedule: String,
    pub phase: VeleroPhase,
    pub created: Option<Timestamp>,
    pub started: Option<Timestamp>,
    pub completed: Option<Timestamp>,
    pub total_items: i64,
    pub items_restored: i64,
    pub errors: i64,
    pub warnings: i64,
    pub failure_reason: String,
    pub validation_errors: Vec<String>,
}

impl RestoreSummary {
    pub fn fold(v: &Value) -> Self {
        Self {
            namespace: text(v, "/metadata/namespace"),
            name: text(v, "/metadata/name"),
            backup: text(v, "/spec/backupName"),
            schedule: text(v, "/spec/scheduleName"),
            phase: VeleroPhase::parse(&text(v, "/status/phase")),
            created: time(v, "/metadata/creationTimestamp"),
            started: time(v, "/status/startTimestamp"),
            completed: time(v, "/status/completionTimestamp"),
            total_items: int(v, "/status/progress/totalItems"),
            items_restored: int(v, "/status/progress/itemsRestored"),
            errors: int(v, "/status/errors"),
            warnings: int(v, "/status/warnings"),
            failure_reason: text(v, "/status/failureReason"),
            validation_errors: strings(v, "/status/validationErrors"),
        }
    }

    pub fn run(&self) -> Run<'_> {
        Run {
            phase: &self.phase,
            done: self.items_restored,
            total: self.total_items,
            errors: self.errors,
            warnings: self.warnings,
            problem: self.problem(),
        }
    }

    /// How long it took (the RTO it shows), once finished.
    pub fn took(&self) -> Option<Duration> {
        Some(ago(self.completed?, self.started?))
    }

    pub fn problem(&self) -> String {
        if !self.failure_reason.is_empty() { self.failure_reason.clone() } else { self.validation_errors.join("; ") }
    }
}

/// A Velero BackupStorageLocation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageSummary {
    pub namespace: String,
    pub name: String,
    /// `Available`, `Unavailable`, or empty before the first validation.
    pub phase: String,
    pub last_validation: Option<Timestamp>,
    pub message: String,
    pub default: bool,
    pub provider: String,
    pub bucket: String,
}

impl StorageSummary {
    pub fn fold(v: &Value) -> Self {
        Self {
            namespace: text(v, "/metadata/namespace"),
            name: text(v, "/metadata/name"),
            phase: text(v, "/status/phase"),
            last_validation: time(v, "/status/lastValidationTime"),
            message: text(v, "/status/message"),
            default: flag(v, "/spec/default"),
            provider: text(v, "/spec/provider"),
            bucket: text(v, "/spec/objectStorage/bucket"),
        }
    }

    pub fn available(&self) -> bool {
        self.phase == "Available"
    }
}

/// A schedule's RPO standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rpo {
    /// The newest run due by now is covered by a good backup.
    Within,
    /// No run is due yet (a schedule newer than its first run plus the grace).
    NotDue,
    /// The newest good backup is older than the newest run due; `since` is when that run
    /// (plus the grace) was due.
    Late { since: Timestamp },
    /// Runs were due and no good backup exists at all.
    Never { since: Timestamp },
    /// The schedule cannot be evaluated (an invalid cron, or Velero refused it).
    Invalid(String),
}

impl Rpo {
    pub fn breached(&self) -> bool {
        matches!(self, Rpo::Late { .. } | Rpo::Never { .. } | Rpo::Invalid(_))
    }
}

/// Something about a schedule worth a look, worst first when sorted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    /// The storage location its backups go to is not available.
    StorageUnavailable {
        location: String,
        message: String,
    },
    /// A backup newer than the last good one failed (or partly failed).
    LastFailed {
        backup: String,
        phase: String,
        why: String,
    },
    Paused,
    /// The newest good backup completed with warnings: some items were skipped.
    Warnings {
        backup: String,
        warnings: i64,
    },
}

impl Finding {
    pub fn text(&self) -> String {
        match self {
            Finding::StorageUnavailable { location, message } if message.is_empty() => {
                format!("storage location {location} unavailable")
            }
            Finding::StorageUnavailable { location, message } => {
                format!("storage location {location} unavailable: {message}")
            }
            Finding::LastFailed { backup, phase, why } if why.is_empty() => format!("{backup} {phase}"),
            Finding::LastFailed { backup, phase, why } => format!("{backup} {phase}: {why}"),
            Finding::Paused => "paused: no backups are taken".to_owned(),
            Finding::Warnings { backup, warnings } => {
                format!("{backup} completed with {warnings} warning{}", if *warnings == 1 { "" } else { "s" })
            }
        }
    }

    /// Whether it is a failure now (red) rather than a warning.
    pub fn critical(&self) -> bool {
        matches!(self, Finding::StorageUnavailable { .. })
    }
}

/// One schedule judged at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleHealth {
    pub rpo: Rpo,
    /// The schedule's own interval (around the run due), its RPO target.
    pub interval: Option<Duration>,
    /// The grace applied (the configured one, at most half the interval).
    pub grace: Duration,
    /// The newest good backup, and when its data is from.
    pub last_good: Option<ObjectKey>,
    pub good_at: Option<Timestamp>,
    /// The newest backup of the schedule, whatever its phase.
    pub last_attempt: Option<ObjectKey>,
    pub next_run: Option<Timestamp>,
    pub findings: Vec<Finding>,
    /// The next instant after the judgment at which it may change with no new backup:
    /// a run falling due, the next run passing.
    pub changes_at: Option<Timestamp>,
}

impl ScheduleHealth {
    /// How old the newest good backup's data is at `now`.
    pub fn age(&self, now: Timestamp) -> Option<Duration> {
        self.good_at.map(|at| ago(now, at))
    }

    /// 3 breached or storage down, 2 a failure or pause to look at, 1 warnings, 0 fine.
    pub fn severity(&self) -> u8 {
        if self.rpo.breached() || self.findings.iter().any(Finding::critical) {
            3
        } else if self.findings.iter().any(|f| matches!(f, Finding::LastFailed { .. } | Finding::Paused)) {
            2
        } else if !self.findings.is_empty() {
            1
        } else {
            0
        }
    }
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// When a cron's runs fall around `now`, computed once per distinct cron and second
/// (a fleet's schedules mostly share a few crons, and each query walks the calendar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// The last run at or before `now`, and the one before it (cron schedules).
    pub last: Option<Timestamp>,
    pub before_last: Option<Timestamp>,
    /// The next run after `now` (cron schedules).
    pub next: Option<Timestamp>,
    /// The gap between the last two runs: the schedule's RPO target.
    pub interval: Option<Duration>,
    /// `@every` schedules run relative to their last backup, not on a calendar.
    pub every: Option<Duration>,
}

impl Timing {
    pub fn of(cron: &str, now: Timestamp) -> Result<Timing, String> {
        let cron = Schedule::parse(cron).map_err(|e| e.to_string())?;
        if let Schedule::Every(every) = cron {
            return Ok(Timing { last: None, before_last: None, next: None, interval: Some(every), every: Some(every) });
        }
        let last = cron.prev_before(now.checked_add(SignedDuration::from_secs(1)).unwrap_or(now));
        let before_last = last.and_then(|l| cron.prev_before(l));
        let next = cron.next_after(now);
        let interval = match (before_last, last) {
            (Some(b), Some(l)) => Some(ago(l, b)),
            _ => next.and_then(|n| Some(ago(cron.next_after(n)?, n))),
        };
        Ok(Timing { last, before_last, next, interval, every: None })
    }
}

/// Judges a schedule at `now`: `backups` are the cluster's backups (those of other
/// schedules are ignored), `storage` its storage locations, `grace` how long past a
/// scheduled run its backup may take to complete (capped at half the interval, so a
/// five-minute schedule is not given half an hour).
pub fn judge<'a>(
    schedule: &ScheduleSummary,
    backups: impl IntoIterator<Item = (&'a ObjectKey, &'a BackupSummary)>,
    storage: impl IntoIterator<Item = &'a StorageSummary>,
    now: Timestamp,
    grace: Duration,
) -> ScheduleHealth {
    judge_with(schedule, None, backups, storage, now, grace)
}

/// As [`judge`], with the cron's [`Timing`] at `now` already known.
pub fn judge_with<'a>(
    schedule: &ScheduleSummary,
    timing: Option<&Result<Timing, String>>,
    backups: impl IntoIterator<Item = (&'a ObjectKey, &'a BackupSummary)>,
    storage: impl IntoIterator<Item = &'a StorageSummary>,
    now: Timestamp,
    grace: Duration,
) -> ScheduleHealth {
    let mine: Vec<(&ObjectKey, &BackupSummary)> =
        backups.into_iter().filter(|(_, b)| b.made_by(&schedule.namespace, &schedule.name)).collect();
    let newest = |good: bool| {
        mine.iter().filter(|(_, b)| !good || b.is_good()).max_by_key(|(k, b)| (b.data_at(), &k.1)).copied()
    };
    let last_good = newest(true);
    let last_attempt = newest(false);
    let good_at = last_good.and_then(|(_, b)| b.data_at());
    let mut findings = Vec::new();

    for s in storage.into_iter().filter(|s| schedule.stores_in(s)) {
        if !s.available() && !s.phase.is_empty() {
            findings.push(Finding::StorageUnavailable { location: s.name.clone(), message: s.message.clone() });
        }
    }
    // Failures newer than the last good backup; older ones are history.
    if let Some((k, b)) = last_attempt
        && b.phase.failed()
        && last_good.is_none_or(|(_, g)| g.data_at() < b.data_at())
    {
        findings.push(Finding::LastFailed { backup: k.1.clone(), phase: b.phase.to_string(), why: b.problem() });
    }
    if schedule.paused {
        findings.push(Finding::Paused);
    }
    if let Some((k, b)) = last_good
        && b.warnings > 0
    {
        findings.push(Finding::Warnings { backup: k.1.clone(), warnings: b.warnings });
    }
    findings.sort();

    let timing = match (schedule.phase.as_str(), timing) {
        ("FailedValidation", _) => {
            Err(format!("Velero refused the schedule: {}", schedule.validation_errors.join("; ")))
        }
        (_, Some(t)) => t.clone(),
        (_, None) => Timing::of(&schedule.cron, now),
    };
    let timing = match timing {
        Ok(t) => t,
        Err(why) => {
            return ScheduleHealth {
                rpo: Rpo::Invalid(why),
                interval: None,
                grace,
                last_good: last_good.map(|(k, _)| k.clone()),
                good_at,
                last_attempt: last_attempt.map(|(k, _)| k.clone()),
                next_run: None,
                findings,
                changes_at: None,
            };
        }
    };
    let interval = timing.interval;
    let grace = interval.map_or(grace, |i| grace.min(i / 2));
    // The newest run that should have finished by now: the last one once its grace is
    // over, else the one before.
    let due = match timing.every {
        Some(every) => now.checked_sub(signed(every + grace)).ok(),
        None => match timing.last {
            Some(last) if last.checked_add(signed(grace)).is_ok_and(|end| end <= now) => Some(last),
            _ => timing.before_last,
        },
    };
    let rpo = match due {
        // A schedule created after the run due has not had its first run yet.
        None => Rpo::NotDue,
        Some(due) if schedule.created.is_some_and(|c| c > due) && last_good.is_none() => Rpo::NotDue,
        Some(due) => match last_good.and_then(|(_, b)| b.data_at()) {
            Some(at) if at >= due => Rpo::Within,
            Some(_) => Rpo::Late { since: due.checked_add(signed(grace)).unwrap_or(due) },
            None => Rpo::Never { since: due.checked_add(signed(grace)).unwrap_or(due) },
        },
    };
    let next_run = match timing.every {
        _ if schedule.paused => None,
        Some(every) => {
            Some(schedule.last_backup.and_then(|l| l.checked_add(signed(every)).ok()).unwrap_or(now).max(now))
        }
        None => timing.next,
    };
    // When the judgment changes by itself: for a calendar schedule when its last run's
    // grace ends or the next run comes (and the timing moves on); for an `@every`
    // schedule when its newest good backup (or its creation) is an interval and the
    // grace old.
    let mut changes = super::Horizon::new(now);
    match timing.every {
        Some(every) => {
            for at in [good_at, schedule.created].into_iter().flatten() {
                changes.after(super::later(at, every + grace));
            }
            if let Some(last) = schedule.last_backup {
                changes.at(super::later(last, every));
            }
        }
        None => {
            if let Some(last) = timing.last {
                changes.at(super::later(last, grace));
            }
            changes.merge(timing.next);
        }
    }
    ScheduleHealth {
        rpo,
        interval,
        grace,
        last_good: last_good.map(|(k, _)| k.clone()),
        good_at,
        last_attempt: last_attempt.map(|(k, _)| k.clone()),
        next_run,
        findings,
        changes_at: changes.get(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn schedule(name: &str, cron: &str) -> ScheduleSummary {
        ScheduleSummary::fold(&json!({"metadata": {"name": name, "namespace": "velero",
                "creationTimestamp": "2026-10-01T00:00:00Z"},
            "spec": {"schedule": cron, "template": {"ttl": "720h0m0s"}}, "status": {"phase": "Enabled"}}))
    }

    /// A backup shaped as Velero writes it.
    fn backup(schedule: &str, started: &str, phase: &str, errors: i64, warnings: i64) -> (ObjectKey, BackupSummary) {
        let start = at(started);
        let name = format!("{schedule}-{}", start.strftime("%Y%m%d%H%M%S"));
        let mut v = json!({"apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": name, "namespace": "velero", "creationTimestamp": started,
                "labels": {SCHEDULE_LABEL: schedule, "velero.io/storage-location": "default"}},
            "spec": {"storageLocation": "default", "ttl": "720h0m0s"},
            "status": {"phase": phase, "startTimestamp": started, "errors": errors, "warnings": warnings,
                "progress": {"totalItems": 400, "itemsBackedUp": 400}}});
        if VeleroPhase::parse(phase).finished() {
            v["status"]["completionTimestamp"] = json!((start + SignedDuration::from_secs(40)).to_string());
        }
        if phase == "Failed" {
            v["status"]["failureReason"] = json!("timed out waiting for all PodVolumeBackups to complete");
        }
        (("velero".into(), name), BackupSummary::fold(&v))
    }

    fn storage(phase: &str) -> StorageSummary {
        StorageSummary::fold(&json!({"metadata": {"name": "default", "namespace": "velero"},
            "spec": {"default": true, "provider": "aws", "objectStorage": {"bucket": "b"}},
            "status": {"phase": phase, "lastValidationTime": "2026-11-24T10:00:00Z",
                "message": if phase == "Unavailable" { "S3 503" } else { "" }}}))
    }

    fn judge_at(s: &ScheduleSummary, backups: &[(ObjectKey, BackupSummary)], now: &str) -> ScheduleHealth {
        let grace = Duration::from_secs(30 * 60);
        judge(s, backups.iter().map(|(k, b)| (k, b)), [&storage("Available")], at(now), grace)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn hourly_daily_and_weekly_schedules_have_their_own_targets() {
        let hourly = schedule("hourly", "0 * * * *");
        let b = [backup("hourly", "2026-11-24T09:00:02Z", "Completed", 0, 0)];
        // 10:20: the 10:00 run is still within its grace; 09:00 covers the run due.
        let h = judge_at(&hourly, &b, "2026-11-24T10:20:00Z");
        assert_eq!(h.rpo, Rpo::Within);
        assert_eq!(h.interval, Some(HOUR));
        assert_eq!(h.grace, Duration::from_secs(30 * 60));
        assert_eq!(h.next_run, Some(at("2026-11-24T11:00:00Z")));
        assert_eq!(h.changes_at, Some(at("2026-11-24T10:30:00Z")), "when the 10:00 run's grace ends");
        // 10:31: the 10:00 run should have finished; it did not.
        let h = judge_at(&hourly, &b, "2026-11-24T10:31:00Z");
        assert_eq!(h.changes_at, Some(at("2026-11-24T11:00:00Z")), "when the next run comes");
        assert_eq!(h.rpo, Rpo::Late { since: at("2026-11-24T10:30:00Z") });
        assert_eq!(h.age(at("2026-11-24T10:31:00Z")), Some(Duration::from_secs(91 * 60 - 2)));

        // The same 26-hour-old backup: late for an hourly schedule, and for a daily one.
        let daily = schedule("daily", "0 1 * * *");
        let d = [backup("daily", "2026-11-23T01:00:00Z", "Completed", 0, 0)];
        assert_eq!(judge_at(&daily, &d, "2026-11-24T00:59:00Z").rpo, Rpo::Within);
        assert_eq!(judge_at(&daily, &d, "2026-11-24T01:29:00Z").rpo, Rpo::Within, "within the grace");
        assert!(judge_at(&daily, &d, "2026-11-24T01:31:00Z").rpo.breached());
        assert_eq!(judge_at(&daily, &d, "2026-11-24T00:59:00Z").interval, Some(24 * HOUR));

        // Weekly (Sunday 03:00): a six-day-old backup is fine, an eight-day-old one is not.
        let weekly = schedule("weekly", "0 3 * * 0");
        let w = [backup("weekly", "2026-11-22T03:00:00Z", "Completed", 0, 0)];
        let h = judge_at(&weekly, &w, "2026-11-28T12:00:00Z");
        assert_eq!(h.rpo, Rpo::Within);
        assert_eq!(h.interval, Some(7 * 24 * HOUR));
        assert!(judge_at(&weekly, &w, "2026-11-30T04:00:00Z").rpo.breached());

        // @every is judged by its interval; a five-minute one gets half of it as grace.
        let every = schedule("often", "@every 5m");
        let e = [backup("often", "2026-11-24T10:00:00Z", "Completed", 0, 0)];
        let h = judge_at(&every, &e, "2026-11-24T10:07:00Z");
        assert_eq!((h.rpo.clone(), h.grace), (Rpo::Within, Duration::from_secs(150)));
        assert!(judge_at(&every, &e, "2026-11-24T10:08:00Z").rpo.breached());
    }

    #[test]
    fn a_paused_schedule_is_called_out_and_goes_late() {
        let mut s = schedule("daily", "0 1 * * *");
        s.paused = true;
        let b = [backup("daily", "2026-11-20T01:00:00Z", "Completed", 0, 0)];
        let h = judge_at(&s, &b, "2026-11-24T10:00:00Z");
        assert!(h.findings.contains(&Finding::Paused));
        assert!(h.rpo.breached(), "paused for days: the RPO is gone");
        assert_eq!(h.next_run, None, "no run is coming");
        assert_eq!(h.severity(), 3);
        let fresh = [backup("daily", "2026-11-24T01:00:00Z", "Completed", 0, 0)];
        let h = judge_at(&s, &fresh, "2026-11-24T10:00:00Z");
        assert_eq!((h.rpo.clone(), h.severity()), (Rpo::Within, 2), "paused but not late yet: a warning");
    }

    #[test]
    fn a_failure_newer_than_the_last_good_backup_is_called_out() {
        let s = schedule("hourly", "0 * * * *");
        let b = [
            backup("hourly", "2026-11-24T08:00:00Z", "Completed", 0, 0),
            backup("hourly", "2026-11-24T09:00:00Z", "Failed", 1, 0),
        ];
        let h = judge_at(&s, &b, "2026-11-24T09:20:00Z");
        assert_eq!(h.rpo, Rpo::Within, "08:00 still covers the run due (08:00)");
        assert!(
            matches!(&h.findings[..], [Finding::LastFailed { phase, why, .. }] if phase == "Failed" && why.contains("PodVolumeBackups"))
        );
        assert_eq!(h.last_attempt.as_ref().unwrap().1, "hourly-20261124090000");
        assert_eq!(h.severity(), 2);
        // Past the grace of the 09:00 run, the failure costs the RPO.
        assert!(judge_at(&s, &b, "2026-11-24T09:31:00Z").rpo.breached());
    }

    #[test]
    fn a_failure_older_than_the_last_good_backup_does_not_latch() {
        let s = schedule("hourly", "0 * * * *");
        let b = [
            backup("hourly", "2026-11-24T08:00:00Z", "Failed", 1, 0),
            backup("hourly", "2026-11-24T09:00:00Z", "Completed", 0, 0),
        ];
        let h = judge_at(&s, &b, "2026-11-24T09:40:00Z");
        assert_eq!(h.rpo, Rpo::Within);
        assert!(h.findings.is_empty(), "{:?}", h.findings);
        assert_eq!(h.severity(), 0);
        // A backup in flight is the last attempt, and not a failure.
        let mut running = b.to_vec();
        running.push(backup("hourly", "2026-11-24T10:00:01Z", "InProgress", 0, 0));
        let h = judge_at(&s, &running, "2026-11-24T10:00:30Z");
        assert_eq!(h.last_attempt.as_ref().unwrap().1, "hourly-20261124100001");
        assert!(h.findings.is_empty());
    }

    #[test]
    fn warnings_and_partial_failures_are_not_good_backups() {
        let s = schedule("hourly", "0 * * * *");
        let warned = [backup("hourly", "2026-11-24T09:00:00Z", "Completed", 0, 3)];
        let h = judge_at(&s, &warned, "2026-11-24T09:40:00Z");
        assert_eq!(h.rpo, Rpo::Within, "completed with warnings still counts");
        assert_eq!(h.findings, [Finding::Warnings { backup: "hourly-20261124090000".into(), warnings: 3 }]);
        assert_eq!(h.severity(), 1);
        let partial = [
            backup("hourly", "2026-11-24T08:00:00Z", "Completed", 0, 0),
            backup("hourly", "2026-11-24T09:00:00Z", "PartiallyFailed", 2, 1),
        ];
        let h = judge_at(&s, &partial, "2026-11-24T09:40:00Z");
        assert!(h.rpo.breached(), "a partial backup does not cover the run");
        assert!(
            matches!(&h.findings[..], [Finding::LastFailed { phase, why, .. }] if phase == "PartiallyFailed" && why == "2 errors")
        );
    }

    #[test]
    fn never_backed_up_not_due_yet_and_invalid_schedules() {
        let s = schedule("daily", "0 1 * * *");
        let h = judge_at(&s, &[], "2026-11-24T10:00:00Z");
        assert_eq!(h.rpo, Rpo::Never { since: at("2026-11-24T01:30:00Z") });
        let mut new = schedule("daily", "0 1 * * *");
        new.created = Some(at("2026-11-24T09:00:00Z"));
        assert_eq!(judge_at(&new, &[], "2026-11-24T10:00:00Z").rpo, Rpo::NotDue);
        let bad = schedule("typo", "0 25 * * *");
        assert!(matches!(judge_at(&bad, &[], "2026-11-24T10:00:00Z").rpo, Rpo::Invalid(_)));
        // Backups of other schedules do not count.
        let other = [backup("hourly", "2026-11-24T09:00:00Z", "Completed", 0, 0)];
        assert!(judge_at(&s, &other, "2026-11-24T10:00:00Z").rpo.breached());
    }

    #[test]
    fn storage_unavailable_is_critical() {
        let s = schedule("hourly", "0 * * * *");
        let b = [backup("hourly", "2026-11-24T09:00:00Z", "Completed", 0, 0)];
        let h = judge(&s, b.iter().map(|(k, b)| (k, b)), [&storage("Unavailable")], at("2026-11-24T09:40:00Z"), HOUR);
        assert_eq!(h.rpo, Rpo::Within);
        assert!(matches!(&h.findings[..], [Finding::StorageUnavailable { message, .. }] if message == "S3 503"));
        assert_eq!(h.severity(), 3);
        assert!(h.findings[0].text().contains("unavailable: S3 503"));
    }

    #[test]
    fn folds_read_the_real_paths() {
        let (_, b) = backup("hourly", "2026-11-24T09:00:00Z", "InProgress", 0, 0);
        assert_eq!(b.schedule.as_deref(), Some("hourly"));
        assert_eq!((b.items_backed_up, b.total_items), (400, 400));
        assert_eq!(b.duration(at("2026-11-24T09:01:00Z")), Some(Duration::from_secs(60)));
        let r = RestoreSummary::fold(&json!({"metadata": {"name": "r1", "namespace": "velero"},
            "spec": {"backupName": "hourly-1"},
            "status": {"phase": "Completed", "startTimestamp": "2026-11-24T09:00:00Z",
                "completionTimestamp": "2026-11-24T09:00:42Z", "progress": {"totalItems": 10, "itemsRestored": 10},
                "warnings": 2}}));
        assert_eq!((r.backup.as_str(), r.took(), r.warnings), ("hourly-1", Some(Duration::from_secs(42)), 2));
        // Odd shapes: no status, wrong types.
        let odd = BackupSummary::fold(&json!({"metadata": {"name": "x"}, "status": {"errors": "many", "progress": 3}}));
        assert_eq!((odd.phase.as_str(), odd.errors, odd.total_items, odd.data_at()), ("", 0, 0, None));
    }
}
