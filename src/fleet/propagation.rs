//! Propagation time: for every revision a hub source produces, how long each Kustomization
//! took to become Ready at it.
//!
//! Two clocks measure it. The status timestamps (the source's
//! `status.artifact.lastUpdateTime`, the Kustomization's `status.history[].firstReconciled`
//! or Ready `lastTransitionTime`) are both written by the hub's controllers, so they share a
//! clock, but have one-second resolution. The watch arrival times (when fleetdeck saw the
//! new artifact, and when it saw the Kustomization Ready at it) are as fine as the watch
//! and the coalescing window, but exist only for changes seen live. A propagation of at
//! least [`COARSE_BELOW`] is taken from the status; a shorter one from the arrival times
//! when both were live and they agree with the status within its resolution (a watch
//! delayed on a busy machine must not make a propagation look faster than it was); one
//! whose status timestamps are missing or out of order, from the arrival times alone.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;

use super::summary::{ConditionStatus, KustomizationSummary, ObjectKey, SourceRef, SourceSummary};

/// Revisions kept per source, and applied revisions kept per Kustomization.
pub const KEPT_REVISIONS: usize = 32;

/// Below this, one-second status timestamps are too coarse and arrival times are used.
pub const COARSE_BELOW: Duration = Duration::from_secs(5);

/// The resolution of status timestamps: an arrival-time measure further than this from the
/// status measure is the watch's delay, not a finer reading.
const STATUS_RESOLUTION: Duration = Duration::from_secs(1);

/// Which clock a propagation time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Status,
    Arrival,
}

impl Measure {
    pub fn label(self) -> &'static str {
        match self {
            Measure::Status => "status timestamps",
            Measure::Arrival => "watch arrival",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Took {
    pub duration: Duration,
    pub by: Measure,
}

/// A revision a source produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionSeen {
    pub revision: String,
    /// `status.artifact.lastUpdateTime`.
    pub produced_at: Option<Timestamp>,
    /// When fleetdeck first saw it.
    pub arrived_at: Timestamp,
    /// Seen as a change while watching (not in a list), so `arrived_at` is meaningful.
    pub live: bool,
}

impl RevisionSeen {
    /// When the hub got it: its artifact time, else when fleetdeck saw it.
    pub fn since(&self) -> Timestamp {
        self.produced_at.unwrap_or(self.arrived_at)
    }
}

/// A revision a Kustomization became Ready at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedSeen {
    pub revision: String,
    pub ready_at: Option<Timestamp>,
    pub arrived_at: Timestamp,
    pub live: bool,
    /// Set once the source's revision is known.
    pub took: Option<Took>,
}

impl AppliedSeen {
    /// When it became Ready, by the best clock there is.
    pub fn at(&self) -> Timestamp {
        self.ready_at.unwrap_or(self.arrived_at)
    }
}

#[derive(Debug, Clone)]
struct KsLog {
    source: SourceRef,
    remote: bool,
    applied: VecDeque<AppliedSeen>,
}

/// Per-spoke figures over a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropagationStats {
    /// The most recent propagation.
    pub last: Option<Took>,
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub max: Option<Duration>,
    /// Propagations in the window, and how many of them took longer than the target.
    pub count: usize,
    pub over: usize,
    /// When the oldest of them leaves the window (the figures change then).
    pub changes_at: Option<Timestamp>,
}

/// One revision of one source across the fleet's remote Kustomizations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRow {
    pub source: SourceRef,
    pub seen: RevisionSeen,
    /// Propagation times of the remote Kustomizations that applied it.
    pub times: Vec<Duration>,
    /// Remote Kustomizations that follow the source now.
    pub following: usize,
    /// Whether it is the source's newest revision (the others were superseded).
    pub current: bool,
}

impl RevisionRow {
    pub fn slowest(&self) -> Option<Duration> {
        self.times.iter().max().copied()
    }
}

/// A propagation that happened while fleetdeck watched (the Kustomization's Ready at the
/// revision arrived as a change, not in a list): what a consumer that counts each one once
/// (`serve`'s histogram) takes, by its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub seq: u64,
    pub key: ObjectKey,
    pub took: Took,
}

/// Completions kept for consumers that fell behind (they drain after every update).
const KEPT_COMPLETIONS: usize = 1024;

/// The propagation history the model keeps (bounded).
#[derive(Debug, Clone, Default)]
pub struct PropagationLog {
    sources: HashMap<SourceRef, VecDeque<RevisionSeen>>,
    kustomizations: HashMap<ObjectKey, KsLog>,
    completions: VecDeque<Completion>,
    completed: u64,
}

fn span(from: Timestamp, to: Timestamp) -> Option<Duration> {
    Duration::try_from(to.duration_since(from)).ok()
}

fn took(revision: &RevisionSeen, applied: &AppliedSeen) -> Option<Took> {
    let status = revision.produced_at.zip(applied.ready_at).and_then(|(p, r)| span(p, r));
    let arrival = (revision.live && applied.live).then(|| span(revision.arrived_at, applied.arrived_at)).flatten();
    match (status, arrival) {
        (Some(s), _) if s >= COARSE_BELOW => Some(Took { duration: s, by: Measure::Status }),
        (Some(s), Some(a)) if a.abs_diff(s) > STATUS_RESOLUTION => Some(Took { duration: s, by: Measure::Status }),
        (_, Some(a)) => Some(Took { duration: a, by: Measure::Arrival }),
        (Some(s), None) => Some(Took { duration: s, by: Measure::Status }),
        (None, None) => None,
    }
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

impl PropagationLog {
    /// A source as it arrived: a revision not seen before is recorded, and Kustomizations
    /// that were already Ready at it get their propagation time.
    pub fn observe_source(&mut self, source: &SourceSummary, at: Timestamp, live: bool) {
        if source.revision.is_empty() {
            return;
        }
        let revisions = self.sources.entry(source.id.clone()).or_default();
        if revisions.back().is_some_and(|r| r.revision == source.revision) {
            return;
        }
        let seen =
            RevisionSeen { revision: source.revision.clone(), produced_at: source.produced_at, arrived_at: at, live };
        if revisions.len() == KEPT_REVISIONS {
            revisions.pop_front();
        }
        revisions.push_back(seen.clone());
        let mut done = Vec::new();
        for (key, log) in self.kustomizations.iter_mut().filter(|(_, l)| l.source == source.id) {
            for applied in log.applied.iter_mut().filter(|a| a.revision == seen.revision && a.took.is_none()) {
                applied.took = took(&seen, applied);
                if let (Some(t), true) = (applied.took, applied.live) {
                    done.push((key.clone(), t));
                }
            }
        }
        for (key, t) in done {
            self.complete(key, t);
        }
    }

    fn complete(&mut self, key: ObjectKey, took: Took) {
        self.completed += 1;
        if self.completions.len() == KEPT_COMPLETIONS {
            self.completions.pop_front();
        }
        self.completions.push_back(Completion { seq: self.completed, key, took });
    }

    /// The sequence number of the newest completion (0 before any).
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Completions after sequence number `seq`, oldest first (those still kept).
    pub fn completions_after(&self, seq: u64) -> impl Iterator<Item = &Completion> {
        self.completions.iter().filter(move |c| c.seq > seq)
    }

    /// A Kustomization as it arrived: when it is Ready at a revision it was not Ready at
    /// before, that is a propagation.
    pub fn observe_kustomization(&mut self, key: &ObjectKey, ks: &KustomizationSummary, at: Timestamp, live: bool) {
        let log = self.kustomizations.entry(key.clone()).or_insert_with(|| KsLog {
            source: ks.source.clone(),
            remote: ks.remote,
            applied: VecDeque::new(),
        });
        log.source = ks.source.clone();
        log.remote = ks.remote;
        let ready = ks.ready.as_ref().is_some_and(|c| c.status == ConditionStatus::True);
        let revision = &ks.last_applied_revision;
        if !ready || revision.is_empty() || log.applied.back().is_some_and(|a| a.revision == *revision) {
            return;
        }
        let mut applied =
            AppliedSeen { revision: revision.clone(), ready_at: ks.applied_at, arrived_at: at, live, took: None };
        let source = self.sources.get(&ks.source).and_then(|rs| rs.iter().rev().find(|r| r.revision == *revision));
        if let Some(seen) = source {
            applied.took = took(seen, &applied);
        }
        if log.applied.len() == KEPT_REVISIONS {
            log.applied.pop_front();
        }
        let done = applied.took.filter(|_| applied.live);
        log.applied.push_back(applied);
        if let Some(t) = done {
            self.complete(key.clone(), t);
        }
    }

    /// Keeps the Kustomizations `keep` says still exist (after a relist or deletions).
    pub fn retain_kustomizations(&mut self, mut keep: impl FnMut(&ObjectKey) -> bool) {
        self.kustomizations.retain(|k, _| keep(k));
    }

    /// Keeps the sources `keep` says still exist.
    pub fn retain_sources(&mut self, mut keep: impl FnMut(&SourceRef) -> bool) {
        self.sources.retain(|k, _| keep(k));
    }

    /// The revisions of a source seen so far, oldest first.
    pub fn revisions(&self, source: &SourceRef) -> impl Iterator<Item = &RevisionSeen> {
        self.sources.get(source).into_iter().flatten()
    }

    /// The revisions a Kustomization became Ready at, oldest first.
    pub fn applied(&self, key: &ObjectKey) -> impl Iterator<Item = &AppliedSeen> {
        self.kustomizations.get(key).into_iter().flat_map(|l| l.applied.iter())
    }

    /// Since when a Kustomization has been behind its source: when the hub got the first
    /// revision it has not applied (not before the Kustomization existed). `None` when it
    /// is at the source's revision or the source has none.
    pub fn behind_since(&self, ks: &KustomizationSummary, source: &SourceSummary) -> Option<Timestamp> {
        if source.revision.is_empty() || ks.last_applied_revision == source.revision {
            return None;
        }
        let revisions = self.sources.get(&source.id);
        let after_applied = revisions.and_then(|rs| {
            let at = rs.iter().rposition(|r| r.revision == ks.last_applied_revision)?;
            rs.get(at + 1).map(RevisionSeen::since)
        });
        let current = revisions
            .and_then(|rs| rs.iter().rev().find(|r| r.revision == source.revision))
            .map(RevisionSeen::since)
            .or(source.produced_at);
        let since = after_applied.or(current)?;
        Some(match ks.created {
            Some(created) if created > since => created,
            _ => since,
        })
    }

    /// Propagation figures of some Kustomizations (a spoke's) over the `window` before
    /// `now`, against `target`.
    pub fn stats<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a ObjectKey>,
        now: Timestamp,
        window: Duration,
        target: Duration,
    ) -> PropagationStats {
        let mut last: Option<(Timestamp, Took)> = None;
        let mut times = Vec::new();
        let mut changes = super::Horizon::new(now);
        for key in keys {
            for applied in self.applied(key) {
                let Some(took) = applied.took else { continue };
                if span(applied.at(), now).is_some_and(|age| age > window) {
                    continue;
                }
                changes.after(super::later(applied.at(), window));
                times.push(took.duration);
                if last.is_none_or(|(at, _)| applied.at() >= at) {
                    last = Some((applied.at(), took));
                }
            }
        }
        times.sort_unstable();
        PropagationStats {
            last: last.map(|(_, t)| t),
            p50: percentile(&times, 0.50),
            p95: percentile(&times, 0.95),
            max: times.last().copied(),
            count: times.len(),
            over: times.iter().filter(|t| **t > target).count(),
            changes_at: changes.get(),
        }
    }

    /// The last `n` revisions of every source, oldest first, with the propagation times of
    /// the remote Kustomizations that applied them (the fleet-wide chart).
    pub fn recent_revisions(&self, n: usize) -> Vec<RevisionRow> {
        let mut rows: Vec<RevisionRow> = Vec::new();
        for (source, revisions) in &self.sources {
            let following: Vec<&KsLog> =
                self.kustomizations.values().filter(|l| l.remote && l.source == *source).collect();
            if following.is_empty() {
                continue;
            }
            let newest = revisions.back().map(|r| r.revision.as_str());
            for seen in revisions.iter().rev().take(n) {
                let times = following
                    .iter()
                    .flat_map(|l| l.applied.iter())
                    .filter(|a| a.revision == seen.revision)
                    .filter_map(|a| a.took.map(|t| t.duration))
                    .collect();
                rows.push(RevisionRow {
                    source: source.clone(),
                    seen: seen.clone(),
                    times,
                    following: following.len(),
                    current: newest == Some(seen.revision.as_str()),
                });
            }
        }
        rows.sort_by_key(|r| (r.seen.since(), r.source.clone()));
        let skip = rows.len().saturating_sub(n);
        rows.split_off(skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn rfc(s: i64) -> String {
        t(s).to_string()
    }

    /// A GitRepository with its artifact at `revision`, produced at second `at`.
    fn source(revision: &str, at: i64) -> SourceSummary {
        SourceSummary::fold(&json!({"kind": "GitRepository",
            "metadata": {"namespace": "flux-system", "name": "fleet-policies", "generation": 1},
            "status": {"observedGeneration": 1, "artifact": {"revision": revision, "lastUpdateTime": rfc(at),
                "digest": "sha256:0f", "path": "gitrepository/flux-system/fleet-policies/x.tar.gz"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "lastTransitionTime": rfc(at),
                    "message": format!("stored artifact for revision '{revision}'")}]}}))
    }

    /// A spoke's remote Kustomization Ready at `revision` since second `ready` (or
    /// reconciling when `ready` is None).
    fn ks(spoke: &str, revision: &str, ready: Option<i64>) -> (ObjectKey, KustomizationSummary) {
        let condition = match ready {
            Some(at) => json!({"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                "message": format!("Applied revision: {revision}"), "lastTransitionTime": rfc(at)}),
            None => json!({"type": "Ready", "status": "Unknown", "reason": "Progressing",
                "message": "Reconciliation in progress", "lastTransitionTime": rfc(0)}),
        };
        let history = ready.map_or(json!([]), |at| {
            json!([{"digest": "sha256:aa", "firstReconciled": rfc(at), "lastReconciled": rfc(at),
                "lastReconciledDuration": "2.1s", "lastReconciledStatus": "ReconciliationSucceeded",
                "totalReconciliations": 1, "metadata": {"revision": revision}}])
        });
        let v = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"namespace": spoke, "name": "policies", "generation": 1, "creationTimestamp": rfc(-3600)},
            "spec": {"interval": "10m", "path": "./policies/production", "prune": true,
                "sourceRef": {"kind": "GitRepository", "name": "fleet-policies", "namespace": "flux-system"},
                "kubeConfig": {"secretRef": {"name": "cluster-kubeconfig", "key": "value"}}},
            "status": {"observedGeneration": 1, "lastAppliedRevision": if ready.is_some() { revision } else { "main@sha1:old" },
                "lastAttemptedRevision": revision, "conditions": [condition], "history": history}});
        ((spoke.to_owned(), "policies".to_owned()), KustomizationSummary::fold(&v))
    }

    #[test]
    fn status_timestamps_measure_propagations_of_five_seconds_and_more() {
        let mut log = PropagationLog::default();
        log.observe_source(&source("main@sha1:r1", 100), t(101), true);
        let (key, a) = ks("prod-a", "main@sha1:r1", Some(142));
        log.observe_kustomization(&key, &a, t(143), true);
        let applied: Vec<_> = log.applied(&key).collect();
        assert_eq!(applied[0].took, Some(Took { duration: Duration::from_secs(42), by: Measure::Status }));
        let stats = log.stats([&key], t(200), Duration::from_secs(3600), Duration::from_secs(30));
        assert_eq!(stats.last.unwrap().duration, Duration::from_secs(42));
        assert_eq!((stats.count, stats.over), (1, 1));
    }

    #[test]
    fn each_propagation_seen_live_is_one_completion_and_listed_ones_none() {
        let mut log = PropagationLog::default();
        // Listed at start: history, not something that happened while watching.
        log.observe_source(&source("main@sha1:r1", 100), t(500), false);
        let (a_key, a) = ks("prod-a", "main@sha1:r1", Some(142));
        log.observe_kustomization(&a_key, &a, t(500), false);
        assert_eq!(log.completed(), 0);
        // A new revision: prod-a Ready at it before the source's change arrived, prod-b after.
        let (_, a2) = ks("prod-a", "main@sha1:r2", Some(610));
        log.observe_kustomization(&a_key, &a2, t(611), true);
        assert_eq!(log.completed(), 0, "no time until the source's revision is known");
        log.observe_source(&source("main@sha1:r2", 600), t(612), true);
        let (b_key, b2) = ks("prod-b", "main@sha1:r2", Some(640));
        log.observe_kustomization(&b_key, &b2, t(641), true);
        // The same state again is no second completion.
        log.observe_kustomization(&b_key, &b2, t(650), true);
        let done: Vec<_> = log.completions_after(0).map(|c| (c.seq, c.key.0.as_str(), c.took.duration)).collect();
        assert_eq!(done, vec![(1, "prod-a", Duration::from_secs(10)), (2, "prod-b", Duration::from_secs(40))]);
        assert_eq!(log.completions_after(1).count(), 1, "a consumer takes only what it has not");
    }

    #[test]
    fn short_propagations_use_arrival_times_when_both_were_live() {
        let mut log = PropagationLog::default();
        log.observe_source(&source("main@sha1:r1", 100), t(100) + Duration::from_millis(300), true);
        let (key, a) = ks("prod-a", "main@sha1:r1", Some(102));
        log.observe_kustomization(&key, &a, t(102) + Duration::from_millis(900), true);
        let took = log.applied(&key).next().unwrap().took.unwrap();
        assert_eq!(took, Took { duration: Duration::from_millis(2600), by: Measure::Arrival });
        // Seen in a list (fleetdeck started later): arrival times mean nothing; coarse status it is.
        let mut listed = PropagationLog::default();
        listed.observe_source(&source("main@sha1:r1", 100), t(500), false);
        listed.observe_kustomization(&key, &a, t(500), false);
        assert_eq!(listed.applied(&key).next().unwrap().took.unwrap().by, Measure::Status);
        // The source's watch event arrived late (a busy machine): the arrival span says 0.5 s
        // where the status says 3 s, more than the status resolution apart; the status wins.
        let mut late = PropagationLog::default();
        late.observe_source(&source("main@sha1:r1", 100), t(103), true);
        let (key, b) = ks("prod-b", "main@sha1:r1", Some(103));
        late.observe_kustomization(&key, &b, t(103) + Duration::from_millis(500), true);
        let took = late.applied(&key).next().unwrap().took.unwrap();
        assert_eq!(took, Took { duration: Duration::from_secs(3), by: Measure::Status });
    }

    #[test]
    fn a_kustomization_listed_before_its_source_is_measured_when_the_source_arrives() {
        let mut log = PropagationLog::default();
        let (key, a) = ks("prod-a", "main@sha1:r1", Some(130));
        log.observe_kustomization(&key, &a, t(500), false);
        assert_eq!(log.applied(&key).next().unwrap().took, None);
        log.observe_source(&source("main@sha1:r1", 100), t(500), false);
        assert_eq!(log.applied(&key).next().unwrap().took.unwrap().duration, Duration::from_secs(30));
    }

    #[test]
    fn reconciling_is_not_applied_and_repeats_do_not_count_twice() {
        let mut log = PropagationLog::default();
        log.observe_source(&source("main@sha1:r1", 100), t(100), true);
        let (key, busy) = ks("prod-a", "main@sha1:r1", None);
        log.observe_kustomization(&key, &busy, t(101), true);
        assert_eq!(log.applied(&key).count(), 0);
        let (_, done) = ks("prod-a", "main@sha1:r1", Some(110));
        log.observe_kustomization(&key, &done, t(111), true);
        log.observe_kustomization(&key, &done, t(112), true);
        assert_eq!(log.applied(&key).count(), 1);
    }

    #[test]
    fn behind_since_is_the_first_revision_not_applied() {
        let mut log = PropagationLog::default();
        log.observe_source(&source("main@sha1:r1", 100), t(100), true);
        let (key, a) = ks("prod-a", "main@sha1:r1", Some(110));
        log.observe_kustomization(&key, &a, t(110), true);
        log.observe_source(&source("main@sha1:r2", 200), t(200), true);
        let r3 = source("main@sha1:r3", 300);
        log.observe_source(&r3, t(300), true);
        assert_eq!(log.behind_since(&a, &r3), Some(t(200)), "behind since r2, not r3");
        let (_, b) = ks("prod-b", "main@sha1:r3", Some(320));
        assert_eq!(log.behind_since(&b, &r3), None);
        // Applied a revision older than anything seen: behind since the current one.
        let (_, c) = ks("prod-c", "main@sha1:r0", Some(50));
        assert_eq!(log.behind_since(&c, &r3), Some(t(300)));
        // A Kustomization created after the revision is behind since its creation.
        let (_, mut d) = ks("prod-d", "main@sha1:r0", Some(50));
        d.created = Some(t(350));
        assert_eq!(log.behind_since(&d, &r3), Some(t(350)));
    }

    #[test]
    fn stats_over_the_window_and_recent_revisions() {
        let mut log = PropagationLog::default();
        let spokes = ["a", "b", "c", "d"];
        for (i, rev) in ["main@sha1:r1", "main@sha1:r2"].iter().enumerate() {
            let produced = 1000 * i as i64;
            log.observe_source(&source(rev, produced), t(produced), true);
            for (j, spoke) in spokes.iter().enumerate() {
                let (key, k) = ks(spoke, rev, Some(produced + 10 * (j as i64 + 1)));
                log.observe_kustomization(&key, &k, t(produced + 10 * (j as i64 + 1)), true);
            }
        }
        let d = ("d".to_owned(), "policies".to_owned());
        let all = log.stats([&d], t(1100), Duration::from_secs(3600), Duration::from_secs(30));
        assert_eq!((all.count, all.over, all.p50), (2, 2, Some(Duration::from_secs(40))));
        let recent = log.stats([&d], t(1100), Duration::from_secs(500), Duration::from_secs(30));
        assert_eq!(recent.count, 1, "the first revision is outside the window");
        let rows = log.recent_revisions(8);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].seen.revision, "main@sha1:r2");
        assert!(rows[1].current && !rows[0].current);
        assert_eq!(rows[1].following, 4);
        assert_eq!(rows[1].slowest(), Some(Duration::from_secs(40)));
        assert_eq!(percentile(&[Duration::from_secs(1), Duration::from_secs(2)], 0.95), Some(Duration::from_secs(2)));
    }
}
