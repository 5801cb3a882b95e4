//! The operator action's panel: the plan, the server's dry-run answer field by field,
//! the confirmation prompt, then progress and the outcome as Flux or Velero reports it.
//! When the panel is closed, a footer line keeps the progress.

use jiff::Timestamp;

use super::format::{age, truncate};
use super::table::Line;
use super::table::{Cell, Tone};
use crate::app::model::Model;
use crate::fleet::ago;
use crate::workflow::operation::{Operation, Progress, Stage};

/// The typed confirmation line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptVm {
    pub label: String,
    pub text: String,
    pub cursor: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationVm {
    pub title: String,
    pub lines: Vec<Line>,
    pub prompt: Option<PromptVm>,
    /// The keys that work now.
    pub keys: String,
    /// A destructive action's panel is drawn in the danger style.
    pub danger: bool,
}

fn progress_text(model: &Model, o: &Operation, now: Timestamp) -> String {
    let since = match &o.stage {
        Stage::Verifying { at, .. } => age(ago(now, *at)),
        _ => String::new(),
    };
    if o.plan.op.creates() {
        let state = o.progress_of(model.fleet.clusters()).into_iter().next().map(|(_, p)| match p {
            Progress::Waiting(text) | Progress::Running(text) | Progress::Finished { text, .. } => text,
        });
        return format!("Velero: {} ({since})", state.unwrap_or_default());
    }
    let (done, total) = o.progress(model.fleet.clusters());
    format!("waiting for Flux: {done}/{total} handled ({since})")
}

pub fn panel(model: &Model, now: Timestamp, width: u16) -> Option<OperationVm> {
    if !model.ui.operation_open {
        return None;
    }
    let o = model.operation.as_ref()?;
    let room = width.saturating_sub(8).clamp(30, 110) as usize;
    let mut lines: Vec<Line> = Vec::new();
    let mut prompt = None;
    let keys;
    match &o.stage {
        Stage::Previewing => {
            lines.push(vec![Cell::muted("Asking the hub for a server-side dry run (dryRun=All)…")]);
            keys = "esc cancel".to_owned();
        }
        Stage::Confirming { previews } => {
            let what = if o.plan.op.creates() {
                "The server's dry run accepts this new object:"
            } else {
                "The server's dry run says these objects change:"
            };
            lines.push(vec![Cell::muted(what)]);
            for p in previews {
                lines.push(vec![Cell::new(format!("  {}", p.target.label()), Tone::Accent)]);
                match &p.outcome {
                    Ok(changes) if changes.is_empty() => lines.push(vec![Cell::muted("    no change")]),
                    Ok(changes) => {
                        for c in changes {
                            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".to_owned());
                            let text = format!("    {}: {} → {}", c.path, show(&c.before), show(&c.after));
                            lines.push(vec![Cell::plain(truncate(&text, room))]);
                        }
                    }
                    Err(e) => lines.push(vec![Cell::new(truncate(&format!("    refused: {e}"), room), Tone::Crit)]),
                }
            }
            for (key, why) in &o.plan.skipped {
                lines.push(vec![Cell::muted(truncate(&format!("  skipped {}/{}: {why}", key.0, key.1), room))]);
            }
            for note in &o.plan.notes {
                for l in super::format::wrap(&format!("note: {note}"), room) {
                    lines.push(vec![Cell::new(format!("  {l}"), Tone::Warn)]);
                }
            }
            lines.push(Vec::new());
            match o.confirm_word() {
                Some(word) => {
                    let what = format!("Type {word} to {} it", o.plan.op.verb());
                    prompt = Some(PromptVm {
                        label: "> ".to_owned(),
                        text: model.ui.prompt.value().to_owned(),
                        cursor: model.ui.prompt.visual_cursor(),
                    });
                    lines.push(vec![Cell::new(what, Tone::Warn)]);
                    keys = format!("enter {} · esc cancel", o.plan.op.verb());
                }
                None => keys = format!("enter {} · esc cancel", o.plan.op.verb()),
            }
            if let Some(why) = &o.refused {
                lines.push(vec![Cell::new(why.clone(), Tone::Crit)]);
            }
        }
        Stage::Executing => {
            lines.push(vec![Cell::muted("Writing…")]);
            keys = "esc close (it goes on)".to_owned();
        }
        Stage::Verifying { executed, .. } => {
            for (t, r) in &executed.results {
                match r {
                    Ok(()) => lines.push(vec![Cell::plain(format!("  written: {}", t.label()))]),
                    Err(e) => lines.push(vec![Cell::new(
                        truncate(&format!("  not written: {}: {e}", t.label()), room),
                        Tone::Crit,
                    )]),
                }
            }
            lines.push(vec![Cell::new(progress_text(model, o, now), Tone::Accent)]);
            keys = "esc close (the footer keeps the progress)".to_owned();
        }
        Stage::Done { at, outcomes } => {
            let took = age(ago(*at, o.started));
            lines.push(if outcomes.iter().all(|x| x.ok) {
                vec![Cell::new(format!("Done in {took}:"), Tone::Ok)]
            } else {
                vec![Cell::new(format!("Finished in {took}, not all well:"), Tone::Warn)]
            });
            for outcome in outcomes {
                let tone = if outcome.ok { Tone::Normal } else { Tone::Crit };
                let text = format!("  {}/{}: {}", outcome.key.0, outcome.key.1, outcome.text);
                lines.push(vec![Cell::new(truncate(&text, room), tone)]);
            }
            keys = "enter/esc close".to_owned();
        }
        Stage::Failed { error, .. } => {
            for l in super::format::wrap(error, room) {
                lines.push(vec![Cell::new(l, Tone::Crit)]);
            }
            keys = "enter/esc close".to_owned();
        }
        Stage::Cancelled => return None,
    }
    Some(OperationVm { title: o.plan.title(), lines, prompt, keys, danger: o.plan.op.destructive() })
}

/// The footer's line for an action whose panel is closed: its progress, or its outcome
/// for a minute after it ended.
pub fn status(model: &Model, now: Timestamp) -> Option<Cell> {
    if model.ui.operation_open {
        return None;
    }
    let o = model.operation.as_ref()?;
    let recent = |at: &Timestamp| ago(now, *at).as_secs() < 60;
    match &o.stage {
        Stage::Executing => Some(Cell::new(format!("{}: writing…", o.plan.title()), Tone::Accent)),
        Stage::Verifying { .. } => {
            Some(Cell::new(format!("{}: {}", o.plan.title(), progress_text(model, o, now)), Tone::Accent))
        }
        Stage::Done { at, outcomes } if recent(at) => Some(match outcomes.iter().find(|x| !x.ok) {
            None => Cell::new(format!("{}: done", o.plan.title()), Tone::Ok),
            Some(bad) => Cell::new(format!("{}: finished: {}", o.plan.title(), bad.text), Tone::Warn),
        }),
        Stage::Failed { at, error } if recent(at) => {
            Some(Cell::new(format!("{}: failed: {error}", o.plan.title()), Tone::Crit))
        }
        _ => None,
    }
}
