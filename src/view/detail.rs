//! The detail of one cluster: identity and state, nodes with their conditions, every
//! watch with its recent errors, the kinds not installed, and the probe history.

use std::time::Duration;

use super::format::{age, latency, percent};
use super::health::state_cell;
use super::table::{Cell, Line, Tone};
use crate::app::model::Model;
use crate::derive::{Derived, RowKey};
use crate::fleet::ago;
use crate::fleet::cluster::{Connection, WatchState};
use crate::fleet::probes::Endpoint;
use crate::fleet::registry::ContextRole;
use crate::fleet::summary::ConditionStatus;

/// The probe history as the chart draws it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChartVm {
    /// Microseconds per probe, oldest first; failures are `None`.
    pub samples: Vec<Option<u64>>,
    pub target_us: u64,
    pub caption: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DetailVm {
    pub title: String,
    pub lines: Vec<Line>,
    pub scroll: usize,
    /// The probe history (a cluster's detail).
    pub chart: Option<ChartVm>,
}

pub fn field(label: &str, value: Vec<Cell>) -> Line {
    let mut line = vec![Cell::muted(format!("{label:<12}"))];
    line.extend(value);
    line
}

pub fn heading(text: String) -> Line {
    vec![Cell::new(text, Tone::Accent)]
}

pub fn detail(model: &Model, derived: &Derived, key: &RowKey, width: u16) -> Option<DetailVm> {
    let now = model.now;
    let v = derived.cluster(key.cluster()?)?;
    let fleet = &model.fleet;
    let c = &fleet.clusters()[v.id];
    let state = &v.state;
    let mut lines: Vec<Line> = Vec::new();
    lines.push(field("Server", vec![Cell::plain(c.server.clone())]));
    let registration = fleet.registration_of(v.id);
    let role_text = match (v.role, registration) {
        (ContextRole::Spoke { by, .. }, Some(r)) => {
            format!("spoke: hub registration \"{}\", joined by {}", r.name, by.label())
        }
        (ContextRole::Candidate, _) => "candidate: no hub registration names this context".to_owned(),
        (ContextRole::Unknown, _) => "role unknown: hub not reached (its registrations are not read yet)".to_owned(),
        (r, _) => r.role().label().to_owned(),
    };
    lines.push(field("Role", vec![Cell::plain(role_text)]));
    let mut state_line = vec![state_cell(state, now)];
    if let Some(e) = state.error() {
        state_line.push(Cell::new(format!("  {} ({} ago)", e.message, age(ago(now, e.at))), Tone::Crit));
    }
    lines.push(field("State", state_line));
    if let Connection::Failed { attempts, .. } = &c.connection {
        lines.push(field(
            "Connection",
            vec![Cell::new(format!("{attempts} failed attempts, retrying with backoff"), Tone::Warn)],
        ));
    }
    lines.push(field("Version", vec![c.version.clone().map_or_else(|| Cell::muted("unknown"), Cell::plain)]));
    let recorded = registration.and_then(|reg| reg.secret.as_ref()).and_then(|s| s.cluster_uid.clone());
    let identity = match (&c.uid, recorded) {
        (Some(uid), Some(hub)) if *uid == hub => {
            vec![Cell::plain(uid.clone()), Cell::new("  matches the hub's record", Tone::Ok)]
        }
        (Some(uid), Some(hub)) => {
            vec![Cell::plain(uid.clone()), Cell::new(format!("  differs from the hub's record {hub}"), Tone::Crit)]
        }
        (Some(uid), None) => vec![Cell::plain(uid.clone())],
        (None, _) => vec![Cell::muted("unknown (kube-system not readable)")],
    };
    lines.push(field("Identity", identity));
    let access = match &c.access {
        None => vec![Cell::muted("not asked yet")],
        Some(Err(e)) => vec![Cell::muted(format!("unknown: {}", e.message))],
        Some(Ok(writes)) if writes.is_empty() => vec![Cell::new("read-only credentials", Tone::Ok)],
        Some(Ok(writes)) => {
            let tone = if model.settings.writable { Tone::Normal } else { Tone::Warn };
            vec![Cell::new(format!("these credentials could {}", writes.join(", ")), tone)]
        }
    };
    lines.push(field("Access", access));
    let target = fleet.settings.latency_target;
    let stats = &v.latency;
    let avail = v.availability.map_or("—".to_owned(), percent);
    lines.push(field(
        "Latency",
        vec![Cell::plain(format!(
            "p50 {}  p95 {}  p99 {}  max {}  ·  {} failed  ·  availability {}",
            stats.p50.map_or("—".into(), latency),
            stats.p95.map_or("—".into(), latency),
            stats.p99.map_or("—".into(), latency),
            stats.max.map_or("—".into(), latency),
            stats.failures,
            avail
        ))],
    ));
    if stats.not_charged > 0 {
        lines.push(field(
            "",
            vec![Cell::muted(format!(
                "{} probes not counted: fleetdeck's own work (its runtime busy, its first lists of the cluster) delayed them",
                stats.not_charged
            ))],
        ));
    }
    if c.probe_endpoint != Endpoint::Readyz {
        let missing = match c.probe_endpoint {
            Endpoint::Version => "neither /readyz nor /livez",
            _ => "no /readyz",
        };
        lines.push(field(
            "Probes",
            vec![Cell::plain(format!("GET {}: the server has {missing}", c.probe_endpoint.path()))],
        ));
    }
    if let Some(h) = c.handshake {
        let busy = if h.busy { " (fleetdeck was busy: partly its own time)" } else { "" };
        lines.push(field(
            "Handshake",
            vec![Cell::plain(format!(
                "{} to open the connection (TCP, TLS, HTTP/2), not a probe{busy}",
                latency(h.took)
            ))],
        ));
    }
    let fresh = match c.data_age(now) {
        Some(a) if v.stale => Cell::new(format!("stale: last data {} ago", age(a)), Tone::Stale),
        Some(a) => Cell::plain(format!("last data {} ago", age(a))),
        None => Cell::muted("no data yet"),
    };
    lines.push(field("Freshness", vec![fresh]));
    // The rollback triggers: firing (the red line's), or watching with how far they are
    // (`failed checks 3/5`).
    let triggers: Vec<Cell> = if v.triggers.is_empty() {
        vec![Cell::new("none", Tone::Ok)]
    } else {
        v.triggers
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                let (word, tone) = if t.firing { ("firing", Tone::Crit) } else { ("watching", Tone::Warn) };
                let sep = (i > 0).then(|| Cell::muted(" · "));
                let text = format!("{} {word}: {} (since {} ago)", t.kind.label(), t.detail, age(ago(now, t.since)));
                sep.into_iter().chain([Cell::new(text, tone)])
            })
            .collect()
    };
    lines.push(field("Rollback", triggers));

    lines.push(Vec::new());
    let (ready, total) = c.node_counts();
    lines.push(heading(format!("Nodes ({ready}/{total} ready)")));
    lines.push(vec![Cell::muted(format!(
        "  {:<34} {:<8} {:<14} {:<9} {}",
        "NAME", "READY", "ROLES", "KUBELET", "CONDITIONS"
    ))]);
    for node in c.nodes.values() {
        let odd: Vec<String> = node
            .conditions
            .iter()
            .filter(|cond| (cond.type_ == "Ready") != (cond.status == ConditionStatus::True))
            .map(|cond| {
                let when = cond.since.map(|s| format!(" {}", age(ago(now, s)))).unwrap_or_default();
                format!("{}={} {}{when}", cond.type_, cond.status, cond.reason)
            })
            .collect();
        let tone = if node.is_ready() { Tone::Normal } else { Tone::Warn };
        let roles = if node.roles.is_empty() { "<none>".to_owned() } else { node.roles.join(",") };
        lines.push(vec![
            Cell::new(format!("  {:<34} {:<8} {:<14} {:<9} ", node.name, node.ready, roles, node.kubelet), tone),
            Cell::new(
                if odd.is_empty() { "all normal".to_owned() } else { odd.join("; ") },
                if odd.is_empty() { Tone::Muted } else { Tone::Warn },
            ),
        ]);
    }

    lines.push(Vec::new());
    lines.push(heading("Watches".into()));
    for (kind, w) in &c.watches {
        let (text, tone) = match &w.state {
            WatchState::Pending => ("pending".to_owned(), Tone::Muted),
            WatchState::Syncing => ("listing".to_owned(), Tone::Muted),
            WatchState::Synced => (
                format!(
                    "synced{}",
                    w.synced_at.map(|s| format!(" (listed {} ago)", age(ago(now, s)))).unwrap_or_default()
                ),
                Tone::Ok,
            ),
            WatchState::Failed(e) => (format!("failing: {}", e.message), Tone::Crit),
            WatchState::NotInstalled => ("not installed".to_owned(), Tone::Muted),
        };
        lines.push(vec![Cell::plain(format!("  {:<44} ", kind.label())), Cell::new(text, tone)]);
        for e in w.errors.iter().rev().take(3) {
            lines.push(vec![Cell::muted(format!("      {} ago  {}", age(ago(now, e.at)), e.message))]);
        }
    }
    let missing = c.missing_kinds();
    if !missing.is_empty() {
        lines.push(Vec::new());
        let names: Vec<&str> = missing.iter().map(|k| k.label()).collect();
        lines.push(field("Not installed", vec![Cell::muted(names.join(", "))]));
    }

    let chart_width = width.saturating_sub(4) as usize;
    let samples = c.probes.recent(chart_width.max(10));
    let top = samples.iter().flatten().copied().max().map_or("—".to_owned(), |us| latency(Duration::from_micros(us)));
    let caption = format!(
        "Probe history: last {} probes of GET /readyz, bars up to {top} (target {}), × failed",
        samples.len(),
        latency(target)
    );
    Some(DetailVm {
        title: format!("Cluster {}", c.context),
        lines,
        scroll: model.ui.detail_scroll,
        chart: Some(ChartVm { samples, target_us: target.as_micros() as u64, caption }),
    })
}
