//! The wall (`--wall`): a fleet banner, then one tile per cluster coloured by its worst
//! state, showing the current page's figure (health, latency, propagation, backups,
//! audit) and how old its data is. Tiles shrink as the fleet grows; when even one-line
//! tiles do not fit, clusters are grouped by environment (the context name up to its
//! first `-`), each group a line of counts followed by its clusters that are not healthy.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;

use super::chrome::{FooterVm, HeaderVm, KeyHints, fit_pieces};
use super::format::{age, latency, ms, truncate};
use super::table::{Cell, Tone};
use super::{Body, ScreenVm};
use crate::action::{Action, Pane};
use crate::app::model::{Model, Wall};
use crate::app::report::{ClusterReport, Verdict, report};
use crate::audit::record::Severity;
use crate::fleet::ago;
use crate::fleet::probes::fleet_latency;

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
fn audit_counts(model: &Model, now: Timestamp) -> HashMap<&str, (usize, String)> {
    let mut counts: HashMap<&str, (usize, String)> = HashMap::new();
    for line in model.audit.newest_first() {
        let r = &line.record;
        if r.severity == Severity::Ok || ago(now, r.time) > Duration::from_secs(3600) {
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
    fn of(c: &ClusterReport) -> Standing {
        match c.status {
            Verdict::Unreachable => Standing::Down,
            _ if c.stale => Standing::Stale,
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

    /// The word on a tile.
    fn word(self, c: &ClusterReport) -> &'static str {
        match self {
            Standing::Down if c.state == "unauthorized" => "UNAUTHORIZED",
            Standing::Down => "DOWN",
            Standing::Stale => "STALE",
            Standing::Degraded => "DEGRADED",
            Standing::Ok => "OK",
        }
    }
}

fn data_age(c: &ClusterReport) -> String {
    match c.data_age_seconds {
        Some(s) => age(Duration::from_secs(s)),
        None => "—".to_owned(),
    }
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}s"))
}

/// The page's figure for a cluster: short (a one-line tile) and two longer lines.
fn figures(c: &ClusterReport, page: Pane, audit: Option<&(usize, String)>, now: Timestamp) -> (String, String, String) {
    let p = &c.propagation;
    match page {
        Pane::Health => {
            let nodes = c.nodes.map_or_else(|| "—".to_owned(), |n| format!("{}/{}", n.ready, n.total));
            let version = c.version.clone().unwrap_or_else(|| c.state.clone());
            (nodes.clone(), format!("nodes {nodes}"), version)
        }
        Pane::Latency => {
            let avail = c.availability.map_or_else(|| "—".to_owned(), |a| format!("{a:.2}%"));
            (
                ms(c.latency_ms.p95),
                format!("p95 {}", ms(c.latency_ms.p95)),
                format!("p50 {} · {avail}", ms(c.latency_ms.p50)),
            )
        }
        Pane::Propagation => {
            let sync = if p.total() == 0 { "—".to_owned() } else { format!("{}/{}", p.in_sync, p.total()) };
            let viol = c.violations.map_or_else(|| "—".to_owned(), |v| v.to_string());
            (
                sync.clone(),
                format!("sync {sync} · viol {viol}"),
                format!("last {} · p95 {}", secs(p.last_seconds), secs(p.p95_seconds)),
            )
        }
        Pane::Backups => {
            let ok = c.backups.iter().filter(|b| b.rpo_ok).count();
            let rpo = if c.backups.is_empty() { "—".to_owned() } else { format!("{ok}/{}", c.backups.len()) };
            let last = match c.backups.iter().filter_map(|b| b.last_success).max() {
                Some(t) => format!("good {} ago", age(ago(now, t))),
                None if c.backups.is_empty() => "no schedule".to_owned(),
                None => "no good backup".to_owned(),
            };
            (rpo.clone(), format!("RPO ok {rpo}"), last)
        }
        Pane::Audit => match audit {
            Some((n, last)) => {
                (format!("{n} warn"), format!("{n} warning{} 1h", if *n == 1 { "" } else { "s" }), last.clone())
            }
            None => ("0 warn".to_owned(), "0 warnings 1h".to_owned(), String::new()),
        },
    }
}

fn tile(c: &ClusterReport, page: Pane, audit: Option<&(usize, String)>, (w, h): (u16, u16), now: Timestamp) -> TileVm {
    let standing = Standing::of(c);
    let word = standing.word(c);
    let (short, long, mut more) = figures(c, page, audit, now);
    let w = w as usize;
    let data = if c.stale { format!("stale {}", data_age(c)) } else { format!("data {}", data_age(c)) };
    let lines = match h {
        1 => {
            let tail = format!(" {short} {}", data_age(c));
            let name = truncate(&c.name, w.saturating_sub(tail.chars().count() + 2));
            let mark = standing.mark();
            vec![format!("{mark}{name:<0$}{tail}", w.saturating_sub(tail.chars().count() + 1))]
        }
        2 => vec![truncate(&format!("{} {word}", c.name), w), truncate(&format!("{long} · {}", data_age(c)), w)],
        3 => vec![truncate(&c.name, w), truncate(&format!("{word} · {long}"), w), truncate(&data, w)],
        _ => {
            if standing != Standing::Ok && page == Pane::Health {
                // What is wrong says more than the version.
                more = c.problems.first().cloned().unwrap_or(more);
            }
            let long = format!("{word} · {long}");
            vec![truncate(&c.name, w), truncate(&long, w), truncate(&more, w), truncate(&data, w)]
        }
    };
    TileVm { lines, tone: standing.tone(), filled: standing != Standing::Ok }
}

/// "production", from "production-eu-1".
fn environment(name: &str) -> &str {
    name.split(['-', '_', '.']).next().filter(|e| !e.is_empty()).unwrap_or(name)
}

/// The grouped layout: a heading of counts per environment (worst first), then the
/// clusters of it that are not healthy, as one-line tiles, as many as fit.
fn grouped(
    clusters: &[ClusterReport],
    page: Pane,
    audit: &HashMap<&str, (usize, String)>,
    width: u16,
    height: u16,
    now: Timestamp,
) -> WallVm {
    let (tw, th) = SIZES[SIZES.len() - 1];
    let cols = columns(width, tw);
    let mut envs: BTreeMap<&str, Vec<&ClusterReport>> = BTreeMap::new();
    for c in clusters {
        envs.entry(environment(&c.name)).or_default().push(c);
    }
    let mut envs: Vec<(&str, Vec<&ClusterReport>)> = envs.into_iter().collect();
    // The hub's group first, then the worst off.
    let key = |cs: &[&ClusterReport]| {
        (!cs.iter().any(|c| c.role == "hub"), std::cmp::Reverse(cs.iter().map(|c| Standing::of(c)).max()))
    };
    envs.sort_by(|a, b| key(&a.1).cmp(&key(&b.1)).then(a.0.cmp(b.0)));
    let mut left = height.saturating_sub(envs.len() as u16) as usize;
    let mut sections = Vec::new();
    for (env, members) in envs {
        let oldest = members.iter().filter_map(|c| c.data_age_seconds).max();
        let n = members.len();
        let mut heading =
            vec![Cell::new(format!("{env} · {n} cluster{}", if n == 1 { "" } else { "s" }), Tone::Accent)];
        for standing in [Standing::Ok, Standing::Degraded, Standing::Down, Standing::Stale] {
            let n = members.iter().filter(|c| Standing::of(c) == standing).count();
            if n > 0 {
                heading.push(Cell::muted(" · "));
                heading.push(Cell::new(format!("{n} {}", standing.label()), standing.tone()));
            }
        }
        if let Some(s) = oldest {
            heading.push(Cell::muted(format!(" · data ≤ {}", age(Duration::from_secs(s)))));
        }
        let mut problems: Vec<&&ClusterReport> = members.iter().filter(|c| Standing::of(c) != Standing::Ok).collect();
        problems.sort_by(|a, b| Standing::of(b).cmp(&Standing::of(a)).then(a.name.cmp(&b.name)));
        let room = left * cols as usize;
        let shown = if problems.len() <= room { problems.len() } else { room.saturating_sub(1) };
        let mut tiles: Vec<TileVm> =
            problems[..shown].iter().map(|c| tile(c, page, audit.get(c.name.as_str()), (tw, th), now)).collect();
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
pub fn tiles(model: &Model, clusters: &[ClusterReport], page: Pane, now: Timestamp, width: u16, height: u16) -> WallVm {
    let audit = if page == Pane::Audit { audit_counts(model, now) } else { HashMap::new() };
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
                    tiles: clusters.iter().map(|c| tile(c, page, audit.get(c.name.as_str()), size, now)).collect(),
                }],
            }
        }
        None => grouped(clusters, page, &audit, width, height, now),
    }
}

/// The banner: spokes live, fleet p95, policy sync, violations, clusters within RPO.
fn banner(model: &Model, clusters: &[ClusterReport], now: Timestamp, width: u16) -> Vec<Cell> {
    let spokes: Vec<&ClusterReport> = clusters.iter().filter(|c| matches!(c.role, "spoke" | "hub-only")).collect();
    let live = spokes.iter().filter(|c| c.state == "live" && !c.stale).count();
    let ratio = |n: usize, of: usize| if n == of { Tone::Ok } else { Tone::Crit };
    let mut pieces =
        vec![(0, vec![Cell::new(format!("spokes live {live}/{}", spokes.len()), ratio(live, spokes.len()))])];
    let target = model.settings.latency_target;
    if let Some(p95) = fleet_latency(model.clusters.iter().map(|c| &c.probes), now, target).p95 {
        let tone = if p95 > target { Tone::Warn } else { Tone::Ok };
        pieces.push((1, vec![Cell::new(format!("p95 latency {}", latency(p95)), tone)]));
    }
    let synced: Vec<&&ClusterReport> = spokes.iter().filter(|c| c.propagation.total() > 0).collect();
    let in_sync = synced.iter().filter(|c| c.propagation.in_sync == c.propagation.total()).count();
    pieces.push((1, vec![Cell::new(format!("policy sync {in_sync}/{}", synced.len()), ratio(in_sync, synced.len()))]));
    let violations: i64 = clusters.iter().filter_map(|c| c.violations).sum();
    pieces.push((
        1,
        vec![Cell::new(format!("violations {violations}"), if violations == 0 { Tone::Ok } else { Tone::Crit })],
    ));
    let backed: Vec<&ClusterReport> = clusters.iter().filter(|c| !c.backups.is_empty()).collect();
    let within = backed.iter().filter(|c| c.backups.iter().all(|b| b.rpo_ok)).count();
    pieces.push((2, vec![Cell::new(format!("within RPO {within}/{}", backed.len()), ratio(within, backed.len()))]));
    if let Some(warning) = super::chrome::write_warning(model) {
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

fn page_line(wall: &Wall, now: Timestamp) -> String {
    let n = wall.page.index() + 1;
    let total = Pane::ALL.len();
    match wall.next_in(now) {
        Some(d) => format!("page {n}/{total} · next in {}s", d.as_secs()),
        None => format!("page {n}/{total} · PAUSED"),
    }
}

/// The whole wall screen.
pub fn screen(model: &Model, wall: &Wall, hints: &KeyHints, now: Timestamp, width: u16, height: u16) -> ScreenVm {
    let clusters = report(model, now).clusters;
    let header = HeaderVm {
        tabs: Pane::ALL.iter().map(|p| (p.title().to_owned(), *p == wall.page)).collect(),
        right: now.strftime("%H:%M:%S UTC").to_string(),
        badge: Some("WALL · READ-ONLY".to_owned()),
    };
    let subtitle = vec![banner(model, &clusters, now, width), legend(width)];
    let body_height = super::table_rows(height, subtitle.len()) as u16 + 1;
    let body = tiles(model, &clusters, wall.page, now, width, body_height);
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
