//! The runbook engine: a run's transitions as a pure function. `on(run, event)` moves the
//! run on and returns the effects the runner carries out (check, plan, preview, prepare
//! and send a write, re-read an interrupted one, watch a condition, save the record),
//! each answered with another event. Nothing here reads a cluster or a clock: the
//! caller passes `now` and who acts.
//!
//! A change set is planned when its step is reached (from what the checks found),
//! previewed by server-side dry run, confirmed by typing, then written one write at a
//! time: each is prepared (its object read, so what it replaces is recorded), saved as
//! sent, sent, and saved with its outcome. A run resumed after an interruption re-reads
//! every write saved as sent before going on, so nothing is written twice.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use crate::fleet::run::{
    Confirmation, Evidence, Gate, PlannedWrite, Run, RunState, StepSpec, StepState, Verdict, WriteError, WriteRecord,
    WriteState,
};

/// What happened, for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Start the run (or go on from where a resumed run stands).
    Begin,
    Checked {
        verdict: Verdict,
        evidence: Vec<Evidence>,
        facts: BTreeMap<String, String>,
    },
    Planned(Result<Vec<PlannedWrite>, String>),
    /// The dry run's lines (one per field that would change).
    Previewed(Result<Vec<String>, WriteError>),
    /// The operator typed a confirmation.
    Typed(String),
    /// The operator attested a gate's item with a note.
    Attested(String),
    /// A write's object was read: what the write replaces, or that a create's object
    /// already exists as this run's (written before an interruption).
    Prepared {
        write: usize,
        result: Result<Prepared, WriteError>,
    },
    Written {
        write: usize,
        result: Result<(), WriteError>,
    },
    /// A write saved as sent was re-read at resume.
    Resolved {
        write: usize,
        applied: bool,
        evidence: String,
    },
    /// A wait's condition, read again.
    Progress {
        text: String,
        held: bool,
    },
    TimedOut,
    /// A wait's condition can no longer hold (a backup that ended PartiallyFailed).
    Broke(String),
    /// Try a failed step that holds again.
    Retry,
    /// Go past a failed step that may be overridden, with the operator's reason.
    Override(String),
    Abort,
    /// Undo the run's applied writes, newest first.
    Undo,
}

/// What a write's object was before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// What the write replaces (see `WriteRecord::previous`).
    Previous(Value),
    /// The object exists and carries this run's label: it was written already.
    AlreadyApplied,
}

/// What the runner is asked to do; each is answered with an `Event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Check {
        step: usize,
        check: String,
    },
    Plan {
        step: usize,
        plan: String,
    },
    Preview {
        step: usize,
    },
    Prepare {
        step: usize,
        write: usize,
    },
    /// Journal the intent, send (with its fill), settle, journal the outcome.
    Send {
        step: usize,
        write: usize,
        write_id: String,
    },
    Resolve {
        step: usize,
        write: usize,
    },
    Watch {
        step: usize,
        condition: String,
        deadline: Timestamp,
    },
    /// Store the record on the hub.
    Save,
    /// The run ended: stop driving it (the saved record has no lock).
    Finish,
}

/// Why an event was not taken (the run is unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Moves `run` on by `event` at `now`; `by` is who acts (for confirmations).
pub fn on(run: &mut Run, event: Event, now: Timestamp, by: &str) -> Result<Vec<Effect>, Refused> {
    run.updated_at = now;
    let i = run.current;
    let kind = run.steps.get(i).map(|s| s.spec.clone());
    let state = run.steps.get(i).map(|s| s.state);
    match (event, kind, state) {
        (Event::Begin, _, _) if run.state.finished() => Err(Refused(format!("the run is {}", run.state.name()))),
        (Event::Begin, _, _) => Ok(resume(run, now)),
        (Event::Abort, _, _) => abort(run, now),
        (Event::Undo, _, _) => undo(run, now),
        (Event::Retry, Some(_), Some(StepState::Failed)) if run.held() => Ok(retry(run, now)),
        (Event::Override(reason), Some(_), Some(StepState::Failed)) if run.held() => {
            override_failure(run, now, by, reason)
        }
        (Event::Checked { verdict, evidence, facts }, Some(StepSpec::Check { .. }), Some(StepState::Running)) => {
            run.facts.extend(facts);
            let step = &mut run.steps[i];
            step.evidence = evidence;
            match verdict {
                Verdict::Pass | Verdict::Warn => {
                    step.state = if verdict == Verdict::Pass { StepState::Passed } else { StepState::Warned };
                    Ok(advance(run, now))
                }
                Verdict::Fail => {
                    let why = step.evidence.iter().find(|e| e.verdict == Verdict::Fail).map(|e| e.text.clone());
                    Ok(fail(run, now, why.unwrap_or_else(|| "the check failed".into())))
                }
            }
        }
        (Event::Planned(result), Some(StepSpec::ChangeSet { .. }), Some(StepState::Running)) => match result {
            Ok(planned) => {
                let step = &mut run.steps[i];
                step.writes = vec![WriteRecord::default(); planned.len()];
                if let StepSpec::ChangeSet { writes, .. } = &mut step.spec {
                    *writes = planned;
                }
                Ok(vec![Effect::Preview { step: i }])
            }
            Err(e) => Ok(fail(run, now, format!("planning failed: {e}"))),
        },
        (Event::Previewed(result), Some(StepSpec::ChangeSet { .. }), Some(StepState::Running)) => match result {
            Ok(lines) => {
                let step = &mut run.steps[i];
                step.preview = lines;
                step.state = StepState::Waiting;
                run.state = RunState::Waiting;
                Ok(vec![Effect::Save])
            }
            Err(e) => Ok(fail(run, now, format!("the dry run failed: {}", e.describe()))),
        },
        (Event::Typed(text), Some(StepSpec::ChangeSet { confirm, .. }), Some(StepState::Waiting)) => {
            if text.trim() != confirm {
                return Err(Refused(format!("type {confirm} to confirm")));
            }
            confirmed(run, now, by, text);
            Ok(next_write(run, now))
        }
        (
            Event::Typed(text),
            Some(StepSpec::Gate { gate: Gate::Confirm { expected, .. } }),
            Some(StepState::Waiting),
        ) => {
            if text.trim() != expected {
                return Err(Refused(format!("type {expected} to go on")));
            }
            confirmed(run, now, by, text);
            run.steps[i].state = StepState::Passed;
            Ok(advance(run, now))
        }
        (Event::Attested(note), Some(StepSpec::Gate { gate: Gate::Attest { .. } }), Some(StepState::Waiting)) => {
            if note.trim().is_empty() {
                return Err(Refused("an attestation needs a note".into()));
            }
            confirmed(run, now, by, note.clone());
            let step = &mut run.steps[i];
            step.evidence.push(Evidence { verdict: Verdict::Pass, text: format!("attested by {by}: {note}") });
            step.state = StepState::Passed;
            Ok(advance(run, now))
        }
        (Event::Prepared { write, result }, Some(StepSpec::ChangeSet { .. }), Some(StepState::Running)) => {
            let Some(record) = run.steps[i].writes.get_mut(write) else { return Err(stray()) };
            match result {
                Ok(Prepared::AlreadyApplied) => {
                    record.state = WriteState::Applied;
                    record.at = Some(now);
                    Ok(next_write(run, now))
                }
                Ok(Prepared::Previous(previous)) => {
                    record.previous = previous;
                    record.state = WriteState::Sent;
                    record.write_id = format!("{}-{i}-{write}{}", run.id, if record.retried { "-retry" } else { "" });
                    let write_id = record.write_id.clone();
                    Ok(vec![Effect::Save, Effect::Send { step: i, write, write_id }])
                }
                Err(e) => Ok(write_failed(run, now, write, e)),
            }
        }
        (Event::Written { write, result }, Some(StepSpec::ChangeSet { .. }), Some(StepState::Running)) => {
            let Some(record) = run.steps[i].writes.get_mut(write) else { return Err(stray()) };
            match result {
                Ok(()) => {
                    record.state = WriteState::Applied;
                    record.at = Some(now);
                    let mut effects = vec![Effect::Save];
                    effects.extend(next_write(run, now));
                    Ok(effects)
                }
                Err(WriteError::Conflict { .. }) if !record.retried => {
                    // Retried once, after a fresh read.
                    record.retried = true;
                    record.state = WriteState::Planned;
                    Ok(vec![Effect::Prepare { step: i, write }])
                }
                Err(e) => Ok(write_failed(run, now, write, e)),
            }
        }
        (Event::Resolved { write, applied, evidence }, Some(StepSpec::ChangeSet { .. }), Some(StepState::Running)) => {
            let Some(record) = run.steps[i].writes.get_mut(write) else { return Err(stray()) };
            record.state = if applied { WriteState::Applied } else { WriteState::Planned };
            record.at = Some(now);
            run.steps[i]
                .evidence
                .push(Evidence { verdict: Verdict::Pass, text: format!("after the interruption: {evidence}") });
            Ok(next_write(run, now))
        }
        (Event::Progress { text, held }, Some(StepSpec::Wait { .. }), Some(StepState::Running)) => {
            let step = &mut run.steps[i];
            step.progress = text.clone();
            if held {
                step.evidence.push(Evidence { verdict: Verdict::Pass, text });
                step.state = StepState::Passed;
                return Ok(advance(run, now));
            }
            Ok(Vec::new())
        }
        (Event::Broke(why), Some(StepSpec::Wait { .. }), Some(StepState::Running)) => {
            run.steps[i].progress = why.clone();
            run.steps[i].evidence.push(Evidence { verdict: Verdict::Fail, text: why.clone() });
            Ok(fail(run, now, why))
        }
        (Event::TimedOut, Some(StepSpec::Wait { timeout_secs, .. }), Some(StepState::Running)) => {
            let progress = run.steps[i].progress.clone();
            let why = format!("timed out after {timeout_secs} s: {progress}");
            run.steps[i].evidence.push(Evidence { verdict: Verdict::Fail, text: why.clone() });
            Ok(fail(run, now, why))
        }
        (event, _, state) => Err(Refused(format!(
            "{} does not apply to step {} ({})",
            event_name(&event),
            i + 1,
            state.map_or("none", StepState::name)
        ))),
    }
}

fn stray() -> Refused {
    Refused("no such write in this step".into())
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::Begin => "begin",
        Event::Checked { .. } => "a check's verdict",
        Event::Planned(_) => "a plan",
        Event::Previewed(_) => "a preview",
        Event::Typed(_) => "a confirmation",
        Event::Attested(_) => "an attestation",
        Event::Prepared { .. } => "a prepared write",
        Event::Written { .. } => "a write's outcome",
        Event::Resolved { .. } => "a resolved write",
        Event::Progress { .. } => "progress",
        Event::TimedOut => "a timeout",
        Event::Broke(_) => "a broken condition",
        Event::Retry => "retry",
        Event::Override(_) => "an override",
        Event::Abort => "abort",
        Event::Undo => "undo",
    }
}

fn confirmed(run: &mut Run, now: Timestamp, by: &str, text: String) {
    run.confirmations.push(Confirmation {
        step: run.current,
        text: text.trim().to_owned(),
        by: by.to_owned(),
        at: now,
    });
    run.steps[run.current].state = StepState::Running;
    run.state = RunState::Running;
}

/// Enters the current step.
fn enter(run: &mut Run, now: Timestamp) -> Vec<Effect> {
    let i = run.current;
    let Some(step) = run.steps.get_mut(i) else {
        return succeed(run, now);
    };
    step.started_at.get_or_insert(now);
    step.state = StepState::Running;
    run.state = RunState::Running;
    match step.spec.clone() {
        StepSpec::Check { check } => vec![Effect::Save, Effect::Check { step: i, check }],
        StepSpec::ChangeSet { plan, writes, .. } if writes.is_empty() && !plan.is_empty() => {
            vec![Effect::Save, Effect::Plan { step: i, plan }]
        }
        StepSpec::ChangeSet { writes, .. } => {
            step.writes.resize(writes.len(), WriteRecord::default());
            vec![Effect::Save, Effect::Preview { step: i }]
        }
        StepSpec::Wait { condition, timeout_secs } => {
            let deadline = crate::fleet::later(now, std::time::Duration::from_secs(timeout_secs));
            vec![Effect::Save, Effect::Watch { step: i, condition, deadline }]
        }
        StepSpec::Gate { .. } => {
            step.state = StepState::Waiting;
            run.state = RunState::Waiting;
            vec![Effect::Save]
        }
    }
}

/// Goes on from where the run stands: the current step is entered again, except a
/// change set that was confirmed and has begun writing, which re-reads its writes saved
/// as sent and carries on with the rest.
fn resume(run: &mut Run, now: Timestamp) -> Vec<Effect> {
    let i = run.current;
    let confirmed = run.confirmations.iter().any(|c| c.step == i);
    if let Some(step) = run.steps.get_mut(i)
        && matches!(step.spec, StepSpec::ChangeSet { .. })
        && confirmed
        && !step.writes.is_empty()
    {
        step.state = StepState::Running;
        run.state = RunState::Running;
        return match step.writes.iter().position(|w| w.state == WriteState::Sent) {
            Some(write) => vec![Effect::Save, Effect::Resolve { step: i, write }],
            None => {
                let mut effects = vec![Effect::Save];
                effects.extend(next_write(run, now));
                effects
            }
        };
    }
    enter(run, now)
}

/// The next write of the current change set, or the next step when all are applied.
fn next_write(run: &mut Run, now: Timestamp) -> Vec<Effect> {
    let i = run.current;
    match run.steps[i].writes.iter().position(|w| w.state != WriteState::Applied) {
        Some(write) => vec![Effect::Prepare { step: i, write }],
        None => {
            run.steps[i].state = StepState::Passed;
            advance(run, now)
        }
    }
}

fn advance(run: &mut Run, now: Timestamp) -> Vec<Effect> {
    let i = run.current;
    if let Some(step) = run.steps.get_mut(i) {
        step.finished_at = Some(now);
    }
    run.current = i + 1;
    enter(run, now)
}

fn succeed(run: &mut Run, now: Timestamp) -> Vec<Effect> {
    run.current = run.steps.len().saturating_sub(1);
    run.state = if is_undo(run.steps.last()) { RunState::Undone } else { RunState::Succeeded };
    end(run, now)
}

fn end(run: &mut Run, now: Timestamp) -> Vec<Effect> {
    run.finished_at = Some(now);
    run.lock = None;
    for step in run.steps.iter_mut().skip(run.current + 1) {
        if step.state == StepState::Pending {
            step.state = StepState::Skipped;
        }
    }
    vec![Effect::Save, Effect::Finish]
}

/// The current step failed: the run ends, or waits for the operator when the step holds.
fn fail(run: &mut Run, now: Timestamp, why: String) -> Vec<Effect> {
    let i = run.current;
    let mut hold = false;
    if let Some(step) = run.steps.get_mut(i) {
        step.state = StepState::Failed;
        step.finished_at = Some(now);
        hold = step.hold;
    }
    run.outcome = format!("step {} ({}) failed: {why}", i + 1, run.steps.get(i).map_or("", |s| s.name.as_str()));
    if hold {
        run.state = RunState::Waiting;
        return vec![Effect::Save];
    }
    run.state = RunState::Failed;
    end(run, now)
}

/// A held failure tried again: the step is entered afresh (a change set keeps the
/// writes it applied and sends the failed one again).
fn retry(run: &mut Run, now: Timestamp) -> Vec<Effect> {
    let i = run.current;
    run.outcome.clear();
    let confirmed = run.confirmations.iter().any(|c| c.step == i);
    let step = &mut run.steps[i];
    step.evidence.retain(|e| e.verdict != Verdict::Fail);
    step.progress.clear();
    step.finished_at = None;
    for record in step.writes.iter_mut().filter(|w| w.state == WriteState::Failed) {
        record.state = WriteState::Planned;
        record.error = None;
        record.retried = false;
    }
    if matches!(step.spec, StepSpec::ChangeSet { .. }) && confirmed && !step.writes.is_empty() {
        step.state = StepState::Running;
        run.state = RunState::Running;
        let mut effects = vec![Effect::Save];
        effects.extend(next_write(run, now));
        return effects;
    }
    if !matches!(step.spec, StepSpec::ChangeSet { .. }) {
        step.evidence.clear();
    }
    enter(run, now)
}

/// Goes past a held failure with the operator's reason, recorded in the run.
fn override_failure(run: &mut Run, now: Timestamp, by: &str, reason: String) -> Result<Vec<Effect>, Refused> {
    let i = run.current;
    if !run.steps[i].overridable {
        return Err(Refused(format!("step {} may not be overridden: retry it or abort the run", i + 1)));
    }
    let reason = reason.trim().to_owned();
    if reason.is_empty() {
        return Err(Refused("an override needs a reason".into()));
    }
    let failure = std::mem::take(&mut run.outcome);
    run.overrides.push(crate::fleet::run::Override {
        step: i,
        failure,
        reason: reason.clone(),
        by: by.to_owned(),
        at: now,
    });
    let step = &mut run.steps[i];
    step.evidence.push(Evidence { verdict: Verdict::Warn, text: format!("overridden by {by}: {reason}") });
    step.state = StepState::Warned;
    run.state = RunState::Running;
    Ok(advance(run, now))
}

fn write_failed(run: &mut Run, now: Timestamp, write: usize, error: WriteError) -> Vec<Effect> {
    let i = run.current;
    let label = run.planned(i, write).map(PlannedWrite::label).unwrap_or_default();
    if let Some(record) = run.steps[i].writes.get_mut(write) {
        record.state = WriteState::Failed;
        record.error = Some(error.clone());
        record.at = Some(now);
    }
    let text = format!("{label}: {}", error.describe());
    run.steps[i].evidence.push(Evidence { verdict: Verdict::Fail, text: text.clone() });
    fail(run, now, format!("write {} of {} failed: {text}", write + 1, run.steps[i].writes.len()))
}

fn abort(run: &mut Run, now: Timestamp) -> Result<Vec<Effect>, Refused> {
    if run.state.finished() {
        return Err(Refused(format!("the run is {} already", run.state.name())));
    }
    let i = run.current;
    let writing = run.steps.get(i).is_some_and(|s| {
        matches!(s.spec, StepSpec::ChangeSet { .. })
            && s.state == StepState::Running
            && run.confirmations.iter().any(|c| c.step == i)
    });
    if writing {
        return Err(Refused("the change set is writing: it stops at its first failure".into()));
    }
    if let Some(step) = run.steps.get_mut(i).filter(|s| s.state != StepState::Failed) {
        step.state = StepState::Skipped;
    }
    run.state = RunState::Aborted;
    run.outcome = format!("aborted at step {}", i + 1);
    Ok(end(run, now))
}

mod undo;
pub use undo::{UNDO_STEP, inverse, recreatable, restoring_patch, shows_patch, undoable};
use undo::{is_undo, undo};

#[cfg(test)]
#[path = "runbook_tests.rs"]
mod tests;
