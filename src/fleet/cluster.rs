//! What fleetdeck knows of one cluster (one kubeconfig context), and the state derived
//! from it: Connecting, Syncing, Live, Degraded, Unreachable or Unauthorized.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;

use super::backup::{BackupSummary, RestoreSummary, ScheduleSummary, StorageSummary};
use super::failure::{ErrorInfo, Failure};
use super::kind::Kind;
use super::probes::{Endpoint, Handshake, ProbeLog};
use super::summary::{
    KustomizationSummary, NodeSummary, ObjectKey, ReportSummary, SourceRef, SourceSummary, SpokeSecret, Summary,
    WorkloadSummary,
};

/// How one watch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchState {
    /// Not started yet (waiting for the connection or discovery).
    Pending,
    /// Listing: no complete set yet.
    Syncing,
    Synced,
    /// The last attempt failed; the watcher retries with backoff.
    Failed(ErrorInfo),
    /// The kind's CRD is not installed on this cluster.
    NotInstalled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchStatus {
    pub state: WatchState,
    /// The most recent errors, newest last.
    pub errors: VecDeque<ErrorInfo>,
    pub synced_at: Option<Timestamp>,
    /// When the current run of failures began (retries do not move it); `None` while the
    /// watch works.
    pub failing_since: Option<Timestamp>,
}

impl Default for WatchStatus {
    fn default() -> Self {
        Self { state: WatchState::Pending, errors: VecDeque::new(), synced_at: None, failing_since: None }
    }
}

const KEPT_ERRORS: usize = 10;

/// Changes of the failed-results count kept per cluster.
const KEPT_VIOLATION_POINTS: usize = 64;

impl WatchStatus {
    pub fn fail(&mut self, error: ErrorInfo) {
        if self.errors.len() == KEPT_ERRORS {
            self.errors.pop_front();
        }
        self.failing_since.get_or_insert(error.at);
        self.errors.push_back(error.clone());
        self.state = WatchState::Failed(error);
    }

    fn synced(&mut self) {
        self.state = WatchState::Synced;
        self.failing_since = None;
    }
}

/// The connection to the cluster's API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting {
        since: Timestamp,
    },
    Connected {
        at: Timestamp,
    },
    /// Building the client or the first reads failed; retried with backoff.
    Failed {
        error: ErrorInfo,
        attempts: u32,
        since: Timestamp,
    },
}

/// The derived state of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Connecting,
    Syncing,
    Live,
    Degraded {
        since: Timestamp,
        error: ErrorInfo,
    },
    Unreachable {
        since: Timestamp,
        error: ErrorInfo,
    },
    Unauthorized {
        error: ErrorInfo,
    },
    /// The kubeconfig cannot give a client for this context.
    Misconfigured {
        error: ErrorInfo,
    },
}

impl State {
    pub fn label(&self) -> &'static str {
        match self {
            State::Connecting => "Connecting",
            State::Syncing => "Syncing",
            State::Live => "Live",
            State::Degraded { .. } => "Degraded",
            State::Unreachable { .. } => "Unreachable",
            State::Unauthorized { .. } => "Unauthorized",
            State::Misconfigured { .. } => "Misconfigured",
        }
    }

    /// Worst first: used to sort and to colour.
    pub fn severity(&self) -> u8 {
        match self {
            State::Unreachable { .. } | State::Unauthorized { .. } | State::Misconfigured { .. } => 3,
            State::Degraded { .. } => 2,
            State::Connecting | State::Syncing => 1,
            State::Live => 0,
        }
    }

    pub fn error(&self) -> Option<&ErrorInfo> {
        match self {
            State::Degraded { error, .. }
            | State::Unreachable { error, .. }
            | State::Unauthorized { error }
            | State::Misconfigured { error } => Some(error),
            _ => None,
        }
    }
}

/// How long failures may last before a cluster is Unreachable rather than Degraded.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub unreachable_after: Duration,
    /// Probes are this far apart; data older than a few intervals is stale.
    pub probe_interval: Duration,
    /// The share of probes over the latency window that may fail (0.05) before a cluster
    /// that answers is Degraded anyway.
    pub error_rate: f64,
}

/// Probes over the window before their error rate judges a cluster: one failed probe of
/// the first few is no rate.
const ERROR_RATE_MIN_PROBES: usize = 20;

impl Thresholds {
    /// How old data may be before it is stale: three probe intervals (three probes
    /// missed; a probe's answer is data too), as the README says.
    pub fn stale_after(&self) -> Duration {
        self.probe_interval * 3
    }
}

/// A cluster's objects of one kind, by key, in a sorted vector: a spoke holds a handful
/// of each, and a BTreeMap's first node has room for eleven (3.8 KB for two Velero
/// backups; 26 KB a cluster over its kinds). The hub's many Kustomizations, sources and
/// runs stay in BTreeMaps.
pub type Store<K, V> = litemap::LiteMap<K, V>;

#[derive(Debug, Clone)]
pub struct ClusterModel {
    pub context: String,
    pub server: String,
    pub is_hub: bool,
    pub connection: Connection,
    pub version: Option<String>,
    /// The kube-system namespace UID: the cluster's identity.
    pub uid: Option<String>,
    pub nodes: Store<String, NodeSummary>,
    pub workloads: Store<ObjectKey, WorkloadSummary>,
    pub kustomizations: BTreeMap<ObjectKey, KustomizationSummary>,
    pub spoke_secrets: BTreeMap<ObjectKey, SpokeSecret>,
    /// The hub: workflow runs, by their ConfigMap (names sort by start time).
    pub runs: BTreeMap<ObjectKey, std::sync::Arc<super::run::Run>>,
    /// Flux sources (hub only).
    pub sources: BTreeMap<SourceRef, SourceSummary>,
    /// Policy reports; cluster reports have an empty namespace.
    pub reports: Store<ObjectKey, ReportSummary>,
    /// Velero's objects.
    pub backups: Store<ObjectKey, BackupSummary>,
    pub schedules: Store<ObjectKey, ScheduleSummary>,
    pub restores: Store<ObjectKey, RestoreSummary>,
    pub storage: Store<ObjectKey, StorageSummary>,
    pub watches: Store<Kind, WatchStatus>,
    pub probes: ProbeLog,
    /// When data last came from the cluster (a watch event or a successful probe).
    pub last_data: Option<Timestamp>,
    /// The writes these credentials are allowed (SelfSubjectAccessReview), or why that
    /// could not be asked; `None` before the answer.
    pub access: Option<Result<Vec<String>, ErrorInfo>>,
    /// How long the request that opened the connection took.
    pub handshake: Option<Handshake>,
    /// What the probes ask (`/readyz` unless the server has none).
    pub probe_endpoint: Endpoint,
    /// Deployments not ready, since when fleetdeck first saw them so (or their
    /// `Available=False` transition): what the disruption trigger counts.
    pub unready: Store<ObjectKey, Timestamp>,
    /// The cluster's failed policy results over time, a point per change (bounded):
    /// what the security trigger compares with the count before a revision arrived.
    pub violations: VecDeque<(Timestamp, i64)>,
    /// Bumped by the fleet on every change to this cluster: what derived state is
    /// cached against.
    pub rev: u64,
    /// The revision of the last change to its watched objects or watches (not a probe):
    /// what its propagation and backups rows are cached against.
    pub data_rev: u64,
}

impl ClusterModel {
    pub fn new(context: &str, server: &str, is_hub: bool, probes: ProbeLog, now: Timestamp) -> Self {
        let watches =
            Kind::ALL.iter().filter(|k| is_hub || !k.hub_only()).map(|k| (*k, WatchStatus::default())).collect();
        Self {
            context: context.to_owned(),
            server: server.to_owned(),
            is_hub,
            connection: Connection::Connecting { since: now },
            version: None,
            uid: None,
            nodes: Store::new(),
            workloads: Store::new(),
            kustomizations: BTreeMap::new(),
            spoke_secrets: BTreeMap::new(),
            runs: BTreeMap::new(),
            sources: BTreeMap::new(),
            reports: Store::new(),
            backups: Store::new(),
            schedules: Store::new(),
            restores: Store::new(),
            storage: Store::new(),
            watches,
            probes,
            last_data: None,
            access: None,
            handshake: None,
            probe_endpoint: Endpoint::default(),
            unready: Store::new(),
            violations: VecDeque::new(),
            rev: 0,
            data_rev: 0,
        }
    }

    fn watch(&mut self, kind: Kind) -> &mut WatchStatus {
        self.watches.entry(kind).or_default()
    }

    /// A complete list replaces what was known of the kind (objects gone from it are gone).
    pub fn relist(&mut self, kind: Kind, items: Vec<(ObjectKey, Summary)>, at: Timestamp) {
        self.clear(kind);
        for (key, summary) in items {
            self.put(key, summary);
        }
        let w = self.watch(kind);
        w.synced();
        w.synced_at = Some(at);
        self.saw_data(at);
        self.track(kind, at);
        self.compact(kind);
    }

    /// Keeps the trigger's memories in step with a change of the kind at `at`.
    fn track(&mut self, kind: Kind, at: Timestamp) {
        match kind {
            Kind::Deployment => {
                let workloads = &self.workloads;
                self.unready.retain(|k, _| workloads.get(k).is_some_and(WorkloadSummary::is_short));
                for (key, w) in workloads.iter().filter(|(_, w)| w.is_short()) {
                    self.unready.entry(key.clone()).or_insert_with(|| w.unavailable_since.unwrap_or(at).min(at));
                }
            }
            Kind::PolicyReport | Kind::ClusterPolicyReport => {
                let fail: i64 = self.reports.values().map(|r| r.fail).sum();
                if self.violations.back().is_none_or(|&(_, last)| last != fail) {
                    if self.violations.len() == KEPT_VIOLATION_POINTS {
                        self.violations.pop_front();
                    }
                    self.violations.push_back((at, fail));
                }
            }
            _ => {}
        }
    }

    /// Data arrived at `at` (events may arrive out of order; the freshest counts).
    pub fn saw_data(&mut self, at: Timestamp) {
        self.last_data = self.last_data.max(Some(at));
    }

    /// Changes after the list (`None`: deleted).
    pub fn apply(&mut self, kind: Kind, changes: Vec<(ObjectKey, Option<Summary>)>, at: Timestamp) {
        for (key, summary) in changes {
            match summary {
                Some(s) => self.put(key, s),
                None => self.remove(kind, &key),
            }
        }
        let w = self.watch(kind);
        if matches!(w.state, WatchState::Failed(_) | WatchState::Pending) {
            w.synced();
        }
        self.saw_data(at);
        self.track(kind, at);
    }

    fn clear(&mut self, kind: Kind) {
        match kind {
            Kind::Node => self.nodes.clear(),
            Kind::Deployment => self.workloads.clear(),
            Kind::Kustomization => self.kustomizations.clear(),
            Kind::SpokeSecret => self.spoke_secrets.clear(),
            Kind::GitRepository | Kind::OciRepository => {
                let kind = source_kind(kind);
                self.sources.retain(|k, _| k.kind != kind);
            }
            Kind::PolicyReport => self.reports.retain(|k, _| k.0.is_empty()),
            Kind::ClusterPolicyReport => self.reports.retain(|k, _| !k.0.is_empty()),
            Kind::Backup => self.backups.clear(),
            Kind::Schedule => self.schedules.clear(),
            Kind::Restore => self.restores.clear(),
            Kind::BackupStorageLocation => self.storage.clear(),
            Kind::Event => {}
            Kind::Run => self.runs.clear(),
        }
    }

    /// Gives back the room a list's inserts grew the kind's store by (a store doubles
    /// as it grows, and a relist's size is the session's until the next one).
    fn compact(&mut self, kind: Kind) {
        fn shrink<K: Ord, V>(store: &mut Store<K, V>) {
            let mut entries = std::mem::take(store).into_tuple_vec();
            entries.shrink_to_fit();
            *store = Store::from_sorted_store_unchecked(entries);
        }
        match kind {
            Kind::Node => shrink(&mut self.nodes),
            Kind::Deployment => {
                shrink(&mut self.workloads);
                shrink(&mut self.unready);
            }
            Kind::PolicyReport | Kind::ClusterPolicyReport => shrink(&mut self.reports),
            Kind::Backup => shrink(&mut self.backups),
            Kind::Schedule => shrink(&mut self.schedules),
            Kind::Restore => shrink(&mut self.restores),
            Kind::BackupStorageLocation => shrink(&mut self.storage),
            Kind::Kustomization | Kind::SpokeSecret | Kind::GitRepository | Kind::OciRepository => {}
            Kind::Event | Kind::Run => {}
        }
    }

    fn put(&mut self, key: ObjectKey, summary: Summary) {
        match summary {
            Summary::Node(n) => _ = self.nodes.insert(key.1, n),
            Summary::Workload(w) => _ = self.workloads.insert(key, w),
            Summary::Kustomization(k) => _ = self.kustomizations.insert(key, k),
            Summary::SpokeSecret(s) => _ = self.spoke_secrets.insert(key, s),
            Summary::Source(s) => _ = self.sources.insert(s.id.clone(), s),
            Summary::Report(r) => _ = self.reports.insert(key, r),
            Summary::Backup(b) => _ = self.backups.insert(key, b),
            Summary::Schedule(s) => _ = self.schedules.insert(key, s),
            Summary::Restore(r) => _ = self.restores.insert(key, r),
            Summary::Storage(s) => _ = self.storage.insert(key, s),
            Summary::Run(Some(r)) => self.put_run(key, r),
            Summary::Event(_) | Summary::Run(None) => {}
        }
    }

    fn remove(&mut self, kind: Kind, key: &ObjectKey) {
        match kind {
            Kind::Node => _ = self.nodes.remove(&key.1),
            Kind::Deployment => _ = self.workloads.remove(key),
            Kind::Kustomization => _ = self.kustomizations.remove(key),
            Kind::SpokeSecret => _ = self.spoke_secrets.remove(key),
            Kind::GitRepository | Kind::OciRepository => {
                let id =
                    SourceRef { kind: source_kind(kind).to_owned(), namespace: key.0.clone(), name: key.1.clone() };
                self.sources.remove(&id);
            }
            Kind::PolicyReport | Kind::ClusterPolicyReport => _ = self.reports.remove(key),
            Kind::Backup => _ = self.backups.remove(key),
            Kind::Schedule => _ = self.schedules.remove(key),
            Kind::Restore => _ = self.restores.remove(key),
            Kind::Event => {}
            Kind::BackupStorageLocation => _ = self.storage.remove(key),
            Kind::Run => _ = self.runs.remove(key),
        }
    }

    /// A run's record, unless an equally new one is held (this session's own runs arrive
    /// from its runner before the watch brings them back).
    pub fn put_run(&mut self, key: ObjectKey, run: std::sync::Arc<super::run::Run>) {
        if self.runs.get(&key).is_none_or(|held| held.updated_at <= run.updated_at) {
            self.runs.insert(key, run);
        }
    }

    pub fn watch_started(&mut self, kind: Kind) {
        let w = self.watch(kind);
        if w.state == WatchState::Pending {
            w.state = WatchState::Syncing;
        }
    }

    pub fn watch_failed(&mut self, kind: Kind, error: ErrorInfo) {
        self.watch(kind).fail(error);
    }

    pub fn not_installed(&mut self, kind: Kind) {
        self.clear(kind);
        self.watch(kind).state = WatchState::NotInstalled;
    }

    /// Kinds whose CRD is not installed here.
    pub fn missing_kinds(&self) -> Vec<Kind> {
        self.watches.keys().copied().filter(|k| self.lacks(*k)).collect()
    }

    /// Whether the kind's CRD is not installed here.
    pub fn lacks(&self, kind: Kind) -> bool {
        self.watches.get(&kind).is_some_and(|w| w.state == WatchState::NotInstalled)
    }

    /// Whether the kind has been listed at least once: what is known of it is complete
    /// (as of then), even if its watch has failed since.
    pub fn listed(&self, kind: Kind) -> bool {
        self.watches.get(&kind).is_some_and(|w| w.synced_at.is_some())
    }

    /// Nodes ready and total.
    pub fn node_counts(&self) -> (usize, usize) {
        (self.nodes.values().filter(|n| n.is_ready()).count(), self.nodes.len())
    }

    /// Whether a component runs: `None` when nothing of it is deployed, else whether
    /// every one of its deployments is ready.
    pub fn component(&self, namespace: &str) -> Option<bool> {
        let mut deployments = self.workloads.iter().filter(|(k, _)| k.0 == namespace).peekable();
        deployments.peek()?;
        Some(deployments.all(|(_, w)| w.is_ready()))
    }

    /// The most recent error of a watch or of the connection, for the "last error" column.
    pub fn last_error(&self) -> Option<&ErrorInfo> {
        let watch = self.watches.values().filter_map(|w| w.errors.back()).max_by_key(|e| e.at);
        let connection = match &self.connection {
            Connection::Failed { error, .. } => Some(error),
            _ => None,
        };
        [watch, connection].into_iter().flatten().max_by_key(|e| e.at)
    }

    /// The derived state at `now`.
    pub fn state(&self, now: Timestamp, t: Thresholds) -> State {
        let last_probe = self.probes.last_counted();
        let probe_error = |failure: Failure, at: Timestamp| ErrorInfo::new(failure, probe_message(failure), at);
        // Credentials rejected anywhere: nothing else matters until they are fixed.
        if let Some(sample) = last_probe
            && let Err(f) = sample.outcome
            && f.is_auth()
        {
            return State::Unauthorized { error: probe_error(f, sample.at) };
        }
        if let Connection::Failed { error, .. } = &self.connection {
            if error.failure.is_auth() {
                return State::Unauthorized { error: error.clone() };
            }
            if error.failure == Failure::Config {
                return State::Misconfigured { error: error.clone() };
            }
        }
        // Probes failing: Degraded for a while, then Unreachable.
        if let (Some(sample), Some(for_how_long)) = (last_probe, self.probes.failing_for(now))
            && let Err(f) = sample.outcome
        {
            let since = self.probes.failing_since.unwrap_or(sample.at);
            let error = match self.last_error() {
                Some(e) if e.at >= since => e.clone(),
                _ => probe_error(f, sample.at),
            };
            if f.is_connectivity() && for_how_long >= t.unreachable_after {
                return State::Unreachable { since, error };
            }
            return State::Degraded { since, error };
        }
        match &self.connection {
            Connection::Connecting { .. } => return State::Connecting,
            // Never one valid answer (refused, timed out, or not an API server at all):
            // unreachable once that has lasted.
            Connection::Failed { error, since, .. } => {
                if super::ago(now, *since) >= t.unreachable_after {
                    return State::Unreachable { since: *since, error: error.clone() };
                }
                return State::Degraded { since: *since, error: error.clone() };
            }
            Connection::Connected { .. } => {}
        }
        // Answering, but failing too many of its probes (an outage that ended is no rate).
        let (failed, total, span) = self.probes.errors(now);
        if total >= ERROR_RATE_MIN_PROBES
            && let Some((first, last)) = span
            && failed as f64 / total as f64 > t.error_rate
        {
            let message = format!(
                "{failed} of {total} probes failed in the last {} ({:.0}%, above {:.0}%)",
                humantime::format_duration(self.probes.window()),
                100.0 * failed as f64 / total as f64,
                100.0 * t.error_rate
            );
            return State::Degraded { since: first, error: ErrorInfo::new(Failure::Other, message, last) };
        }
        // A watch that keeps failing (other than an optional one being forbidden).
        // Degraded since the first of the failures, however often they were retried.
        let failing = self.watches.iter().find_map(|(k, w)| match &w.state {
            WatchState::Failed(e) if !(k.optional() && e.failure == Failure::Forbidden) => {
                Some((w.failing_since.unwrap_or(e.at), e.clone()))
            }
            _ => None,
        });
        if let Some((since, error)) = failing {
            return State::Degraded { since, error };
        }
        let syncing = self.watches.iter().any(|(k, w)| {
            matches!(w.state, WatchState::Pending | WatchState::Syncing)
                && !(k.optional() && w.state == WatchState::Pending)
        });
        if syncing { State::Syncing } else { State::Live }
    }

    /// The writes these credentials could make, when the review said so.
    pub fn could_write(&self) -> &[String] {
        match &self.access {
            Some(Ok(writes)) => writes,
            _ => &[],
        }
    }

    /// How old the freshest data is.
    pub fn data_age(&self, now: Timestamp) -> Option<Duration> {
        self.last_data.map(|at| super::ago(now, at))
    }

    /// Data older than three probe intervals is stale.
    pub fn is_stale(&self, now: Timestamp, t: Thresholds) -> bool {
        self.data_age(now).is_none_or(|age| age > t.stale_after())
    }

    /// The next instant after `now` at which `state` or `is_stale` may change with no
    /// new data: a failure turning into Unreachable, fresh data turning stale.
    pub fn changes_at(&self, now: Timestamp, t: Thresholds) -> Option<Timestamp> {
        let mut next = super::Horizon::new(now);
        if let (Some(since), Some(sample)) = (self.probes.failing_since, self.probes.last_counted())
            && sample.outcome.as_ref().is_err_and(|f| f.is_connectivity())
        {
            next.at(super::later(since, t.unreachable_after));
        }
        if let Connection::Failed { since, error, .. } = &self.connection
            && error.failure.is_connectivity()
        {
            next.at(super::later(*since, t.unreachable_after));
        }
        if let Some(at) = self.last_data {
            next.after(super::later(at, t.stale_after()));
        }
        next.get()
    }
}

/// The `kind` of a source's objects.
pub fn source_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::OciRepository => "OCIRepository",
        _ => "GitRepository",
    }
}

fn probe_message(f: Failure) -> String {
    match f {
        Failure::Timeout => "GET /readyz timed out".into(),
        Failure::Unreachable => "GET /readyz: connection failed".into(),
        Failure::Unauthorized => "GET /readyz: 401 Unauthorized (credentials rejected)".into(),
        other => format!("GET /readyz: {}", other.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::probes::Sample;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn thresholds() -> Thresholds {
        Thresholds {
            unreachable_after: Duration::from_secs(60),
            probe_interval: Duration::from_secs(5),
            error_rate: 0.05,
        }
    }

    /// A spoke just added: connecting, nothing listed or probed.
    fn new_cluster() -> ClusterModel {
        ClusterModel::new(
            "a",
            "https://a",
            false,
            ProbeLog::new(Duration::from_secs(300), Duration::from_secs(3600)),
            t(0),
        )
    }

    fn live_cluster() -> ClusterModel {
        let mut c = new_cluster();
        c.connection = Connection::Connected { at: t(0) };
        let kinds: Vec<Kind> = c.watches.keys().copied().collect();
        for kind in kinds {
            c.relist(kind, vec![], t(1));
        }
        c.probes.record(Sample::new(t(2), Ok(Duration::from_millis(3))));
        c
    }

    #[test]
    fn a_cluster_goes_connecting_syncing_live() {
        let mut c = new_cluster();
        assert_eq!(c.state(t(1), thresholds()), State::Connecting);
        c.connection = Connection::Connected { at: t(1) };
        c.watch_started(Kind::Node);
        assert_eq!(c.state(t(1), thresholds()), State::Syncing);
        assert_eq!(live_cluster().state(t(3), thresholds()), State::Live);
    }

    #[test]
    fn an_answering_cluster_failing_a_third_of_its_probes_is_degraded_with_the_rate() {
        let mut c = live_cluster();
        for i in 0..30 {
            let outcome = if i % 3 == 0 { Err(Failure::Server(500)) } else { Ok(Duration::from_millis(2)) };
            c.probes.record(Sample::new(t(10 + 5 * i), outcome));
        }
        c.probes.record(Sample::new(t(165), Ok(Duration::from_millis(2))));
        match c.state(t(166), thresholds()) {
            State::Degraded { since, error } => {
                assert_eq!(since, t(10), "since the first failure in the window");
                assert_eq!(error.message, "10 of 32 probes failed in the last 5m (31%, above 5%)");
            }
            other => panic!("{other:?}"),
        }
        // One failure in twenty is within the rate.
        let mut c = live_cluster();
        for i in 0..25 {
            let outcome = if i == 3 { Err(Failure::Timeout) } else { Ok(Duration::from_millis(2)) };
            c.probes.record(Sample::new(t(10 + 5 * i), outcome));
        }
        assert_eq!(c.state(t(136), thresholds()), State::Live);
        // An outage that ended is not an error rate, however short: Live at its first
        // good answer.
        for failed in [4, 20] {
            let mut c = live_cluster();
            for i in 0..failed {
                c.probes.record(Sample::new(t(10 + 5 * i), Err(Failure::Unreachable)));
            }
            let back = 10 + 5 * failed;
            for i in 0..25 {
                c.probes.record(Sample::new(t(back + 5 * i), Ok(Duration::from_millis(2))));
                assert_eq!(c.state(t(back + 5 * i), thresholds()), State::Live, "{failed} failed, {i} back");
            }
        }
    }

    #[test]
    fn a_watch_degraded_since_its_first_failure_however_often_retried() {
        let mut c = live_cluster();
        let refused = |at| ErrorInfo::new(Failure::Unreachable, "watch: connection refused", at);
        c.watch_failed(Kind::Node, refused(t(10)));
        c.watch_failed(Kind::Node, refused(t(20)));
        c.watch_failed(Kind::Node, refused(t(40)));
        assert!(matches!(c.state(t(41), thresholds()), State::Degraded { since, .. } if since == t(10)));
        c.relist(Kind::Node, vec![], t(45));
        assert_eq!(c.state(t(46), thresholds()), State::Live);
        c.watch_failed(Kind::Node, refused(t(50)));
        assert!(matches!(c.state(t(51), thresholds()), State::Degraded { since, .. } if since == t(50)), "a new run");
    }

    #[test]
    fn never_one_valid_answer_is_unreachable_once_it_lasts_and_a_bad_kubeconfig_is_misconfigured() {
        let mut c = new_cluster();
        let garbage = ErrorInfo::new(Failure::Other, "not a Kubernetes API server (answered with \"<html>\")", t(1));
        c.connection = Connection::Failed { error: garbage, attempts: 3, since: t(1) };
        assert!(matches!(c.state(t(30), thresholds()), State::Degraded { .. }));
        assert!(matches!(c.state(t(61), thresholds()), State::Unreachable { .. }));
        let config = ErrorInfo::new(Failure::Config, "kubeconfig: context a names user \"ghost\"", t(1));
        c.connection = Connection::Failed { error: config, attempts: 1, since: t(1) };
        assert!(matches!(c.state(t(2), thresholds()), State::Misconfigured { .. }));
    }

    #[test]
    fn probe_failures_degrade_then_make_unreachable_then_recover() {
        let mut c = live_cluster();
        c.probes.record(Sample::new(t(10), Err(Failure::Unreachable)));
        assert!(matches!(c.state(t(11), thresholds()), State::Degraded { .. }));
        c.probes.record(Sample::new(t(80), Err(Failure::Unreachable)));
        match c.state(t(80), thresholds()) {
            State::Unreachable { since, .. } => assert_eq!(since, t(10)),
            other => panic!("{other:?}"),
        }
        c.probes.record(Sample::new(t(85), Ok(Duration::from_millis(2))));
        assert_eq!(c.state(t(85), thresholds()), State::Live);
    }

    #[test]
    fn auth_failures_and_failing_watches() {
        let mut c = live_cluster();
        c.watch_failed(Kind::Deployment, ErrorInfo::new(Failure::Server(500), "boom", t(5)));
        assert!(matches!(c.state(t(6), thresholds()), State::Degraded { .. }));
        c.relist(Kind::Deployment, vec![], t(7));
        assert_eq!(c.state(t(7), thresholds()), State::Live, "a relist recovers the watch");
        assert_eq!(c.watches[&Kind::Deployment].errors.len(), 1, "the error stays in the history");
        c.probes.record(Sample::new(t(8), Err(Failure::Unauthorized)));
        assert!(matches!(c.state(t(8), thresholds()), State::Unauthorized { .. }));
    }

    #[test]
    fn a_relist_drops_what_is_gone_and_freshness_ages() {
        let mut c = live_cluster();
        let node = |n: &str| {
            (
                ("".to_owned(), n.to_owned()),
                Summary::Node(NodeSummary {
                    name: n.into(),
                    ready: crate::fleet::summary::ConditionStatus::True,
                    roles: vec![],
                    kubelet: String::new(),
                    unschedulable: false,
                    conditions: vec![],
                }),
            )
        };
        c.relist(Kind::Node, vec![node("a"), node("b")], t(3));
        assert_eq!(c.node_counts(), (2, 2));
        c.relist(Kind::Node, ["a", "b", "c", "d", "e"].map(node).into(), t(4));
        let room = std::mem::take(&mut c.nodes).into_tuple_vec().capacity();
        assert_eq!(room, 5, "a list's store keeps no room to grow into (inserts doubled it to 8)");
        c.relist(Kind::Node, vec![node("b")], t(4));
        assert_eq!(c.node_counts(), (1, 1));
        c.apply(Kind::Node, vec![(("".into(), "b".into()), None)], t(5));
        assert_eq!(c.node_counts(), (0, 0));
        assert!(!c.is_stale(t(20), thresholds()));
        assert!(c.is_stale(t(100), thresholds()));
    }
}
