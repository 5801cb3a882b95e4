//! The runs pane: every workflow run on the hub, newest first, and a run opened: its
//! steps with their state and evidence, the objects it wrote (with their clusters), its
//! confirmations and its journal entries. The run this session drives is shown live,
//! with the prompt of a confirmation it waits for.

use super::chrome::KeyHints;
use super::detail::{DetailVm, field, heading};
use super::format::{age, wrap};
use super::table::{Cell, ColumnSpec, Line, TableVm, Tone};
use crate::action::Action;
use crate::app::model::Model;
use crate::derive::RowKey;
use crate::derive::runs::{RunRow, rows};
use crate::fleet::run::{RunState, StepSpec, StepState, Verdict, WriteState};

fn specs() -> [ColumnSpec; 8] {
    [
        ColumnSpec::new("WORKFLOW", 10, 0),
        ColumnSpec::new("CLUSTER", 16, 0),
        ColumnSpec::new("STEP", 5, 0),
        ColumnSpec::new("STEP NAME", 24, 2).flex(),
        ColumnSpec::new("STATE", 11, 0),
        ColumnSpec::new("BY", 16, 1),
        ColumnSpec::new("STARTED", 14, 1),
        ColumnSpec::new("DURATION", 8, 1).right(),
    ]
}

pub fn state_tone(state: RunState) -> Tone {
    match state {
        RunState::Running => Tone::Accent,
        RunState::Waiting | RunState::Interrupted => Tone::Warn,
        RunState::Failed => Tone::Crit,
        RunState::Succeeded | RunState::Undone => Tone::Ok,
        RunState::Aborted => Tone::Muted,
    }
}

fn step_tone(state: StepState) -> Tone {
    match state {
        StepState::Passed => Tone::Ok,
        StepState::Warned | StepState::Waiting => Tone::Warn,
        StepState::Failed => Tone::Crit,
        StepState::Running => Tone::Accent,
        StepState::Pending | StepState::Skipped => Tone::Muted,
    }
}

fn verdict_tone(v: Verdict) -> Tone {
    match v {
        Verdict::Pass => Tone::Normal,
        Verdict::Warn => Tone::Warn,
        Verdict::Fail => Tone::Crit,
    }
}

fn cells(r: &RunRow) -> Vec<Cell> {
    let run = r.run;
    vec![
        Cell::plain(run.workflow.name()),
        Cell::plain(run.cluster.clone()),
        Cell::plain(format!("{}/{}", r.step, r.steps)),
        Cell::plain(r.step_name.to_owned()),
        Cell::new(r.state.name(), state_tone(r.state)),
        Cell::plain(run.by.label()),
        Cell::muted(run.started_at.strftime("%m-%d %H:%M:%S").to_string()),
        Cell::plain(age(r.duration)),
    ]
}

/// The pane's title and table.
pub fn pane(model: &Model, keys: &[RowKey], width: u16, height: usize) -> (String, TableVm) {
    let selected = super::selection(model, crate::action::Pane::Runs, keys);
    let going = crate::derive::runs::going(&model.fleet, model.now).len();
    let title = format!("Runs · {} on the hub · {going} going", keys.len());
    let mut table = TableVm::window(&specs(), width, height, keys.len(), selected, |visible| {
        let wanted: std::collections::HashMap<&str, usize> = keys[visible]
            .iter()
            .enumerate()
            .filter_map(|(i, k)| match k {
                RowKey::Run(id) => Some((id.as_str(), i)),
                _ => None,
            })
            .collect();
        // Rows are made for the visible keys only, in their order.
        let mut out = vec![Vec::new(); wanted.len()];
        for r in rows(&model.fleet, model.now) {
            if let Some(&i) = wanted.get(r.run.id.as_str()) {
                out[i] = cells(&r);
            }
        }
        out
    });
    if keys.is_empty() {
        table.empty = Some(if model.fleet.hub().is_none() {
            "no hub: runs live on the hub (fleet.hub, --hub)".to_owned()
        } else if model.settings.writable {
            "no runs on the hub yet: register a candidate (n on the health pane, or :register <context>)".to_owned()
        } else {
            "no runs on the hub yet".to_owned()
        });
    }
    (title, table)
}

/// A step: its line, then (`full`) its evidence, progress, and a change set's dry run or
/// writes; otherwise its first line of evidence.
fn step_lines(run: &crate::fleet::run::Run, i: usize, full: bool, room: usize) -> Vec<Line> {
    let step = &run.steps[i];
    let marker = if i == run.current && !run.state.finished() { "▸" } else { " " };
    let mut lines = vec![vec![
        Cell::plain(format!("{marker}{:>2} ", i + 1)),
        Cell::new(format!("{:<8}", step.state.name()), step_tone(step.state)),
        Cell::muted(format!(" {:<10} ", step.spec.kind())),
        Cell::plain(step.name.clone()),
    ]];
    let indent = || Cell::plain("      ");
    let shown = if full { step.evidence.len() } else { step.evidence.len().min(1) };
    for e in &step.evidence[..shown] {
        for l in wrap(&e.text, room.saturating_sub(6)) {
            lines.push(vec![indent(), Cell::new(l, verdict_tone(e.verdict))]);
        }
    }
    if !full {
        return lines;
    }
    if step.state == StepState::Running && !step.progress.is_empty() {
        lines.push(vec![indent(), Cell::new(format!("… {}", step.progress), Tone::Accent)]);
    }
    let StepSpec::ChangeSet { writes, .. } = &step.spec else { return lines };
    if step.state == StepState::Waiting {
        for l in &step.preview {
            for (n, part) in wrap(&format!("dry run: {l}"), room.saturating_sub(6)).into_iter().enumerate() {
                lines.push(vec![Cell::plain(if n == 0 { "      " } else { "        " }), Cell::plain(part)]);
            }
        }
        return lines;
    }
    for (w, planned) in writes.iter().enumerate() {
        let record = step.writes.get(w);
        let (word, tone) = match record.map_or(WriteState::Planned, |r| r.state) {
            WriteState::Planned => ("planned", Tone::Muted),
            WriteState::Sent => ("sent", Tone::Warn),
            WriteState::Applied => ("written", Tone::Ok),
            WriteState::Failed => ("failed", Tone::Crit),
        };
        lines.push(vec![indent(), Cell::new(format!("{word:<8}"), tone), Cell::plain(format!(" {}", planned.label()))]);
        if let Some(e) = record.and_then(|r| r.error.as_ref()) {
            for l in wrap(&e.describe(), room.saturating_sub(15)) {
                lines.push(vec![Cell::plain("               "), Cell::new(l, Tone::Crit)]);
            }
        }
    }
    lines
}

/// A run opened.
pub fn detail(model: &Model, hints: &KeyHints, row_key: &RowKey, width: u16) -> Option<DetailVm> {
    let RowKey::Run(id) = row_key else { return None };
    // The keys as the keymap binds them (an action may be rebound in `[keys]`).
    let key = |a: Action| hints.first(a);
    let run = crate::app::runs::run_by_id(model, id)?;
    let row = RunRow::of(run, model.now, model.fleet.settings.lock_ttl, &model.fleet.settings.host);
    let room = (width as usize).saturating_sub(8).max(20);
    let mut lines: Vec<Line> = vec![
        field("State", vec![Cell::new(row.state.name(), state_tone(row.state))]),
        field("Step", vec![Cell::plain(format!("{}/{} {}", row.step, row.steps, row.step_name))]),
        field("By", vec![Cell::plain(run.by.label())]),
        field(
            "Started",
            vec![Cell::plain(format!("{} · {}", run.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"), age(row.duration)))],
        ),
    ];
    if let Some(lock) = &run.lock {
        let text = format!(
            "{} since {} · renewed {} ago",
            lock.holder.label(),
            lock.since.strftime("%H:%M:%S"),
            age(crate::fleet::ago(model.now, lock.renewed_at))
        );
        lines.push(field("Lock", vec![Cell::plain(text)]));
    }
    // A rollback: what it answers, its incident and, once confirmed, its time to recovery.
    use crate::workflow::rollback::facts as rb;
    for (label, key) in [("Trigger", rb::TRIGGER), ("Target", rb::TARGET), ("Incident", rb::INCIDENT)] {
        if let Some(v) = run.facts.get(key) {
            let v = match (key, run.facts.get(rb::REASON)) {
                (rb::INCIDENT, Some(reason)) => format!("{v} · {reason}"),
                _ => v.clone(),
            };
            for (i, l) in wrap(&v, room.saturating_sub(12)).into_iter().enumerate() {
                lines.push(field(if i == 0 { label } else { "" }, vec![Cell::plain(l)]));
            }
        }
    }
    if let Some(secs) = run.facts.get(rb::TIME_TO_RECOVERY).and_then(|s| s.parse::<u64>().ok()) {
        let ttr = if secs < 60 { format!("{secs}s") } else { format!("{}m{:02}s", secs / 60, secs % 60) };
        let text = format!("time to recovery {ttr} (trigger to confirmed)");
        lines.push(field("Recovered", vec![Cell::new(text, Tone::Ok)]));
    }
    if !run.outcome.is_empty() {
        for (i, l) in wrap(&run.outcome, room.saturating_sub(12)).into_iter().enumerate() {
            lines.push(field(if i == 0 { "Outcome" } else { "" }, vec![Cell::new(l, Tone::Crit)]));
        }
    }
    let mine = model.driving.as_deref() == Some(id.as_str());
    let hint = match row.state {
        _ if mine && run.held() => {
            let mut can = vec![format!("{} retries it", key(Action::RetryStep))];
            if run.step().is_some_and(|s| s.overridable) {
                can.push(format!("{} goes past it with a reason", key(Action::OverrideStep)));
            }
            if crate::workflow::runbook::undoable(run) {
                can.push(format!("{} undoes this run's changes", key(Action::UndoRun)));
            }
            can.push(format!("{} aborts the run", key(Action::AbortRun)));
            Some(format!("step {} failed: {}", run.current + 1, can.join(" · ")))
        }
        RunState::Waiting if run.held() => {
            Some(format!("step {} failed: its session decides what next", run.current + 1))
        }
        RunState::Interrupted if model.settings.writable => {
            Some(format!("interrupted at step {}: {} takes it over and goes on", row.step, key(Action::ContinueRun)))
        }
        RunState::Failed | RunState::Aborted if model.settings.writable && crate::workflow::runbook::undoable(run) => {
            Some(format!("{} undoes this run's changes (previewed and confirmed first)", key(Action::UndoRun)))
        }
        RunState::Running | RunState::Waiting if mine => {
            Some(format!("this session drives the run · {} aborts it", key(Action::AbortRun)))
        }
        _ => None,
    };
    if let Some(h) = hint {
        lines.extend(wrap(&h, room + 6).into_iter().map(|l| vec![Cell::new(l, Tone::Accent)]));
    }
    if let Some((_, question)) = crate::app::runs::asks(model) {
        lines.push(vec![Cell::new(question, Tone::Warn)]);
    }
    // The step at hand first, in full, so its preview or progress shows on a small
    // terminal; then every step, a passed one by its first line of evidence (the run
    // record and `fleetdeck runs --json` hold all of it).
    let at_hand = (!run.state.finished() || run.state == RunState::Failed).then_some(run.current);
    if let Some(step) = at_hand.and_then(|i| run.steps.get(i)) {
        lines.push(Vec::new());
        lines.push(heading(format!("Step {} · {}", run.current + 1, step.spec.kind())));
        lines.extend(step_lines(run, run.current, true, room));
    }
    lines.push(Vec::new());
    lines.push(heading("Steps".to_owned()));
    for i in 0..run.steps.len() {
        let phase = &run.steps[i].phase;
        if !phase.is_empty() && (i == 0 || run.steps[i - 1].phase != *phase) {
            lines.push(vec![Cell::muted(format!("  {phase}"))]);
        }
        let full = Some(i) != at_hand && matches!(run.steps[i].state, StepState::Warned | StepState::Failed);
        let mut step = step_lines(run, i, full, room);
        if Some(i) == at_hand {
            step.truncate(1);
        }
        lines.extend(step);
    }
    if !run.overrides.is_empty() {
        lines.push(Vec::new());
        lines.push(heading("Overrides".to_owned()));
        for o in &run.overrides {
            let text = format!("step {} · {} · {}: {}", o.step + 1, o.at.strftime("%H:%M:%S"), o.by, o.reason);
            for l in wrap(&text, room) {
                lines.push(vec![Cell::new(l, Tone::Warn)]);
            }
        }
    }
    if !run.confirmations.is_empty() {
        lines.push(Vec::new());
        lines.push(heading("Confirmations".to_owned()));
        for c in &run.confirmations {
            lines.push(vec![Cell::plain(format!(
                "step {} · {} · {} typed {:?}",
                c.step + 1,
                c.at.strftime("%H:%M:%S"),
                c.by,
                c.text
            ))]);
        }
    }
    let entries: Vec<_> = model
        .audit
        .journal_entries_of(&run.id)
        .into_iter()
        .map(|r| format!("{} {} {} · {}", r.time.strftime("%H:%M:%S"), r.verb, r.object(), r.outcome))
        .collect();
    if !entries.is_empty() {
        lines.push(Vec::new());
        lines.push(heading(format!("Journal ({} entries)", entries.len())));
        lines.extend(entries.into_iter().map(|e| vec![Cell::plain(e)]));
    }
    Some(DetailVm {
        title: format!("Run {} · {} {}", run.id, run.workflow.name(), run.cluster),
        lines,
        scroll: model.ui.detail_scroll,
        chart: None,
    })
}
