//! The wall (`--wall`): a fleet banner, then one tile per cluster coloured by its worst
//! state, showing the current page's figure (health, latency, propagation, backups,
//! audit) and how old its data is. Tiles shrink as the fleet grows; when even one-line
//! tiles do not fit, clusters are grouped by environment (the context name up to its
//! first `-`), each group a line of counts followed by its clusters that are not healthy.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;

use super::chrome::{FooterVm, HeaderVm, KeyHints};
use super::format::{age, latency, truncate};
use super::table::{Cell, Tone, fit_pieces};
use super::{Body, ScreenVm};
use crate::action::{Action, Pane};
use crate::app::model::{Model, Wall};
use crate::audit::record::Severity;
use crate::derive::Derived;
use crate::derive::cluster::ClusterView;
use crate::derive::judge::{Judgment, Verdict};
use crate::derive::propagation::{Compliance, SpokeSync, add_severities};
use crate::derive::report::seconds;
use crate::fleet::ago;
use crate::fleet::cluster::State;
use crate::fleet::registry::Role;
use crate::fleet::summary::Severity as FindingSeverity;

/// One tile: its lines, and the tone of its worst state. A tile with a problem is drawn
/// as a block of that colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileVm {
    pub lines: Vec<String>,
    pub tone: Tone,
    pub filled: bool,
}

/// A run of tiles under an optional heading (an environment, when grouped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionVm {
    pub heading: Option<Vec<Cell>>,
    pub tiles: Vec<TileVm>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WallVm {
    pub tile_width: u16,
    pub tile_height: u16,
    pub columns: u16,
    pub sections: Vec<SectionVm>,
}

/// Tile sizes, largest first: (width, height). Tiles are a column apart, and a row apart
/// when taller than one line.
const SIZES: [(u16, u16); 4] = [(30, 4), (24, 3), (24, 2), (26, 1)];

fn gap_rows(height: u16) -> u16 {
    u16::from(height > 1)
}

fn columns(width: u16, tile: u16) -> u16 {
    ((width + 1) / (tile + 1)).max(1)
}

fn rows(height: u16, tile: u16) -> u16 {
    (height + gap_rows(tile)) / (tile + gap_rows(tile))
}

/// The largest size at which `n` tiles fit in `width` x `height`.
fn size_for(n: usize, width: u16, height: u16) -> Option<(u16, u16)> {
    SIZES.into_iter().find(|&(w, h)| columns(width, w) as usize * rows(height, h) as usize >= n)
}

/// Per cluster: Warning and failure records of the last hour, and the newest of them.
/// The timeline is in time order, so only the last hour of it is read.
fn audit_counts(model: &Model, now: Timestamp) -> HashMap<&str, (usize, String)> {
    let mut counts: HashMap<&str, (usize, String)> = HashMap::new();
    for line in model.audit.newest_first() {
        let r = &line.record;
        if ago(now, r.time) > Duration::from_secs(3600) {
            break;
        }
        if r.severity == Severity::Ok {
            continue;
        }
        let entry = counts.entry(&r.cluster).or_insert_with(|| (0, format!("{} {}", r.verb, r.object())));
        entry.0 += 1;
    }
    counts
}

/// A tile's worst state, best first: what colours it, counts it in its group and orders
/// it. Stale data is never shown as healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Standing {
    Ok,
    Degraded,
    Stale,
    Down,
}

impl Standing {
    fn of(verdict: Verdict, stale: bool) -> Standing {
        match verdict {
            Verdict::Unreachable => Standing::Down,
            _ if stale => Standing::Stale,
            Verdict::Degraded => Standing::Degraded,
            Verdict::Healthy => Standing::Ok,
        }
    }

    fn tone(self) -> Tone {
        match self {
            Standing::Ok => Tone::Ok,
            Standing::Degraded => Tone::Warn,
            Standing::Stale => Tone::Stale,
            Standing::Down => Tone::Crit,
        }
    }

    /// The mark of a one-line tile, so the state reads without colour too.
    fn mark(self) -> char {
        match self {
            Standing::Ok => ' ',
            Standing::Degraded => '!',
            Standing::Stale => '~',
            Standing::Down => 'X',
        }
    }

    /// How a group's heading counts it.
    fn label(self) -> &'static str {
        match self {
            Standing::Ok => "healthy",
            Standing::Degraded => "degraded",
            Standing::Stale => "stale",
            Standing::Down => "down",
        }
    }
}

/// What a tile is of: a cluster of the kubeconfig, or a registration no context reaches.
#[derive(Clone, Copy)]
enum Of<'a> {
    Cluster(&'a ClusterView),
    HubOnly(&'a SpokeSync, &'a Judgment),
}

/// A member of the wall: a cluster or a registration, with what places and colours it.
#[derive(Clone, Copy)]
struct Member<'a> {
    name: &'a str,
    of: Of<'a>,
    standing: Standing,
    stale: bool,
    data_age: Option<Duration>,
}

impl<'a> Member<'a> {
    fn judgment(&self) -> &'a Judgment {
        match self.of {
            Of::Cluster(v) => &v.judgment,
            Of::HubOnly(_, j) => j,
        }
    }

    fn role(&self) -> Role {
        match self.of {
            Of::Cluster(v) => v.role.role(),
            Of::HubOnly(..) => Role::HubOnly,
        }
    }

    /// The word on a tile.
    fn word(&self) -> &'static str {
        match (self.standing, self.of) {
            (Standing::Down, Of::Cluster(v)) if matches!(v.state, State::Unauthorized { .. }) => "UNAUTHORIZED",
            (Standing::Down, Of::Cluster(v)) if matches!(v.state, State::Misconfigured { .. }) => "MISCONFIGURED",
            (Standing::Down, _) => "DOWN",
            (Standing::Stale, _) => "STALE",
            (Standing::Degraded, _) => "DEGRADED",
            (Standing::Ok, _) => "OK",
        }
    }
}

/// Every member, hub first, then the registrations no context reaches.
fn members<'a>(model: &'a Model, derived: &'a Derived) -> Vec<Member<'a>> {
    let now = model.now;
    let mut out: Vec<Member> = derived
        .order
        .iter()
        .map(|&id| {
            let v = &*derived.clusters[id];
            let c = &model.fleet.clusters()[id];
            Member {
                name: &c.context,
                of: Of::Cluster(v),
                standing: Standing::of(v.judgment.verdict, v.stale),
                stale: v.stale,
                data_age: c.data_age(now),
            }
        })
        .collect();
    let shared = &derived.shared;
    out.extend(shared.hub_only.iter().zip(&shared.hub_only_judgments).map(|(row, j)| Member {
        name: &row.name,
        of: Of::HubOnly(row, j),
        standing: Standing::of(j.verdict, false),
        stale: false,
        data_age: None,
    }));
    out
}

fn data_age(m: &Member) -> String {
    m.data_age.map_or_else(|| "—".to_owned(), age)
}

fn secs(v: Option<Duration>) -> String {
    v.map_or_else(|| "—".to_owned(), |d| format!("{:.1}s", seconds(d)))
}

fn opt_latency(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".to_owned(), latency)
}

/// The page's figure for a member: short (a one-line tile) and two longer lines.
fn figures(model: &Model, m: &Member, page: Pane, audit: Option<&(usize, String)>) -> (String, String, String) {
    let now = model.now;
    let sync = m.judgment().sync;
    let (view, row) = match m.of {
        Of::Cluster(v) => (Some(v), v.rows.sync.as_ref()),
        Of::HubOnly(row, _) => (None, Some(row)),
    };
    match page {
        Pane::Health => {
            let cluster = view.map(|v| &model.fleet.clusters()[v.id]);
            let nodes = match cluster {
                Some(c) if c.version.is_some() && c.listed(crate::fleet::kind::Kind::Node) => {
                    let (ready, total) = c.node_counts();
                    format!("{ready}/{total}")
                }
                _ => "—".to_owned(),
            };
            let state = view.map_or("no-context", |v| crate::derive::report::ReportState::of(&v.state).label());
            let version = cluster.and_then(|c| c.version.clone()).unwrap_or_else(|| state.to_owned());
            (nodes.clone(), format!("nodes {nodes}"), version)
        }
        Pane::Latency => {
            let p95 = view.and_then(|v| v.latency.p95);
            let p50 = view.and_then(|v| v.latency.p50);
            let avail = view
                .and_then(|v| v.availability)
                .map_or_else(|| "—".to_owned(), |a| format!("{:.2}%", (a * 1_000_000.0).round() / 10_000.0));
            (opt_latency(p95), format!("p95 {}", opt_latency(p95)), format!("p50 {} · {avail}", opt_latency(p50)))
        }
        Pane::Propagation => {
            let sync = if sync.total() == 0 { "—".to_owned() } else { format!("{}/{}", sync.in_sync, sync.total()) };
            let viol = match view.map(|v| &v.rows.compliance) {
                Some(Compliance::Counts { fail, .. }) => fail.to_string(),
                _ => "—".to_owned(),
            };
            let stats = row.map(|r| &r.stats);
            let last = stats.and_then(|s| s.last).map(|t| t.duration);
            (
                sync.clone(),
                format!("sync {sync} · viol {viol}"),
                format!("last {} · p95 {}", secs(last), secs(stats.and_then(|s| s.p95))),
            )
        }
        Pane::Backups => {
            let schedules: Vec<_> =
                view.into_iter().flat_map(|v| v.rows.backups.iter().filter_map(|r| r.health())).collect();
            let ok = schedules.iter().filter(|h| !h.rpo.breached()).count();
            let rpo = if schedules.is_empty() { "—".to_owned() } else { format!("{ok}/{}", schedules.len()) };
            let last = match schedules.iter().filter_map(|h| h.good_at).max() {
                Some(t) => format!("good {} ago", age(ago(now, t))),
                None if schedules.is_empty() => "no schedule".to_owned(),
                None => "no good backup".to_owned(),
            };
            (rpo.clone(), format!("RPO ok {rpo}"), last)
        }
        Pane::Runs => {
            let runs = crate::derive::runs::rows(&model.fleet, now);
            match runs.into_iter().find(|r| r.run.cluster == m.name || r.run.context == m.name) {
                Some(r) => (
                    r.state.name().to_owned(),
                    format!("{} {} {}/{}", r.run.workflow.name(), r.state.name(), r.step, r.steps),
                    format!("{} ago · {}", age(ago(now, r.run.started_at)), r.run.by.label()),
                ),
                None => ("—".to_owned(), "no run".to_owned(), String::new()),
            }
        }
        Pane::Audit => match audit {
            Some((n, last)) => {
                (format!("{n} warn"), format!("{n} warning{} 1h", if *n == 1 { "" } else { "s" }), last.clone())
            }
            None => ("0 warn".to_owned(), "0 warnings 1h".to_owned(), String::new()),
        },
    }
}

/// A cluster's policy findings, apart from its health: the count of its worst
/// severity (`⚑ 2 high`), none when it has none or they are not read.
fn compliance_mark(m: &Member) -> Option<String> {
    let Of::Cluster(v) = m.of else { return None };
    let Compliance::Counts { by_severity, fail, .. } = &v.rows.compliance else { return None };
    if *fail == 0 {
        return None;
    }
    let (worst, n) = by_severity.iter().find(|(_, n)| **n > 0)?;
    Some(format!("⚑ {n} {}", worst.label()))
}

fn tile(model: &Model, m: &Member, page: Pane, audit: Option<&(usize, String)>, (w, h): (u16, u16)) -> TileVm {
    let word = m.word();
    // Compliance is a mark of its own on the tile, never its colour.
    let word = match compliance_mark(m) {
        Some(mark) if h >= 2 => format!("{word} {mark}"),
        _ => word.to_owned(),
    };
    let (short, long, mut more) = figures(model, m, page, audit);
    let w = w as usize;
    let data = if m.stale { format!("stale {}", data_age(m)) } else { format!("data {}", data_age(m)) };
    let lines = match h {
        1 => {
            let tail = format!(" {short} {}", data_age(m));
            let name = truncate(m.name, w.saturating_sub(tail.chars().count() + 2));
            let mark = m.standing.mark();
            vec![format!("{mark}{name:<0$}{tail}", w.saturating_sub(tail.chars().count() + 1))]
        }
        2 => vec![truncate(&format!("{} {word}", m.name), w), truncate(&format!("{long} · {}", data_age(m)), w)],
        3 => vec![truncate(m.name, w), truncate(&format!("{word} · {long}"), w), truncate(&data, w)],
        _ => {
            if m.standing != Standing::Ok && page == Pane::Health {
                // What is wrong says more than the version (a finding below the severity
                // threshold is the mark's to tell, not the reason).
                more = m.judgment().problems.iter().find(|p| p.degrades()).map_or(more, |p| p.text(model.now));
            }
            let long = format!("{word} · {long}");
            vec![truncate(m.name, w), truncate(&long, w), truncate(&more, w), truncate(&data, w)]
        }
    };
    TileVm { lines, tone: m.standing.tone(), filled: m.standing != Standing::Ok }
}

/// "production", from "production-eu-1".
fn environment(name: &str) -> &str {
    name.split(['-', '_', '.']).next().filter(|e| !e.is_empty()).unwrap_or(name)
}

/// The grouped layout: a heading of counts per environment (worst first), then the
/// clusters of it that are not healthy, as one-line tiles, as many as fit.
fn grouped(
    model: &Model,
    clusters: &[Member],
    page: Pane,
    audit: &HashMap<&str, (usize, String)>,
    width: u16,
    height: u16,
) -> WallVm {
    let (tw, th) = SIZES[SIZES.len() - 1];
    let cols = columns(width, tw);
    let mut envs: BTreeMap<&str, Vec<&Member>> = BTreeMap::new();
    for c in clusters {
        envs.entry(environment(c.name)).or_default().push(c);
    }
    let mut envs: Vec<(&str, Vec<&Member>)> = envs.into_iter().collect();
    // The hub's group first, then the worst off.
    let key = |cs: &[&Member]| {
        (!cs.iter().any(|c| c.role() == Role::Hub), std::cmp::Reverse(cs.iter().map(|c| c.standing).max()))
    };
    envs.sort_by(|a, b| key(&a.1).cmp(&key(&b.1)).then(a.0.cmp(b.0)));
    let mut left = height.saturating_sub(envs.len() as u16) as usize;
    let mut sections = Vec::new();
    for (env, members) in envs {
        let oldest = members.iter().filter_map(|c| c.data_age).max();
        let n = members.len();
        let mut heading =
            vec![Cell::new(format!("{env} · {n} cluster{}", if n == 1 { "" } else { "s" }), Tone::Accent)];
        for standing in [Standing::Ok, Standing::Degraded, Standing::Down, Standing::Stale] {
            let n = members.iter().filter(|c| c.standing == standing).count();
            if n > 0 {
                heading.push(Cell::muted(" · "));
                heading.push(Cell::new(format!("{n} {}", standing.label()), standing.tone()));
            }
        }
        if let Some(a) = oldest {
            // Whole seconds, as the tiles say them.
            heading.push(Cell::muted(format!(" · data ≤ {}", age(Duration::from_secs(a.as_secs())))));
        }
        let mut problems: Vec<&&Member> = members.iter().filter(|c| c.standing != Standing::Ok).collect();
        problems.sort_by(|a, b| b.standing.cmp(&a.standing).then(a.name.cmp(b.name)));
        let room = left * cols as usize;
        let shown = if problems.len() <= room { problems.len() } else { room.saturating_sub(1) };
        let mut tiles: Vec<TileVm> =
            problems[..shown].iter().map(|c| tile(model, c, page, audit.get(c.name), (tw, th))).collect();
        if shown < problems.len() {
            tiles.push(TileVm {
                lines: vec![format!(" +{} more not healthy", problems.len() - shown)],
                tone: Tone::Muted,
                filled: false,
            });
        }
        left = left.saturating_sub(tiles.len().div_ceil(cols as usize));
        sections.push(SectionVm { heading: Some(heading), tiles });
    }
    WallVm { tile_width: tw, tile_height: th, columns: cols, sections }
}

/// The tiles of a body of `width` x `height`.
fn tiles(model: &Model, clusters: &[Member], page: Pane, width: u16, height: u16) -> WallVm {
    let audit = if page == Pane::Audit { audit_counts(model, model.now) } else { HashMap::new() };
    match size_for(clusters.len(), width, height) {
        Some((w, h)) => {
            // The columns that fit share the whole width.
            let cols = columns(width, w);
            let size = (((width + 1) / cols).saturating_sub(1).max(w), h);
            WallVm {
                tile_width: size.0,
                tile_height: size.1,
                columns: cols,
                sections: vec![SectionVm {
                    heading: None,
                    tiles: clusters.iter().map(|c| tile(model, c, page, audit.get(c.name), size)).collect(),
                }],
            }
        }
        None => grouped(model, clusters, page, &audit, width, height),
    }
}

/// The banner: spokes live, fleet p95, policy sync, violations, clusters within RPO.
fn banner(model: &Model, derived: &Derived, clusters: &[Member], width: u16) -> Vec<Cell> {
    let spokes: Vec<&Member> = clusters.iter().filter(|c| matches!(c.role(), Role::Spoke | Role::HubOnly)).collect();
    let live = spokes.iter().filter(|c| matches!(c.of, Of::Cluster(v) if v.state == State::Live) && !c.stale).count();
    let ratio = |n: usize, of: usize| if n == of { Tone::Ok } else { Tone::Crit };
    let mut pieces =
        vec![(0, vec![Cell::new(format!("spokes live {live}/{}", spokes.len()), ratio(live, spokes.len()))])];
    let target = model.fleet.settings.latency_target;
    if let Some(p95) = derived.latency.p95 {
        let tone = if p95 > target { Tone::Warn } else { Tone::Ok };
        pieces.push((1, vec![Cell::new(format!("p95 latency {}", latency(p95)), tone)]));
    }
    let synced: Vec<&&Member> = spokes.iter().filter(|c| c.judgment().sync.total() > 0).collect();
    let in_sync = synced.iter().filter(|c| c.judgment().sync.in_sync == c.judgment().sync.total()).count();
    pieces.push((1, vec![Cell::new(format!("policy sync {in_sync}/{}", synced.len()), ratio(in_sync, synced.len()))]));
    // Health and compliance apart: how many clusters are healthy, and how many carry
    // findings (those at the severity that degrades counted on their own).
    let judged: Vec<&Member> = clusters.iter().filter(|c| matches!(c.of, Of::Cluster(_))).collect();
    let healthy = judged.iter().filter(|c| c.standing == Standing::Ok).count();
    pieces.push((0, vec![Cell::new(format!("{healthy}/{} healthy", judged.len()), ratio(healthy, judged.len()))]));
    let threshold = model.fleet.settings.violation_severity;
    let findings: Vec<(i64, i64)> = derived.clusters.iter().map(|v| v.rows.compliance.split(threshold)).collect();
    let non_compliant = findings.iter().filter(|(at, below)| at + below > 0).count();
    let severe = findings.iter().filter(|(at, _)| *at > 0).count();
    // The fleet's total against its target of zero, by severity.
    let mut by_severity: BTreeMap<FindingSeverity, i64> = BTreeMap::new();
    for counts in derived.clusters.iter().filter_map(|v| v.rows.compliance.by_severity()) {
        add_severities(&mut by_severity, counts);
    }
    let violations: i64 = derived.clusters.iter().map(|v| v.rows.compliance.failures()).sum();
    let split: Vec<String> =
        by_severity.iter().filter(|(_, n)| **n > 0).map(|(s, n)| format!("{n} {}", s.label())).collect();
    let tone = match (non_compliant, severe) {
        (0, _) => Tone::Ok,
        (_, 0) => Tone::Muted,
        _ => Tone::Warn,
    };
    if non_compliant == 0 {
        pieces.push((1, vec![Cell::new("compliant", tone)]));
    } else {
        let text = format!("{non_compliant} non-compliant ({severe} {}+)", threshold.label());
        pieces.push((1, vec![Cell::new(text, tone)]));
        // The fleet's total against its target of zero, by severity, where it fits.
        pieces.push((2, vec![Cell::new(format!("violations {violations} ({})", split.join(", ")), tone)]));
    }
    let backed: Vec<&ClusterView> =
        derived.clusters.iter().map(|v| &**v).filter(|v| v.rows.backups.iter().any(|r| r.health().is_some())).collect();
    let within =
        backed.iter().filter(|v| v.rows.backups.iter().filter_map(|r| r.health()).all(|h| !h.rpo.breached())).count();
    pieces.push((2, vec![Cell::new(format!("within RPO {within}/{}", backed.len()), ratio(within, backed.len()))]));
    if let Some(warning) = super::chrome::write_warning(model, derived) {
        pieces.push((0, vec![warning]));
    }
    fit_pieces(pieces, width)
}

fn legend(width: u16) -> Vec<Cell> {
    let pieces =
        [("OK", Tone::Ok), ("! DEGRADED", Tone::Warn), ("X DOWN", Tone::Crit), ("~ STALE: data too old", Tone::Stale)]
            .into_iter()
            .map(|(t, tone)| (1, vec![Cell::new(t, tone)]))
            .collect();
    fit_pieces(pieces, width)
}

/// A line per run going on the hub (three at most, then how many more):
/// "registering edge-eu-1 · step 4/8 · alice@laptop".
fn runs_banner(model: &Model, width: u16) -> Vec<Vec<Cell>> {
    let going = crate::derive::runs::going(&model.fleet, model.now);
    let mut lines: Vec<Vec<Cell>> = going
        .iter()
        .take(3)
        .map(|r| {
            let waits =
                if r.state == crate::fleet::run::RunState::Waiting { " · waiting for the operator" } else { "" };
            let text = format!(
                "{} {} · step {}/{} · {}{waits}",
                r.run.workflow.gerund(),
                r.run.cluster,
                r.step,
                r.steps,
                r.run.by.user
            );
            vec![Cell::new(super::format::truncate(&text, width as usize), Tone::Accent)]
        })
        .collect();
    if going.len() > 3 {
        lines.push(vec![Cell::muted(format!("and {} more runs going (runs pane)", going.len() - 3))]);
    }
    lines
}

fn page_line(wall: &Wall, now: Timestamp) -> String {
    let n = wall.page.index() + 1;
    let total = Pane::ALL.len();
    match wall.next_in(now) {
        Some(d) => format!("page {n}/{total} · next in {}s", d.as_secs()),
        None => format!("page {n}/{total} · PAUSED"),
    }
}

/// The whole wall screen.
pub fn screen(model: &Model, derived: &Derived, wall: &Wall, hints: &KeyHints, width: u16, height: u16) -> ScreenVm {
    let now = model.now;
    let clusters = members(model, derived);
    let header = HeaderVm {
        tabs: Pane::ALL.iter().map(|p| (p.title().to_owned(), *p == wall.page)).collect(),
        right: now.strftime("%H:%M:%S UTC").to_string(),
        badge: Some("WALL · READ-ONLY".to_owned()),
    };
    // The rollback triggers' red line, as on every pane.
    let alert = super::chrome::trigger_line(model, derived, hints, width);
    let height = height.saturating_sub(u16::from(alert.is_some()));
    let mut subtitle = vec![banner(model, derived, &clusters, width)];
    subtitle.extend(runs_banner(model, width));
    subtitle.push(legend(width));
    let body_height = super::table_rows(height, subtitle.len()) as u16 + 1;
    let body = tiles(model, &clusters, wall.page, width, body_height);
    let hint = |a: Action, what: &str| (hints.keys(a), what.to_owned());
    let footer = FooterVm {
        status: vec![Cell::muted(format!(
            "{} clusters · each tile shows how old its data is; stale data is never shown as OK",
            clusters.len()
        ))],
        hints: [
            hint(Action::Pause, if wall.paused { "resume" } else { "pause" }),
            hint(Action::NextPane, "next page"),
            hint(Action::PrevPane, "previous page"),
            hint(Action::Quit, "quit"),
        ]
        .into_iter()
        .filter(|(k, _)| !k.is_empty())
        .collect(),
        editing: None,
    };
    ScreenVm {
        header,
        alert,
        title: format!("Fleet · {} · {}", wall.page.title(), page_line(wall, now)),
        subtitle,
        body: Body::Wall(body),
        chart: None,
        footer,
        operation: None,
        help: None,
        too_small: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_shrink_then_group() {
        assert_eq!(size_for(17, 120, 34), Some((30, 4)));
        assert_eq!(size_for(301, 240, 61), Some((26, 1)));
        assert_eq!(size_for(301, 120, 34), None);
        assert_eq!(size_for(1001, 240, 61), None);
        assert_eq!(environment("production-eu-12"), "production");
        assert_eq!(environment("hub"), "hub");
    }
}
