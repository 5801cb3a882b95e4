//! The propagation pane: per spoke, where each of its Kustomizations stands against the
//! hub's source, how long new revisions took to become Ready there, and its policy report
//! counts. A narrow terminal gets one summary per spoke; a wide one the full matrix, a
//! column per Kustomization headed by its source's revision. Below, when there is room,
//! the last revisions' propagation times fleet-wide.

use std::time::Duration;

use jiff::Timestamp;

use super::format::{age, seconds, short_revision, truncate};
use super::table::{Cell, ColumnSpec, TableVm, Tone, fit_pieces};
use crate::action::Pane;
use crate::app::model::Model;
use crate::derive::propagation::{Compliance, SpokeSync, SyncColumn, source};
use crate::derive::{Derived, RowKey};
use crate::fleet::ago;
use crate::fleet::cluster::{State, WatchState};
use crate::fleet::kind::Kind;
use crate::fleet::propagation::PropagationStats;
use crate::fleet::sync::{Paused, SyncState};

const NAME_WIDTH: u16 = 18;
/// Wide enough for the longest Flux failure reason (`ReconciliationFailed`).
const CELL_WIDTH: u16 = 20;
/// Rows the chart needs to be worth drawing (caption, bars, labels).
pub const CHART_ROWS: u16 = 8;

fn stat_columns() -> [ColumnSpec; 7] {
    [
        ColumnSpec::new("LAST", 6, 1).right(),
        ColumnSpec::new("P50", 6, 3).right(),
        ColumnSpec::new("P95", 6, 1).right(),
        ColumnSpec::new("PASS", 5, 4).right(),
        ColumnSpec::new("FAIL", 5, 0).right(),
        ColumnSpec::new("WARN", 5, 4).right(),
        ColumnSpec::new("ERR", 4, 5).right(),
    ]
}

/// Whether the full matrix fits: the name, every Kustomization column and every figure
/// column. When it does not, a per-spoke summary shows more of each row than a cut
/// matrix would.
fn matrix_fits(width: u16, columns: usize) -> bool {
    let figures: u16 = stat_columns().iter().map(|c| c.width + 1).sum();
    let needed = NAME_WIDTH + columns as u16 * (CELL_WIDTH + 1) + figures;
    columns > 0 && needed <= width
}

/// How a Kustomization's state reads in a cell, and its tone.
pub fn state_cell(state: &SyncState, now: Timestamp, target: Duration) -> Cell {
    let behind = |since: Option<Timestamp>| since.map(|s| format!(" {}", age(ago(now, s)))).unwrap_or_default();
    let late = if state.alarm(now, target) { Tone::Crit } else { Tone::Warn };
    match state {
        SyncState::InSync => Cell::new("in sync", Tone::Ok),
        SyncState::Pending { since, reconciling } => {
            let what = if *reconciling { "reconciling" } else { "pending" };
            Cell::new(format!("{what}{}", behind(*since)), late)
        }
        SyncState::Failed { reason, .. } => {
            Cell::new(if reason.is_empty() { "failed".to_owned() } else { reason.clone() }, Tone::Crit)
        }
        SyncState::Suspended { by, behind } => {
            let text = match by {
                Paused::Suspend => "suspended",
                Paused::Disabled => "reconcile disabled",
            };
            Cell::new(text, if *behind { Tone::Warn } else { Tone::Muted })
        }
        SyncState::Stale { since, .. } => Cell::new(format!("stale status{}", behind(*since)), late),
        SyncState::Unreachable { since } => Cell::new(format!("unreachable{}", behind(*since)), Tone::Crit),
        SyncState::NoSource => Cell::new("no source", Tone::Warn),
    }
}

/// The health pane's SYNC cell of a cluster: its Kustomizations at a glance, an alarm
/// when one has been behind for longer than the target. `states` are the spoke's (or the
/// hub's own) Kustomization states; `registered` is false for candidates.
pub fn health_cell<'a>(
    states: impl IntoIterator<Item = &'a SyncState>,
    registered: bool,
    now: Timestamp,
    target: Duration,
) -> Cell {
    if !registered {
        return Cell::muted("—");
    }
    let states: Vec<&SyncState> = states.into_iter().collect();
    let Some(worst) = states.iter().max_by_key(|s| (s.severity(), std::cmp::Reverse(s.behind_since()))) else {
        return Cell::muted("none");
    };
    let alarm = states.iter().any(|s| s.alarm(now, target));
    let behind = states.iter().filter_map(|s| s.behind_since()).min();
    match (worst, behind) {
        (SyncState::InSync, _) => Cell::new("in sync", Tone::Ok),
        (SyncState::Failed { .. }, _) if !alarm => Cell::new("failed", Tone::Crit),
        (SyncState::Unreachable { .. }, _) if !alarm => Cell::new("unreachable", Tone::Crit),
        (_, Some(since)) => {
            Cell::new(format!("behind {}", age(ago(now, since))), if alarm { Tone::Crit } else { Tone::Warn })
        }
        (other, None) => state_cell(other, now, target),
    }
}

fn duration_cell(d: Option<Duration>, target: Duration) -> Cell {
    match d {
        Some(d) => Cell::new(seconds(d), if d > target { Tone::Warn } else { Tone::Normal }),
        None => Cell::muted("—"),
    }
}

fn stat_cells(stats: &PropagationStats, compliance: &Compliance, target: Duration) -> Vec<Cell> {
    let count = |n: i64, bad: Tone| Cell::new(n.to_string(), if n > 0 { bad } else { Tone::Muted });
    let reports = match compliance {
        Compliance::Counts { pass, fail, warn, error, .. } => vec![
            Cell::plain(pass.to_string()),
            Cell::new(fail.to_string(), if *fail > 0 { Tone::Crit } else { Tone::Ok }),
            count(*warn, Tone::Warn),
            count(*error, Tone::Crit),
        ],
        Compliance::NotInstalled | Compliance::Unknown => vec![Cell::muted("—"); 4],
    };
    let mut cells = vec![
        duration_cell(stats.last.map(|t| t.duration), target),
        duration_cell(stats.p50, target),
        duration_cell(stats.p95, target),
    ];
    cells.extend(reports);
    cells
}

/// The summary of a spoke's Kustomizations: "2/2", and the worst one's state.
fn summary_cells(
    model: &Model,
    row: &SpokeSync,
    columns: &[SyncColumn],
    now: Timestamp,
    target: Duration,
) -> [Cell; 2] {
    if !row.registered() {
        return [Cell::muted("—"), Cell::muted("not registered")];
    }
    let total = row.total();
    if total == 0 {
        return [Cell::muted("0"), Cell::muted("no Kustomizations")];
    }
    let in_sync = row.in_sync();
    let sync = Cell::new(format!("{in_sync}/{total}"), if in_sync == total { Tone::Ok } else { Tone::Warn });
    let worst = row.worst().filter(|c| !c.state.is_in_sync());
    let pin = row.present().find_map(|c| pinned(model, &c.key));
    let state = match worst {
        None if pin.is_some() => Cell::new(pin.unwrap_or_default(), Tone::Warn),
        None => Cell::new("in sync", Tone::Ok),
        Some(cell) => {
            let mut c = state_cell(&cell.state, now, target);
            let at = row.cells.iter().position(|x| x.as_ref().is_some_and(|x| x.key == cell.key));
            if let Some(column) = at.and_then(|i| columns.get(i)) {
                c.text = format!("{} · {}", c.text, column.name);
            }
            let others = row.present().filter(|c| !c.state.is_in_sync()).count() - 1;
            if others > 0 {
                c.text = format!("{} (+{others})", c.text);
            }
            c
        }
    };
    [sync, state]
}

/// A column heading of the matrix: the Kustomization, its source, and the source's
/// revision with how long ago the hub got it.
fn column_title(model: &Model, column: &SyncColumn, now: Timestamp) -> String {
    let width = CELL_WIDTH as usize;
    let revision = match source(&model.fleet, &column.source) {
        Some(s) if !s.revision.is_empty() => {
            let since = s.produced_at.map(|p| format!(" {}", age(ago(now, p)))).unwrap_or_default();
            format!("{}{since}", short_revision(&s.revision))
        }
        Some(_) => "no artifact".to_owned(),
        None => "source missing".to_owned(),
    };
    format!(
        "{}\n{}\n{}",
        truncate(&column.name.to_uppercase(), width),
        truncate(&column.source.name, width),
        truncate(&revision, width)
    )
}

/// The revision a rollback pinned a Kustomization to, short (`pinned to 4507a1b`).
fn pinned(model: &Model, key: &crate::fleet::summary::ObjectKey) -> Option<String> {
    let ks = model.fleet.hub()?.kustomizations.get(key)?;
    ks.pinned.as_ref().map(|p| format!("pinned to {}", short_revision(&p.revision)))
}

fn row_cells(model: &Model, row: &SpokeSync, columns: &[SyncColumn], matrix: bool) -> Vec<Cell> {
    let (now, target) = (model.now, model.fleet.settings.propagation_target);
    let name_tone = if row.whose.context().is_none() { Tone::Warn } else { Tone::Normal };
    let mut cells = vec![Cell::new(row.name.clone(), name_tone)];
    if matrix {
        cells.extend(row.cells.iter().map(|c| match c {
            // A pinned Kustomization is in sync with its pin, not with the fleet.
            Some(c) if c.state.is_in_sync() && pinned(model, &c.key).is_some() => {
                Cell::new(pinned(model, &c.key).unwrap_or_default(), Tone::Warn)
            }
            Some(c) => state_cell(&c.state, now, target),
            None if !row.registered() => Cell::muted("not registered"),
            None => Cell::muted("—"),
        }));
    } else {
        cells.extend(summary_cells(model, row, columns, now, target));
    }
    cells.extend(stat_cells(&row.stats, &row.compliance, target));
    cells
}

/// The table of `keys` (the pane's rows after the filter).
pub fn table(model: &Model, derived: &Derived, keys: &[RowKey], width: u16, height: usize) -> TableVm {
    let columns = &derived.shared.columns;
    let selected = super::selection(model, Pane::Propagation, keys);
    let matrix = matrix_fits(width, columns.len());
    let mut specs = vec![ColumnSpec::new("SPOKE", NAME_WIDTH, 0)];
    if matrix {
        specs.extend(columns.iter().map(|c| ColumnSpec::named(column_title(model, c, model.now), CELL_WIDTH, 0)));
    } else {
        specs.push(ColumnSpec::new("SYNC", 5, 0));
        specs.push(ColumnSpec::new("STATE", 34, 0).flex());
    }
    specs.extend(stat_columns());
    let height = height.saturating_sub(if matrix { 2 } else { 0 });
    let mut t = TableVm::window(&specs, width, height, keys.len(), selected, |visible| {
        keys[visible]
            .iter()
            .filter_map(|k| derived.spoke_row(k))
            .map(|row| row_cells(model, row, columns, matrix))
            .collect()
    });
    if t.total == 0 {
        t.empty = Some(if model.ui.filter.text().is_empty() {
            "no spokes: the kubeconfig has no context besides the hub, and the hub registers none".into()
        } else {
            format!("no spoke matches \"{}\"", model.ui.filter.text())
        });
    }
    t
}

/// Rows of the table's header beyond the one `table_rows` counts.
pub fn extra_header_rows(derived: &Derived, width: u16) -> u16 {
    if matrix_fits(width, derived.shared.columns.len()) { 2 } else { 0 }
}

/// Why the hub's view is missing or old, if it is.
fn hub_problem(model: &Model, derived: &Derived) -> Option<(String, Tone)> {
    let Some(hub) = model.fleet.hub() else {
        return Some(("no hub context: propagation is read from the hub (fleet.hub or --hub)".to_owned(), Tone::Warn));
    };
    let watch = hub.watches.get(&Kind::Kustomization).map(|w| &w.state);
    if watch == Some(&WatchState::NotInstalled) {
        return Some((
            format!("Flux is not installed on the hub (context {}): nothing propagates from it", hub.context),
            Tone::Muted,
        ));
    }
    let state = model.fleet.hub_id().and_then(|id| derived.cluster(id)).map(|v| &v.state);
    match state.cloned().unwrap_or(State::Connecting) {
        State::Unreachable { since, .. } | State::Degraded { since, .. } => Some((
            format!("hub {} not answering for {}: last known state", hub.context, age(ago(model.now, since))),
            Tone::Crit,
        )),
        State::Unauthorized { .. } => Some((format!("hub {}: credentials rejected", hub.context), Tone::Crit)),
        State::Misconfigured { error } => Some((format!("hub {}: {}", hub.context, error.message), Tone::Crit)),
        _ if hub.watches.get(&Kind::Kustomization).is_none_or(|w| w.synced_at.is_none()) => {
            Some(("reading the hub's Kustomizations…".to_owned(), Tone::Muted))
        }
        _ => None,
    }
}

/// The lines above the table: the sources and their revisions, then the fleet's figures
/// against the targets, each keeping what fits `width`, most important first.
pub fn subtitle(model: &Model, derived: &Derived, width: u16) -> Vec<Vec<Cell>> {
    let (now, fleet) = (model.now, &derived.sync);
    let mut sources: Vec<(u8, Vec<Cell>)> = Vec::new();
    let mut seen: Vec<&crate::fleet::summary::SourceRef> = Vec::new();
    for column in &derived.shared.columns {
        if seen.contains(&&column.source) {
            continue;
        }
        let text = match source(&model.fleet, &column.source) {
            Some(s) if !s.revision.is_empty() => {
                let since = s.produced_at.map(|p| format!(" ({})", age(ago(now, p)))).unwrap_or_default();
                Cell::plain(format!("{} {}{since}", column.source.name, short_revision(&s.revision)))
            }
            _ => Cell::new(format!("{} (no artifact)", column.source.name), Tone::Warn),
        };
        sources.push((1, vec![text]));
        seen.push(&column.source);
    }
    if seen.is_empty() {
        sources.push((1, vec![Cell::muted("no Kustomization on the hub targets a spoke")]));
    }
    let problem = hub_problem(model, derived);
    if let Some((text, tone)) = &problem {
        sources = vec![(0, vec![Cell::new(text.clone(), *tone)])];
    }
    let own = &derived.shared.hub_own;
    if !own.is_empty() {
        let ok = own.iter().filter(|c| c.state.is_in_sync()).count();
        let tone = if ok == own.len() { Tone::Muted } else { Tone::Warn };
        sources.push((2, vec![Cell::new(format!("hub's own {ok}/{} in sync", own.len()), tone)]));
    }

    let target = model.fleet.settings.propagation_target;
    let mut figures: Vec<(u8, Vec<Cell>)> = vec![(2, vec![Cell::muted(format!("target {}", seconds(target)))])];
    let all = fleet.in_sync == fleet.spokes;
    figures.push((
        0,
        vec![Cell::new(
            format!("{}/{} spokes in sync", fleet.in_sync, fleet.spokes),
            if all { Tone::Ok } else { Tone::Normal },
        )],
    ));
    if fleet.alarms > 0 {
        figures.push((0, vec![Cell::new(format!("{} behind past target", fleet.alarms), Tone::Crit)]));
    }
    figures.push((
        0,
        vec![if fleet.violations == 0 {
            Cell::new("violations 0", Tone::Ok)
        } else {
            Cell::new(format!("violations {} (target 0)", fleet.violations), Tone::Crit)
        }],
    ));
    if !fleet.worst.is_empty() {
        let worst: Vec<String> = fleet.worst.iter().map(|(n, c)| format!("{n} {c}")).collect();
        figures.push((3, vec![Cell::muted(format!("most: {}", worst.join(", ")))]));
    }
    if !fleet.reports_missing.is_empty() {
        let names = if fleet.reports_missing.len() == 1 {
            fleet.reports_missing.join(", ")
        } else {
            format!("{} clusters", fleet.reports_missing.len())
        };
        figures.push((1, vec![Cell::muted(format!("policy reports not installed on {names}"))]));
    }
    let mut first = if problem.is_some() { Vec::new() } else { vec![Cell::muted("sources ")] };
    let room = width.saturating_sub(first.iter().map(|c| c.text.len() as u16).sum());
    first.extend(fit_pieces(sources, room));
    vec![first, fit_pieces(figures, width)]
}

/// One bar of the chart: a revision and how long the fleet took to apply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionBar {
    pub label: String,
    /// Milliseconds: the slowest spoke's propagation, or for a revision still being
    /// applied, how long it has been under way.
    pub value_ms: u64,
    pub text: String,
    pub tone: Tone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionChartVm {
    pub caption: String,
    pub bars: Vec<RevisionBar>,
    pub bar_width: u16,
    /// The value of a full-height bar: the largest value, but between two and four times
    /// the target, so one stuck revision does not flatten the others.
    pub max_ms: u64,
}

const BAR_WIDTH: u16 = 7;

/// The chart of the last revisions' propagation, fleet-wide, as many as fit `width`.
pub fn chart(model: &Model, width: u16) -> RevisionChartVm {
    let (now, target) = (model.now, model.fleet.settings.propagation_target);
    let fit = (width / (BAR_WIDTH + 1)).max(1) as usize;
    let bars: Vec<RevisionBar> = model
        .fleet
        .propagation()
        .recent_revisions(fit)
        .into_iter()
        .map(|row| {
            let digest = short_revision(&row.seen.revision);
            let label = match digest.split_once('@') {
                Some((tag, _)) if row.source.kind == "OCIRepository" => tag.to_owned(),
                Some((_, digest)) => digest.to_owned(),
                None => digest,
            };
            let done = row.times.len();
            let still = row.current && done < row.following;
            let (value, text) = match row.slowest() {
                _ if still => {
                    let running = ago(now, row.seen.since());
                    (running, format!("{done}/{}", row.following))
                }
                Some(slowest) => (slowest, seconds(slowest)),
                None => (Duration::ZERO, "—".to_owned()),
            };
            let tone = if value > target {
                Tone::Crit
            } else if still {
                Tone::Warn
            } else {
                Tone::Ok
            };
            RevisionBar { label: truncate(&label, BAR_WIDTH as usize), value_ms: value.as_millis() as u64, text, tone }
        })
        .collect();
    let caption = if bars.is_empty() {
        "Fleet propagation: no new revision seen yet (times appear as the hub's sources move)".to_owned()
    } else {
        format!(
            "Last {} revisions fleet-wide: slowest spoke, target {} (n/m: still applying)",
            bars.len(),
            seconds(target)
        )
    };
    let target_ms = target.as_millis() as u64;
    let largest = bars.iter().map(|b| b.value_ms).max().unwrap_or(0);
    let max_ms = largest.clamp(target_ms * 2, target_ms * 4).max(1);
    RevisionChartVm { caption, bars, bar_width: BAR_WIDTH, max_ms }
}
