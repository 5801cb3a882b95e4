//! Rollback triggers: the conditions under which fleetdeck suggests rolling a cluster
//! back, evaluated from what it already knows of the cluster (pure arithmetic, no
//! writes). Each has a threshold and a window, as Flagger's analysis has a failed-check
//! threshold and an interval:
//!
//! - service disruption: the cluster Unreachable or Degraded, or Deployments short of
//!   ready replicas, for longer than `disruption_after`;
//! - security: more new failed policy results than `new_violations` since the spoke's
//!   current revision arrived (the count before it is the baseline), for `violations_for`;
//! - performance: API p95 over the latency target in `latency_checks` consecutive checks
//!   of `latency_interval` each, or propagation over its target for `slow_revisions`
//!   revisions in a row.
//!
//! A trigger that has not reached its threshold is *watching* (shown in the cluster's
//! detail: `failed checks 3/5`); one that has is *firing* (the red line on every pane).

use std::collections::VecDeque;
use std::time::Duration;

use jiff::Timestamp;

use super::cluster::State;
use super::probes::Sample;
use super::summary::ObjectKey;
use super::{ago, later};

/// The thresholds and windows (`[rollback.triggers]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TriggerSettings {
    pub disruption_after: Duration,
    pub new_violations: u64,
    pub violations_for: Duration,
    pub latency_checks: u32,
    pub latency_interval: Duration,
    pub slow_revisions: u32,
}

impl Default for TriggerSettings {
    fn default() -> Self {
        Self {
            disruption_after: Duration::from_secs(120),
            new_violations: 0,
            violations_for: Duration::from_secs(60),
            latency_checks: 5,
            latency_interval: Duration::from_secs(30),
            slow_revisions: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TriggerKind {
    Disruption,
    Security,
    Latency,
    Propagation,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 4] =
        [TriggerKind::Disruption, TriggerKind::Security, TriggerKind::Latency, TriggerKind::Propagation];

    /// As the trigger line and `check --json` name it.
    pub fn label(self) -> &'static str {
        match self {
            TriggerKind::Disruption => "service disruption",
            TriggerKind::Security => "security",
            TriggerKind::Latency => "performance: latency",
            TriggerKind::Propagation => "performance: propagation",
        }
    }

    /// A stable name for scripts, labels and Event names.
    pub fn id(self) -> &'static str {
        match self {
            TriggerKind::Disruption => "disruption",
            TriggerKind::Security => "security",
            TriggerKind::Latency => "latency",
            TriggerKind::Propagation => "propagation",
        }
    }
}

/// One trigger of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub kind: TriggerKind,
    /// When its condition became true (the first failed check).
    pub since: Timestamp,
    /// Whether it reached its threshold.
    pub firing: bool,
    /// What is wrong, in words: `3 workloads not ready`, `failed checks 3/5`.
    pub detail: String,
}

impl Trigger {
    /// The trigger line's text for `cluster`, at `now`.
    pub fn line(&self, cluster: &str, now: Timestamp) -> String {
        let lasting = humanize(ago(now, self.since));
        match self.kind {
            TriggerKind::Disruption => format!("{cluster} · service disruption for {lasting} · {}", self.detail),
            _ => format!("{cluster} · {} · {} (for {lasting})", self.kind.label(), self.detail),
        }
    }
}

impl Trigger {
    /// The line in fewer words, for narrow screens: `staging-eu-1 · disruption 16m ·
    /// velero/velero not ready`.
    pub fn short_line(&self, cluster: &str, now: Timestamp) -> String {
        format!("{cluster} · {} {} · {}", self.kind.id(), humanize(ago(now, self.since)), self.detail)
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// What a cluster's triggers are judged from.
#[derive(Debug, Clone, Copy)]
pub struct TriggerFacts<'a> {
    pub state: &'a State,
    /// Deployments short of ready replicas, since when.
    pub unready: &'a super::cluster::Store<ObjectKey, Timestamp>,
    /// The failed policy results over time, a point per change.
    pub violations: &'a VecDeque<(Timestamp, i64)>,
    /// When the spoke's current revision arrived (its newest Kustomization revision's
    /// first reconcile); `None` for the hub or before it is known.
    pub revision_at: Option<Timestamp>,
    /// The API probes of the latency window, oldest first.
    pub probes: &'a VecDeque<Sample>,
    pub latency_target: Duration,
    /// Each of the spoke's Kustomizations' revisions, oldest first: when it became
    /// Ready and how long it took to arrive (`None`: not measured).
    pub propagations: &'a [Vec<(Timestamp, Option<Duration>)>],
    pub propagation_target: Duration,
}

/// The cluster's triggers at `now` (firing and watching), and when the judgment changes
/// with no new data (a window ending).
pub fn evaluate(f: &TriggerFacts, s: &TriggerSettings, now: Timestamp) -> (Vec<Trigger>, Option<Timestamp>) {
    let mut triggers = Vec::new();
    let mut changes: Option<Timestamp> = None;
    let mut at = |t: Timestamp| {
        if t > now {
            changes = Some(changes.map_or(t, |c| c.min(t)));
        }
    };
    if let Some(t) = disruption(f, s, now) {
        at(later(t.since, s.disruption_after));
        triggers.push(t);
    }
    if let Some(t) = security(f, s, now) {
        at(later(t.since, s.violations_for));
        triggers.push(t);
    }
    if let Some((t, next)) = latency(f, s, now) {
        at(next);
        triggers.push(t);
    }
    if let Some(t) = propagation(f, s) {
        triggers.push(t);
    }
    (triggers, changes)
}

fn disruption(f: &TriggerFacts, s: &TriggerSettings, now: Timestamp) -> Option<Trigger> {
    let state = match f.state {
        State::Unreachable { since, .. } => Some((*since, "unreachable")),
        State::Degraded { since, .. } => Some((*since, "degraded")),
        _ => None,
    };
    let oldest_unready = f.unready.values().min().copied();
    let over = |since: Timestamp| ago(now, since) >= s.disruption_after;
    let short: Vec<&ObjectKey> = f.unready.iter().filter(|(_, t)| over(**t)).map(|(k, _)| k).collect();
    let workloads = match short.len() {
        0 => None,
        1 => Some(format!("{}/{} not ready", short[0].0, short[0].1)),
        n => Some(format!("{n} workloads not ready")),
    };
    let since = [state.map(|(t, _)| t), oldest_unready].into_iter().flatten().min()?;
    let firing = state.is_some_and(|(t, _)| over(t)) || workloads.is_some();
    let detail = match (state, workloads) {
        (Some((_, what)), Some(w)) => format!("{what} · {w}"),
        (Some((_, what)), None) => what.to_owned(),
        (None, Some(w)) => w,
        (None, None) => format!("{} workloads not ready", f.unready.len()),
    };
    Some(Trigger { kind: TriggerKind::Disruption, since, firing, detail })
}

/// The count in effect at `at`: the last point at or before it, else the first known.
fn count_at(points: &VecDeque<(Timestamp, i64)>, at: Timestamp) -> Option<i64> {
    points.iter().rev().find(|(t, _)| *t <= at).or(points.front()).map(|&(_, n)| n)
}

/// The failed policy results before the spoke's current revision arrived: what the
/// security trigger and a rollback's verification compare with.
pub fn violations_baseline(f: &TriggerFacts) -> Option<i64> {
    count_at(f.violations, f.revision_at?)
}

fn security(f: &TriggerFacts, s: &TriggerSettings, now: Timestamp) -> Option<Trigger> {
    let revision_at = f.revision_at?;
    let baseline = violations_baseline(f)?;
    let (_, current) = *f.violations.back()?;
    let new = current - baseline;
    if new <= s.new_violations as i64 {
        return None;
    }
    // Since the count last rose above the threshold (after the revision arrived).
    let threshold = baseline + s.new_violations as i64;
    let mut since = None;
    for &(t, n) in f.violations.iter() {
        if n > threshold {
            since.get_or_insert(t.max(revision_at));
        } else {
            since = None;
        }
    }
    let since = since?;
    Some(Trigger {
        kind: TriggerKind::Security,
        since,
        firing: ago(now, since) >= s.violations_for,
        detail: format!("{new} new policy violation{} since the revision", if new == 1 { "" } else { "s" }),
    })
}

/// Consecutive failed latency checks, newest first: each check is one interval of probes
/// (ending at the last whole interval before `now`) whose p95 is over the target; an
/// interval without an answered probe is no check and ends the run. Returns the count,
/// when the first failed check of the run began, and when the next check ends.
pub fn failed_checks(
    probes: &VecDeque<Sample>,
    target: Duration,
    interval: Duration,
    max: u32,
    now: Timestamp,
) -> (u32, Option<Timestamp>, Timestamp) {
    let step = interval.as_nanos().max(1) as i128;
    let now_ns = now.as_nanosecond();
    let end = now_ns - now_ns.rem_euclid(step);
    let next = Timestamp::from_nanosecond(end + step).unwrap_or(now);
    let mut count = 0;
    let mut first = None;
    let mut hi = end;
    while count < max {
        let lo = hi - step;
        let mut took: Vec<Duration> = probes
            .iter()
            .filter(|p| p.charged())
            .filter(|p| (lo..hi).contains(&p.at.as_nanosecond()))
            .filter_map(|p| p.outcome.as_ref().ok().copied())
            .collect();
        if took.is_empty() {
            break;
        }
        took.sort();
        let p95 = super::propagation::percentile(&took, 0.95).unwrap_or_default();
        if p95 <= target {
            break;
        }
        count += 1;
        first = Timestamp::from_nanosecond(lo).ok();
        hi = lo;
    }
    (count, first, next)
}

fn latency(f: &TriggerFacts, s: &TriggerSettings, now: Timestamp) -> Option<(Trigger, Timestamp)> {
    let (failed, first, next) = failed_checks(f.probes, f.latency_target, s.latency_interval, s.latency_checks, now);
    let since = first.filter(|_| failed > 0)?;
    let trigger = Trigger {
        kind: TriggerKind::Latency,
        since,
        firing: failed >= s.latency_checks,
        detail: format!("p95 over {} ms · failed checks {failed}/{}", f.latency_target.as_millis(), s.latency_checks),
    };
    Some((trigger, next))
}

fn propagation(f: &TriggerFacts, s: &TriggerSettings) -> Option<Trigger> {
    let need = s.slow_revisions as usize;
    // The longest run of slow revisions ending at the newest, over the Kustomizations,
    // and when its first one arrived.
    let slow = |t: &Option<Duration>| t.is_some_and(|t| t > f.propagation_target);
    let (slow, since) = f
        .propagations
        .iter()
        .filter_map(|times| {
            let run: Vec<_> = times.iter().rev().take_while(|(_, t)| slow(t)).take(need).collect();
            Some((run.len(), run.last()?.0))
        })
        .max_by_key(|&(n, at)| (n, std::cmp::Reverse(at)))?;
    Some(Trigger {
        kind: TriggerKind::Propagation,
        since,
        firing: slow >= need,
        detail: format!("over {} s for {slow}/{need} revisions in a row", f.propagation_target.as_secs()),
    })
}

#[cfg(test)]
#[path = "trigger_tests.rs"]
mod tests;
