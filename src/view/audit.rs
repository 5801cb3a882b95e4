//! The audit pane: one timeline, newest first, of fleetdeck's journal, Kubernetes Events
//! and Kubernetes audit logs, filtered by the query in the filter line; the sources'
//! state above it (files followed, malformed lines, records dropped past the cap).
//! Only the visible rows are turned into cells, whatever the size of the timeline.

use jiff::Timestamp;

use super::chrome::KeyHints;
use super::detail::{DetailVm, field, heading};
use super::format::{truncate, wrap};
use super::table::{Cell, ColumnSpec, Line, TableVm, Tone};
use crate::action::Action;
use crate::app::audit::{Query, matched};
use crate::app::model::Model;
use crate::audit::{AuditRecord, Severity, Source};
use crate::derive::RowKey;

fn specs() -> [ColumnSpec; 7] {
    [
        ColumnSpec::new("TIME (UTC)", 14, 0),
        ColumnSpec::new("CLUSTER", 15, 0),
        ColumnSpec::new("SOURCE", 7, 2),
        ColumnSpec::new("USER", 20, 1),
        ColumnSpec::new("VERB", 13, 0),
        ColumnSpec::new("OBJECT", 20, 0).flex(),
        ColumnSpec::new("OUTCOME", 13, 0),
    ]
}

/// "11-24 10:00:05".
pub fn time_text(t: Timestamp) -> String {
    t.strftime("%m-%d %H:%M:%S").to_string()
}

fn tone(severity: Severity) -> Tone {
    match severity {
        Severity::Ok => Tone::Normal,
        Severity::Warn => Tone::Warn,
        Severity::Fail => Tone::Crit,
    }
}

fn source_tone(source: Source) -> Tone {
    match source {
        Source::Journal => Tone::Accent,
        Source::Event | Source::Audit => Tone::Muted,
    }
}

fn cells(r: &AuditRecord) -> Vec<Cell> {
    let object = match r.object() {
        // A non-resource request (/readyz, /version): its path.
        o if o.is_empty() && r.resource.is_empty() => r.message.clone(),
        o if o.is_empty() => r.resource.clone(),
        o => format!("{} {o}", r.resource),
    };
    vec![
        Cell::muted(time_text(r.time)),
        Cell::plain(r.cluster.to_string()),
        Cell::new(r.source.label(), source_tone(r.source)),
        Cell::plain(r.user.clone()),
        Cell::plain(r.verb.clone()),
        Cell::plain(object),
        Cell::new(r.outcome.clone(), tone(r.severity)),
    ]
}

/// The lines above the table: counts, follow, the query's problems, and each source that
/// is not well (or has malformed input).
pub fn subtitle(model: &Model, hints: &KeyHints, shown: usize, hidden: usize, query: &Query, width: u16) -> Vec<Line> {
    let log = &model.audit;
    let mut first = vec![Cell::plain(format!("{} records", log.len()))];
    if !query.is_empty() {
        first.push(Cell::plain(format!(" · {shown} match")));
    }
    let key = hints.keys(Action::AllRequests);
    if hidden > 0 {
        let reads = if hidden == 1 { "read" } else { "reads" };
        first.push(Cell::new(format!(" · {hidden} {reads} hidden ({key})"), Tone::Muted));
    } else if model.ui.audit.reads {
        first.push(Cell::muted(format!(" · reads shown ({key})")));
    }
    first.push(if model.ui.audit.follow {
        Cell::new(" · following newest", Tone::Ok)
    } else {
        Cell::new(" · follow off (f)", Tone::Warn)
    });
    if log.dropped > 0 {
        first.push(Cell::new(format!(" · {} older dropped (cap {})", log.dropped, log.cap), Tone::Warn));
    }
    let following = log.sources.values().filter(|s| s.ok).count();
    first.push(Cell::muted(format!(" · sources: {following}/{} ok", log.sources.len())));
    let mut lines = vec![first];
    if !query.unknown.is_empty() {
        lines.push(vec![Cell::new(
            format!("not understood: {} (source: is journal, event or audit)", query.unknown.join(" ")),
            Tone::Warn,
        )]);
    }
    for s in log.sources.values().filter(|s| !s.ok || s.malformed > 0) {
        let mut text = format!("{}: {}", s.name, s.state);
        if s.malformed > 0 {
            text.push_str(&format!(", {} malformed", s.malformed));
            if let Some(e) = &s.last_error {
                text.push_str(&format!(" (last: {e})"));
            }
        }
        let tone = if s.ok { Tone::Warn } else { Tone::Crit };
        lines.push(vec![Cell::new(truncate(&text, width as usize), tone)]);
        if lines.len() >= 4 {
            break;
        }
    }
    lines
}

/// The title, subtitle and table of the pane.
pub fn pane(model: &Model, hints: &KeyHints, width: u16, height: u16) -> (String, Vec<Line>, TableVm) {
    let query = Query::parse(model.ui.filter.text());
    let (rows, hidden) = matched(&model.audit, &query, model.ui.audit.reads);
    let subtitle = subtitle(model, hints, rows.len(), hidden, &query, width);
    let room = super::table_rows(height, subtitle.len()).max(1);
    let selected = model.ui.audit.position(&rows);
    let mut table = TableVm::window(&specs(), width, room, rows.len(), selected, |visible| {
        rows[visible].iter().map(|l| cells(&l.record)).collect()
    });
    if rows.is_empty() {
        table.empty = Some(if !model.ui.filter.text().is_empty() {
            format!("no audit record matches \"{}\"", model.ui.filter.text())
        } else {
            "no audit records yet: fleetdeck's writes, Kubernetes Events and the audit logs named with --audit-file or audit.files appear here".to_owned()
        });
    }
    ("Audit".to_owned(), subtitle, table)
}

/// One record in full: its fields, then the whole entry as indented JSON.
pub fn detail(model: &Model, key: &RowKey, width: u16) -> Option<DetailVm> {
    let RowKey::Audit(seq) = key else { return None };
    let line = model.audit.by_seq(*seq)?;
    let r = &line.record;
    let mut lines: Vec<Line> = vec![
        field("Time", vec![Cell::plain(r.time.to_string())]),
        field("Cluster", vec![Cell::plain(r.cluster.to_string())]),
        field("Source", vec![Cell::new(r.source.label(), source_tone(r.source))]),
        field("User", vec![Cell::plain(r.user.clone())]),
        field("Verb", vec![Cell::plain(r.verb.clone())]),
        field("Resource", vec![Cell::plain(r.resource.clone())]),
        field("Object", vec![Cell::plain(r.object())]),
        field("Outcome", vec![Cell::new(r.outcome.clone(), tone(r.severity))]),
    ];
    for (i, text) in wrap(&r.message, (width as usize).saturating_sub(14).max(20)).into_iter().enumerate() {
        lines.push(field(if i == 0 { "Message" } else { "" }, vec![Cell::plain(text)]));
    }
    lines.push(Vec::new());
    lines.push(heading("Entry".to_owned()));
    let pretty = serde_json::from_str::<serde_json::Value>(&r.raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| r.raw.to_string());
    lines.extend(pretty.lines().map(|l| vec![Cell::plain(l.to_owned())]));
    Some(DetailVm {
        title: format!("Audit · {} {} {}", r.source.label(), r.verb, r.object()),
        lines,
        scroll: model.ui.detail_scroll,
        chart: None,
    })
}
