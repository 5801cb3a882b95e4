//! What `serve` exposes beyond `check`'s snapshot: what it counts as the engine reports
//! (probe, propagation, restore and event-lag histograms; failed probes, watch failures
//! and relists) and what it draws from the model at each scrape (storage locations, runs
//! and their writes, Kustomization states, the last revisions of each source).
//!
//! Counted families keep their series for the process's life (a counter that vanished
//! would read as a reset); drawn ones are built anew at each scrape, so the series of a
//! cluster, a Kustomization or a run that is gone go with it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use jiff::Timestamp;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::app::model::Model;
use crate::cluster::{ClusterId, EngineEvent};
use crate::derive::metrics::Snapshot;
use crate::fleet::kind::Kind;
use crate::fleet::phase::VeleroPhase;
use crate::fleet::probes::Sample;
use crate::fleet::propagation::RevisionRow;
use crate::fleet::run::WriteState;
use crate::fleet::summary::ObjectKey;

/// The buckets of the probe histogram, in seconds: dense around the 100 ms target.
pub const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0];

/// The buckets of the propagation histogram, in seconds: dense around the 30 s target.
pub const PROPAGATION_BUCKETS: [f64; 11] = [1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0];

/// The buckets of the restore (RTO) histogram, in seconds: a second to four hours.
pub const RESTORE_BUCKETS: [f64; 12] =
    [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0];

/// The buckets of the event-lag histogram, in seconds: what a watched change waits
/// between its arrival from the API and the model (the watch's coalescing window included).
pub const LAG_BUCKETS: [f64; 11] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// How many of the newest revisions (of all sources) `source_revision_info` tells.
pub const REVISIONS_TOLD: usize = 5;

type Labels = Vec<(String, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;
type Counters = Family<Labels, Counter<u64, AtomicU64>>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// What `serve` counts as the engine reports. Its families are handles, shared with each
/// scrape's registry.
pub struct Counted {
    latency: Histograms,
    failed: Counters,
    watch_failures: Counters,
    relists: Counters,
    propagation: Histograms,
    restores: Histograms,
    lag: Family<Labels, Histogram, fn() -> Histogram>,
    /// The propagation log's completions taken so far.
    completions_taken: u64,
    /// The restores observed (each once), by cluster; pruned to the restores that exist.
    restores_seen: HashMap<ClusterId, HashSet<ObjectKey>>,
    /// Restores that finished before this are history, not observed.
    since: Timestamp,
}

impl Counted {
    pub fn new(since: Timestamp) -> Self {
        Self {
            latency: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            failed: Family::default(),
            watch_failures: Family::default(),
            relists: Family::default(),
            propagation: Family::new_with_constructor(|| Histogram::new(PROPAGATION_BUCKETS)),
            restores: Family::new_with_constructor(|| Histogram::new(RESTORE_BUCKETS)),
            lag: Family::new_with_constructor(|| Histogram::new(LAG_BUCKETS)),
            completions_taken: 0,
            restores_seen: HashMap::new(),
            since,
        }
    }

    /// Counts what an engine event says of the watches and probes, before the model
    /// applies it.
    pub fn count(&self, cluster: &str, event: &EngineEvent) {
        let of = |kind: Kind| labels(&[("cluster", cluster), ("kind", kind.label())]);
        match event {
            EngineEvent::Probe { sample, .. } => self.observe_probe(cluster, sample),
            EngineEvent::WatchFailed { kind, .. } => _ = self.watch_failures.get_or_create(&of(*kind)).inc(),
            EngineEvent::Relist { kind, .. } => _ = self.relists.get_or_create(&of(*kind)).inc(),
            _ => {}
        }
    }

    /// A probe of `cluster`: its answer's time, or a failure. Probes fleetdeck's own
    /// runtime delayed are not charged (as on the latency pane).
    fn observe_probe(&self, cluster: &str, sample: &Sample) {
        if !sample.charged() {
            return;
        }
        let labels = labels(&[("cluster", cluster)]);
        match &sample.outcome {
            Ok(took) => self.latency.get_or_create(&labels).observe(took.as_secs_f64()),
            Err(_) => _ = self.failed.get_or_create(&labels).inc(),
        }
    }

    /// Takes what the model learnt from an event it just applied: the lag of watched
    /// changes, propagations completed, restores finished.
    pub fn applied(&mut self, model: &Model, id: ClusterId, kind: Option<Kind>, observed: Option<Instant>) {
        if let Some(observed) = observed {
            self.lag.get_or_create(&Vec::new()).observe(observed.elapsed().as_secs_f64());
        }
        self.take_completions(model);
        if kind == Some(Kind::Restore) {
            self.take_restores(model, id);
        }
    }

    /// Propagations completed since the last call, into the histogram of the spoke whose
    /// Kustomization it was (spokes outside this shard are left out).
    fn take_completions(&mut self, model: &Model) {
        let log = model.fleet.propagation();
        if log.completed() <= self.completions_taken {
            return;
        }
        let spokes: HashMap<&ObjectKey, &str> = (0..model.fleet.clusters().len())
            .filter_map(|id| Some((model.fleet.registration_of(id)?, model.fleet.cluster(id)?.context.as_str())))
            .flat_map(|(reg, context)| reg.kustomizations.iter().map(move |k| (k, context)))
            .collect();
        for done in log.completions_after(self.completions_taken) {
            if let Some(context) = spokes.get(&done.key) {
                let labels = labels(&[("cluster", context), ("kustomization", &done.key.1)]);
                self.propagation.get_or_create(&labels).observe(done.took.duration.as_secs_f64());
            }
        }
        self.completions_taken = log.completed();
    }

    /// Restores of a cluster that finished while `serve` ran, each observed once.
    fn take_restores(&mut self, model: &Model, id: ClusterId) {
        let Some(c) = model.fleet.cluster(id) else { return };
        let seen = self.restores_seen.entry(id).or_default();
        seen.retain(|k| c.restores.contains_key(k));
        for (key, r) in &c.restores {
            let (Some(completed), Some(began)) = (r.completed, r.started.or(r.created)) else { continue };
            if !r.phase.finished() || r.phase == VeleroPhase::Deleting || completed < self.since || seen.contains(key) {
                continue;
            }
            seen.insert(key.clone());
            let outcome = match r.phase {
                VeleroPhase::Completed => "completed",
                VeleroPhase::PartiallyFailed => "partially_failed",
                _ => "failed",
            };
            let labels = labels(&[("cluster", &c.context), ("outcome", outcome)]);
            self.restores.get_or_create(&labels).observe(crate::fleet::ago(completed, began).as_secs_f64());
        }
    }

    /// Registers the counted families in a scrape's registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "api_probe_duration",
            "API probe round trips (GET /readyz), from where fleetdeck runs",
            Unit::Seconds,
            self.latency.clone(),
        );
        registry.register("api_probe_failures", "API probes that failed or timed out", self.failed.clone());
        registry.register(
            "watch_failures",
            "watch attempts that failed (retried with backoff)",
            self.watch_failures.clone(),
        );
        registry.register(
            "watch_relists",
            "complete lists of a kind (the first, and after a 410 or a failure)",
            self.relists.clone(),
        );
        registry.register_with_unit(
            "propagation_duration",
            "how long a hub revision took to be applied on a spoke (its Kustomization Ready at it), \
             for the propagations that happened while serve watched",
            Unit::Seconds,
            self.propagation.clone(),
        );
        registry.register_with_unit(
            "restore_duration",
            "how long a Velero restore took from start to its final phase (the RTO), \
             for the restores that finished while serve watched",
            Unit::Seconds,
            self.restores.clone(),
        );
        registry.register_with_unit(
            "watch_event_lag",
            "how long a watched change waited between its arrival from the API and the model \
             (the watch's coalescing window included)",
            Unit::Seconds,
            self.lag.clone(),
        );
    }
}

/// The families drawn from the model at `now`.
pub fn drawn(model: &Model, derived: &crate::derive::Derived, now: Timestamp) -> Snapshot {
    let fleet = &model.fleet;
    let mut s = Snapshot::default();
    let mut g =
        s.gauge("backup_storage_available", "whether a Velero storage location is Available (1) or not (0)", None);
    for c in fleet.clusters() {
        for l in c.storage.values() {
            g.flag(&[("cluster", &c.context), ("location", &l.name)], l.phase == "Available");
        }
    }
    // Runs and their writes, counted by their labels.
    let mut runs: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    let mut writes: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    if let Some(hub) = fleet.hub() {
        let (ttl, host) = (fleet.settings.lock_ttl, &fleet.settings.host);
        for r in hub.runs.values() {
            let workflow = r.workflow.name();
            *runs.entry((workflow, r.state_at(now, ttl, host).name())).or_default() += 1;
            for w in r.steps.iter().flat_map(|s| s.writes.iter()).filter(|w| w.state != WriteState::Planned) {
                *writes.entry((workflow, w.state.name())).or_default() += 1;
            }
        }
    }
    let mut g = s.gauge("runs", "workflow runs on the hub, by workflow and state", None);
    for ((workflow, state), n) in runs {
        g.set(&[("workflow", workflow), ("state", state)], f64::from(n));
    }
    let mut g = s.gauge(
        "run_writes",
        "writes the runs on the hub journaled, by workflow and outcome \
         (sent: journaled and sent with no answer recorded, an unknown outcome)",
        None,
    );
    for ((workflow, outcome), n) in writes {
        g.set(&[("workflow", workflow), ("outcome", outcome)], f64::from(n));
    }
    // Per spoke and Kustomization: its state (one series per state) and how long it has
    // been behind its source.
    let cells = || {
        derived.order.iter().filter_map(|&id| Some((derived.cluster(id)?, fleet.cluster(id)?))).flat_map(|(view, c)| {
            view.rows.sync.iter().flat_map(|row| row.present()).map(move |cell| (c.context.as_str(), cell))
        })
    };
    let mut g = s.gauge(
        "kustomization_state",
        "a spoke's Kustomization on the hub, one series per state (1 for the current)",
        None,
    );
    for (cluster, cell) in cells() {
        for category in ["in_sync", "pending", "failed", "suspended"] {
            let labels = [("cluster", cluster), ("kustomization", cell.key.1.as_str()), ("state", category)];
            g.flag(&labels, cell.state.category() == category);
        }
    }
    let mut g = s.gauge(
        "kustomization_behind_source",
        "how long a spoke's Kustomization has been behind its source's revision (0 when at it)",
        Some(Unit::Seconds),
    );
    for (cluster, cell) in cells() {
        let seconds = cell.state.behind_since().map_or(0.0, |since| crate::fleet::ago(now, since).as_secs_f64());
        g.set(&[("cluster", cluster), ("kustomization", &cell.key.1)], seconds);
    }
    // The newest revisions of the sources the spokes follow: revision strings only here,
    // REVISIONS_TOLD of them.
    let revisions = fleet.propagation().recent_revisions(REVISIONS_TOLD);
    let revisions: Vec<(String, &RevisionRow)> = revisions.iter().map(|r| (r.source.label(), r)).collect();
    let mut g = s.gauge(
        "source_revision_info",
        "the newest revisions of the sources the spokes follow (always 1; current: its source's newest)",
        None,
    );
    for (source, r) in &revisions {
        let current = if r.current { "true" } else { "false" };
        g.set(&[("source", source), ("revision", &r.seen.revision), ("current", current)], 1.0);
    }
    let mut g = s.gauge(
        "source_revision_applied_spokes",
        "spoke Kustomizations that applied the revision (with a known propagation time)",
        None,
    );
    for (source, r) in &revisions {
        g.set(&[("source", source), ("revision", &r.seen.revision)], r.times.len() as f64);
    }
    let mut g = s.gauge(
        "source_revision_produced_timestamp",
        "when the revision was produced (the source's status, else when fleetdeck saw it)",
        Some(Unit::Seconds),
    );
    for (source, r) in &revisions {
        g.set(&[("source", source), ("revision", &r.seen.revision)], r.seen.since().as_millisecond() as f64 / 1000.0);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::msg::Msg;
    use crate::app::update::update;
    use crate::cluster::ContextSpec;
    use crate::fleet::run::{Run, Session, Step, StepSpec, Workflow, WriteRecord};
    use crate::fleet::summary::Summary;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn spec(name: &str, hub: bool) -> ContextSpec {
        ContextSpec::unconnected(name, hub)
    }

    /// A run on the hub whose change set wrote three times: applied, failed, and sent with no
    /// answer recorded; a fourth write still planned.
    fn run(id: &str, workflow: Workflow) -> Run {
        let by = Session { user: "alice".into(), host: "elsewhere".into(), pid: 1, id: "s".into() };
        let mut step =
            Step::new("apply", StepSpec::ChangeSet { plan: String::new(), confirm: "x".into(), writes: vec![] });
        step.writes = [WriteState::Applied, WriteState::Failed, WriteState::Sent, WriteState::Planned]
            .into_iter()
            .map(|state| WriteRecord { state, ..Default::default() })
            .collect();
        Run::new(id, workflow, ("prod-a", "prod-a", "hub"), vec![step], by, t(0))
    }

    fn text(s: Snapshot) -> String {
        let mut registry = Registry::with_prefix("fleetdeck");
        let mut out = String::new();
        registry.register_collector(Box::new(s));
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn the_runs_on_the_hub_count_their_journaled_writes_by_outcome_and_planned_ones_not() {
        let mut m = Model::new(&[spec("hub", true), spec("prod-a", false)], Default::default(), t(0));
        let items =
            [("r1", Workflow::Register), ("r2", Workflow::Register), ("r3", Workflow::Rollback)].map(|(id, w)| {
                (("fleetdeck-system".into(), id.into()), Summary::Run(Some(std::sync::Arc::new(run(id, w)))))
            });
        update(&mut m, Msg::Engine(EngineEvent::Relist { cluster: 0, kind: Kind::Run, items: items.into(), at: t(1) }));
        let derived = m.derived();
        let out = text(drawn(&m, &derived, t(2)));
        for line in [
            "fleetdeck_run_writes{workflow=\"register\",outcome=\"applied\"} 2.0",
            "fleetdeck_run_writes{workflow=\"register\",outcome=\"failed\"} 2.0",
            "fleetdeck_run_writes{workflow=\"register\",outcome=\"sent\"} 2.0",
            "fleetdeck_run_writes{workflow=\"rollback\",outcome=\"sent\"} 1.0",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        assert!(!out.contains("outcome=\"planned\""), "{out}");
        let runs: f64 = out
            .lines()
            .filter(|l| l.starts_with("fleetdeck_runs{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum();
        assert_eq!(runs, 3.0, "{out}");
    }
}
