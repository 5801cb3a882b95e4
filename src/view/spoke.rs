//! The propagation detail of one spoke (Enter on the propagation pane): each of its
//! Kustomizations on the hub with the full Ready reason and message, its recent
//! propagations and how they were measured, and its policy reports with every failing
//! result (policy, rule, resource, message).

use super::detail::{DetailVm, field, heading};
use super::format::{age, ago_text, seconds, short_revision, truncate, wrap};
use super::propagation::state_cell;
use super::table::{Cell, Line, Tone};
use crate::app::model::Model;
use crate::derive::propagation::Compliance;
use crate::derive::{Derived, RowKey};
use crate::fleet::ago;
use crate::fleet::summary::{ConditionStatus, Severity};

/// A labelled line under a Kustomization's heading.
fn sub_field(label: &str, value: Vec<Cell>) -> Line {
    let mut line = vec![Cell::muted(format!("  {label:<12}"))];
    line.extend(value);
    line
}

/// Wrapped, indented text lines in one tone.
fn paragraph(text: &str, indent: usize, width: u16, tone: Tone) -> Vec<Line> {
    let room = (width as usize).saturating_sub(indent + 1).max(20);
    wrap(text, room).into_iter().map(|l| vec![Cell::new(format!("{}{l}", " ".repeat(indent)), tone)]).collect()
}

pub fn detail(model: &Model, derived: &Derived, key: &RowKey, width: u16) -> Option<DetailVm> {
    let now = model.now;
    let fleet = &model.fleet;
    let columns = &derived.shared.columns;
    let row = derived.spoke_row(key)?;
    let target = fleet.settings.propagation_target;
    let mut lines: Vec<Line> = Vec::new();
    let registration = row.whose.registration().and_then(|r| fleet.registration(r));
    let where_ = match (row.whose.context(), registration) {
        (Some(i), Some(r)) => format!("context {}, hub namespace {}", fleet.clusters()[i].context, r.name),
        (Some(i), None) => format!("context {}: not registered on the hub", fleet.clusters()[i].context),
        (None, Some(r)) => format!("hub namespace {}: no local context reaches it (the hub's view only)", r.name),
        (None, None) => "unknown".to_owned(),
    };
    lines.push(field("Spoke", vec![Cell::plain(where_)]));
    if row.total() > 0 {
        let mut sync = vec![Cell::plain(format!("{}/{} Kustomizations in sync", row.in_sync(), row.total()))];
        if let Some(since) = row.behind_since() {
            let alarm = row.alarm(now, target);
            sync.push(Cell::new(
                format!(
                    "  behind for {}{}",
                    age(ago(now, since)),
                    if alarm { format!(", past the {} target", seconds(target)) } else { String::new() }
                ),
                if alarm { Tone::Crit } else { Tone::Warn },
            ));
        }
        lines.push(field("Sync", sync));
    }
    let stats = &row.stats;
    let window = age(fleet.settings.propagation_window);
    let figures = match stats.last {
        Some(last) => format!(
            "last {} · p50 {} · p95 {} · max {} over the last {window} ({} measured, {} past the {} target)",
            seconds(last.duration),
            stats.p50.map_or("—".into(), seconds),
            stats.p95.map_or("—".into(), seconds),
            stats.max.map_or("—".into(), seconds),
            stats.count,
            stats.over,
            seconds(target)
        ),
        None => format!("no propagation measured in the last {window}"),
    };
    let mut wrapped = wrap(&figures, (width as usize).saturating_sub(13).max(20)).into_iter();
    lines.push(field("Propagation", vec![Cell::plain(wrapped.next().unwrap_or_default())]));
    lines.extend(wrapped.map(|l| vec![Cell::plain(format!("{:12}{l}", ""))]));

    let hub = fleet.hub();
    for (cell, column) in row.cells.iter().zip(columns) {
        let Some(cell) = cell else { continue };
        let Some(ks) = hub.and_then(|h| h.kustomizations.get(&cell.key)) else { continue };
        lines.push(Vec::new());
        let mut title = heading(format!("Kustomization {}/{}", cell.key.0, cell.key.1));
        title.push(Cell::muted(format!("  from {}", column.source.label())));
        lines.push(title);
        let mut state = vec![state_cell(&cell.state, now, target)];
        if let Some(c) = &ks.ready {
            state.push(Cell::muted(format!("  Ready={} {} (since {})", c.status, c.reason, ago_text(now, c.since))));
        }
        lines.push(sub_field("State", state));
        if let Some(c) = ks.ready.as_ref().filter(|c| c.status != ConditionStatus::True && !c.message.is_empty()) {
            let tone = if c.status == ConditionStatus::False { Tone::Crit } else { Tone::Muted };
            lines.extend(paragraph(&c.message, 14, width, tone));
        }
        let source_rev = hub.and_then(|h| h.sources.get(&ks.source)).map(|s| s.revision.clone()).unwrap_or_default();
        lines.push(sub_field(
            "Source at",
            vec![Cell::plain(if source_rev.is_empty() { "—".into() } else { source_rev })],
        ));
        lines.push(sub_field(
            "Applied",
            vec![Cell::plain(format!(
                "{}  ({})",
                if ks.last_applied_revision.is_empty() { "—" } else { &ks.last_applied_revision },
                ago_text(now, ks.applied_at)
            ))],
        ));
        if ks.last_attempted_revision != ks.last_applied_revision && !ks.last_attempted_revision.is_empty() {
            lines.push(sub_field("Attempted", vec![Cell::new(ks.last_attempted_revision.clone(), Tone::Warn)]));
        }
        let generation = format!("{} (status observed {})", ks.generation, ks.observed_generation);
        lines.push(sub_field(
            "Generation",
            vec![Cell::new(generation, if ks.observed_generation < ks.generation { Tone::Warn } else { Tone::Normal })],
        ));
        if !ks.requested_at.is_empty() {
            let handled = ks.last_handled_reconcile_at == ks.requested_at;
            lines.push(sub_field(
                "Reconcile",
                vec![Cell::new(
                    format!(
                        "requested {}; {}",
                        ks.requested_at,
                        if handled { "handled".to_owned() } else { "not handled yet".to_owned() }
                    ),
                    if handled { Tone::Muted } else { Tone::Warn },
                )],
            ));
        }
        let history: Vec<_> = fleet.propagation().applied(&cell.key).collect();
        if !history.is_empty() {
            lines.push(vec![Cell::muted(format!(
                "    {:<24} {:>8}  {:<18} {}",
                "REVISION", "TOOK", "MEASURED BY", "READY"
            ))]);
            for a in history.iter().rev().take(8) {
                let (took, by, tone) = match a.took {
                    Some(t) => {
                        (seconds(t.duration), t.by.label(), if t.duration > target { Tone::Warn } else { Tone::Normal })
                    }
                    None => ("—".to_owned(), "source revision not seen", Tone::Muted),
                };
                lines.push(vec![Cell::new(
                    format!(
                        "    {:<24} {took:>8}  {by:<18} {}",
                        truncate(&short_revision(&a.revision), 24),
                        ago_text(now, Some(a.at()))
                    ),
                    tone,
                )]);
            }
        }
    }

    lines.push(Vec::new());
    let reports = row.whose.context().map(|i| &fleet.clusters()[i].reports);
    match (&row.compliance, reports) {
        (Compliance::Counts { pass, fail, warn, error, skip, reports: n, by_severity }, Some(reports)) => {
            lines.push(heading(format!(
                "Policy reports ({n}): {pass} pass · {fail} fail · {warn} warn · {error} error · {skip} skip"
            )));
            if !by_severity.is_empty() {
                let threshold = fleet.settings.violation_severity;
                let counts: Vec<String> = by_severity.iter().map(|(s, n)| format!("{n} {}", s.label())).collect();
                lines.push(vec![Cell::muted(format!(
                    "  failed by severity: {} ({} and worse make the cluster degraded: slo.violation_severity)",
                    counts.join(" · "),
                    threshold.label()
                ))]);
            }
            let failing: Vec<_> = reports.values().flat_map(|r| r.failing.iter()).collect();
            if failing.is_empty() {
                lines.push(vec![Cell::new("  no failing results", Tone::Ok)]);
            } else {
                lines.push(vec![Cell::muted(format!(
                    "  {:<8} {:<21} {:<22} {:<32} {}",
                    "SEVERITY", "POLICY", "RULE", "RESOURCE", "MESSAGE"
                ))]);
            }
            // The message beside the columns when there is room, else below them.
            let columns_width = 2 + 30 + 1 + 22 + 1 + 32 + 1;
            let beside = (width as usize).saturating_sub(columns_width + 1) >= 40;
            for r in failing {
                let tone = if r.result == "error" { Tone::Crit } else { Tone::Warn };
                let message =
                    if r.category.is_empty() { r.message.clone() } else { format!("{}: {}", r.category, r.message) };
                let head = format!(
                    "  {:<8} {:<21} {:<22} {:<32} ",
                    Severity::parse(&r.severity).label(),
                    truncate(&r.policy, 21),
                    truncate(&r.rule, 22),
                    truncate(&r.resource, 32)
                );
                if beside {
                    let room = width as usize - columns_width - 1;
                    let mut message = wrap(&message, room).into_iter();
                    lines.push(vec![Cell::new(head, tone), Cell::plain(message.next().unwrap_or_default())]);
                    lines.extend(message.map(|l| vec![Cell::plain(format!("{}{l}", " ".repeat(columns_width)))]));
                } else {
                    lines.push(vec![Cell::new(head, tone)]);
                    lines.extend(paragraph(&message, 4, width, Tone::Normal));
                }
            }
        }
        (Compliance::NotInstalled, _) => {
            lines.push(heading("Policy reports".into()));
            lines.push(vec![Cell::muted("  not installed (no wgpolicyk8s.io PolicyReport CRDs on this cluster)")]);
        }
        _ => {
            lines.push(heading("Policy reports".into()));
            lines.push(vec![Cell::muted(if row.whose.context().is_some() {
                "  not read yet"
            } else {
                "  unknown: no local context reaches this spoke"
            })]);
        }
    }
    Some(DetailVm { title: format!("Propagation · {}", row.name), lines, scroll: model.ui.detail_scroll, chart: None })
}
