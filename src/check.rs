//! `fleetdeck check`: the TUI's engine and model without a terminal. Connect to every
//! context, wait until each cluster has settled (listed and probed, or clearly failing)
//! or the time is up, then judge the model at one instant (`app::report`) and print it.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::mpsc::Receiver;

use crate::app::model::Model;
use crate::app::msg::Msg;
use crate::app::update::update;
use crate::cluster::{ContextSpec, Engine, EngineEvent};
use crate::config::Config;
use crate::derive::judge::Verdict;
use crate::derive::report::{ClusterReport, FleetReport, report};
use crate::fleet::cluster::{State, WatchState};
use crate::view::format::{ms, pad, truncate_middle, width};

/// How a check waits for the fleet.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// The longest a check waits before judging what it has.
    pub timeout: Duration,
    /// Probes of each cluster before its latency counts (percentiles need a few).
    pub probes: usize,
    pub probe_interval: Duration,
    /// A cluster whose connection keeps failing this long is unreachable; one degraded
    /// for this long is judged degraded without waiting for the timeout.
    pub settle: Duration,
}

impl CheckSettings {
    pub fn of(config: &Config) -> Self {
        Self {
            timeout: config.check.timeout,
            probes: config.check.probes,
            probe_interval: config.check.probe_interval,
            settle: config.check.settle,
        }
    }
}

/// Whether a cluster has told all it will tell a check (and `serve`'s `/readyz`).
pub fn settled(model: &Model, index: usize, settings: &CheckSettings, now: Timestamp) -> bool {
    let c = &model.fleet.clusters()[index];
    match c.state(now, model.fleet.settings.thresholds) {
        State::Unreachable { .. } | State::Unauthorized { .. } | State::Misconfigured { .. } => true,
        State::Degraded { since, .. } => crate::fleet::ago(now, since) >= settings.settle,
        State::Connecting | State::Syncing => false,
        State::Live => {
            let listed = c.watches.values().all(|w| !matches!(w.state, WatchState::Pending | WatchState::Syncing));
            listed && c.probes.samples().count() >= settings.probes
        }
    }
}

/// Applies engine events to the model until every cluster has settled or the timeout
/// passes; returns the time the snapshot is taken at.
async fn settle(model: &mut Model, events: &mut Receiver<EngineEvent>, settings: &CheckSettings) -> Timestamp {
    let deadline = tokio::time::Instant::now() + settings.timeout;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        let now = Timestamp::now();
        update(model, Msg::Tick(now));
        let done = tokio::time::Instant::now() >= deadline;
        if done || (0..model.fleet.clusters().len()).all(|i| settled(model, i, settings, now)) {
            return now;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            event = events.recv() => match event {
                Some(event) => {
                    update(model, Msg::Engine(event));
                    while let Ok(event) = events.try_recv() {
                        update(model, Msg::Engine(event));
                    }
                }
                // The engine ended: what there is, is all there will be.
                None => return now,
            },
            _ = tick.tick() => {}
        }
    }
}

/// Runs the check on the given contexts (the hub among them).
pub async fn run(contexts: Vec<ContextSpec>, config: &Config) -> FleetReport {
    let settings = CheckSettings::of(config);
    let mut model_settings = crate::launch::model_settings(config, false);
    // A check cannot wait a minute for a cluster that refuses connections.
    model_settings.fleet.thresholds.unreachable_after = settings.settle;
    model_settings.fleet.thresholds.probe_interval = settings.probe_interval;
    let mut model = Model::new(&contexts, model_settings, Timestamp::now());
    let engine_settings =
        crate::cluster::Settings { probe_interval: settings.probe_interval, ..crate::launch::engine_settings(config) };
    let (engine, mut events) = Engine::start(contexts, engine_settings);
    let now = settle(&mut model, &mut events, &settings).await;
    model.now = now;
    let derived = model.derived();
    let report = report(&model.fleet, &derived, now);
    engine.stop().await;
    report
}

/// How "verify all systems operational" gets `fleetdeck check`'s verdict of a cluster:
/// a check of the hub and that cluster alone.
pub fn operational(contexts: &[ContextSpec], config: &Config) -> crate::cluster::runbook::Operational {
    let contexts: Arc<Vec<ContextSpec>> = Arc::new(contexts.to_vec());
    let config = Arc::new(config.clone());
    crate::cluster::runbook::Operational(Arc::new(move |hub: String, spoke: String| {
        let (contexts, config) = (contexts.clone(), config.clone());
        Box::pin(async move {
            let chosen: Vec<ContextSpec> =
                contexts.iter().filter(|c| c.name == hub || c.name == spoke).cloned().collect();
            if !chosen.iter().any(|c| c.name == spoke) {
                return Err(format!("no context {spoke}"));
            }
            let report = run(chosen, &config).await;
            let cluster = report.clusters.iter().find(|c| c.name == spoke).ok_or("the check did not judge it")?;
            let healthy = cluster.status == Verdict::Healthy;
            Ok((healthy, cluster.status.label().to_owned(), cluster.problems.clone()))
        })
    }))
}

/// The report of a check that could not run at all (no kubeconfig, no hub context).
pub fn failed(error: &str, now: Timestamp) -> serde_json::Value {
    serde_json::json!({
        "status": Verdict::Unreachable,
        "hub": null,
        "generated_at": now,
        "clusters": [],
        "error": error,
    })
}

fn optional<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "—".to_owned(), show)
}

fn row(c: &ClusterReport) -> [String; 11] {
    let p = &c.propagation;
    let rpo = if c.backups.is_empty() {
        "—".to_owned()
    } else {
        format!("{}/{}", c.backups.iter().filter(|b| b.rpo_ok).count(), c.backups.len())
    };
    [
        truncate_middle(&c.name, 24),
        c.role.label().to_owned(),
        c.state.label().to_owned(),
        c.status.label().to_owned(),
        c.version.clone().unwrap_or_else(|| "—".to_owned()),
        optional(c.nodes, |n| format!("{}/{}", n.ready, n.total)),
        format!("{} {} {}", ms(c.latency_ms.p50), ms(c.latency_ms.p95), ms(c.latency_ms.p99)),
        optional(c.availability, |a| format!("{a:.2}%")),
        if p.total() == 0 { "—".to_owned() } else { format!("{}/{}", p.in_sync, p.total()) },
        optional(c.violations, |v| v.to_string()),
        rpo,
    ]
}

/// The report as text: a line of verdict, a table, then every problem.
pub fn write_text(report: &FleetReport, out: &mut impl Write) -> std::io::Result<()> {
    let hub = report.hub.as_deref().unwrap_or("—");
    writeln!(
        out,
        "fleet {} · hub {hub} · {} clusters · {}",
        report.status.label(),
        report.clusters.len(),
        report.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    )?;
    let header =
        ["NAME", "ROLE", "STATE", "STATUS", "VERSION", "NODES", "P50 P95 P99", "AVAIL", "SYNC", "VIOL", "RPO OK"]
            .map(str::to_owned);
    let rows: Vec<[String; 11]> = report.clusters.iter().map(row).collect();
    let mut widths = header.clone().map(|h| width(&h));
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(width(cell));
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = r.iter().zip(widths).map(|(cell, w)| pad(cell, w)).collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    let problems: Vec<&ClusterReport> = report.clusters.iter().filter(|c| !c.problems.is_empty()).collect();
    if !problems.is_empty() {
        writeln!(out)?;
        for c in problems {
            for p in &c.problems {
                writeln!(out, "{}: {p}", c.name)?;
            }
        }
    }
    if !report.triggers.is_empty() {
        writeln!(out)?;
        for t in &report.triggers {
            writeln!(out, "{}", t.line)?;
        }
    }
    let t = &report.targets;
    writeln!(
        out,
        "\ntargets: API p95 ≤ {} ms · availability ≥ {}% · propagation ≤ {} s · {} policy violations · every schedule within its RPO",
        t.latency_ms, t.availability, t.propagation_seconds, t.violations
    )
}
