//! Undoing a run: the inverse of every write it applied, newest first, as a change set
//! of its own ("undo this run's changes"), and the object arithmetic it needs (the patch
//! that restores what a patch changed, an object as it can be created again).

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::{Effect, Refused, resume};
use crate::fleet::run::{Evidence, PlannedWrite, Run, RunState, Step, StepSpec, StepState, Verb, Verdict};

/// The name of the step that undoes a run.
pub const UNDO_STEP: &str = "undo this run's changes";

pub(super) fn is_undo(step: Option<&Step>) -> bool {
    step.is_some_and(|s| s.name == UNDO_STEP)
}

/// Whether the run offers "undo this run's changes": it ended without succeeding (or
/// holds at a failed step), after writing, and was not undone.
pub fn undoable(run: &Run) -> bool {
    let ended = matches!(run.state, RunState::Failed | RunState::Aborted) || run.held();
    let undo_failed = run.state == RunState::Failed && is_undo(run.steps.last());
    (ended && !run.applied().is_empty() && !is_undo(run.steps.last())) || undo_failed
}

pub(super) fn undo(run: &mut Run, now: Timestamp) -> Result<Vec<Effect>, Refused> {
    if !undoable(run) {
        let ended = run.held() || matches!(run.state, RunState::Failed | RunState::Aborted);
        return Err(Refused(if ended {
            "the run wrote nothing that needs undoing".into()
        } else {
            format!("only a failed or aborted run can be undone (this one is {})", run.state.name())
        }));
    }
    if is_undo(run.steps.last()) {
        // A failed undo is tried again from where it stopped.
        run.current = run.steps.len() - 1;
    } else {
        // A run held at a failed step gives up the steps after it.
        for step in run.steps.iter_mut().filter(|s| s.state == StepState::Pending) {
            step.state = StepState::Skipped;
        }
        let (writes, notes) = inverse(run);
        let mut step =
            Step::new(UNDO_STEP, StepSpec::ChangeSet { plan: String::new(), confirm: run.cluster.clone(), writes });
        step.evidence = notes.into_iter().map(|text| Evidence { verdict: Verdict::Warn, text }).collect();
        run.steps.push(step);
        run.current = run.steps.len() - 1;
    }
    run.finished_at = None;
    run.outcome.clear();
    Ok(resume(run, now))
}

/// The inverse of every applied write, newest first, and what cannot be undone.
pub fn inverse(run: &Run) -> (Vec<PlannedWrite>, Vec<String>) {
    let mut writes = Vec::new();
    let mut notes = Vec::new();
    for (s, w) in run.applied().into_iter().rev() {
        if is_undo(run.steps.get(s)) {
            continue;
        }
        let (Some(planned), Some(record)) = (run.planned(s, w), run.steps[s].writes.get(w)) else { continue };
        let mut undo = PlannedWrite { fill: None, settle: None, ..planned.clone() };
        match planned.verb {
            Verb::Create => {
                undo.verb = Verb::Delete;
                undo.body = Value::Null;
            }
            Verb::Patch => undo.body = record.previous.clone(),
            Verb::Delete if record.previous.is_object() => {
                undo.verb = Verb::Create;
                undo.body = record.previous.clone();
            }
            Verb::Delete => {
                notes.push(format!("{} cannot be recreated: {}", planned.object.label(), cannot_recreate(planned)));
                continue;
            }
        }
        writes.push(undo);
    }
    (writes, notes)
}

fn cannot_recreate(planned: &PlannedWrite) -> &'static str {
    if planned.object.is_secret() { "a Secret's data is never kept" } else { "it was not read before its delete" }
}

/// The merge patch that restores what `patch` changes in `before`: each patched field's
/// old value, or null where there was none.
pub fn restoring_patch(patch: &Value, before: &Value) -> Value {
    let Some(fields) = patch.as_object() else { return before.clone() };
    let mut out = Map::new();
    for (key, value) in fields {
        let old = before.get(key);
        let restore = match (value, old) {
            (Value::Object(_), Some(old @ Value::Object(_))) => restoring_patch(value, old),
            (_, Some(old)) => old.clone(),
            (_, None) => Value::Null,
        };
        out.insert(key.clone(), restore);
    }
    Value::Object(out)
}

/// Whether `object` shows every field of a merge patch (nulls: absent).
pub fn shows_patch(patch: &Value, object: &Value) -> bool {
    match patch.as_object() {
        Some(fields) => fields.iter().all(|(key, value)| match value {
            Value::Null => object.get(key).is_none_or(Value::is_null),
            Value::Object(_) => object.get(key).is_some_and(|o| shows_patch(value, o)),
            v => object.get(key) == Some(v),
        }),
        None => patch == object,
    }
}

/// An object as read, ready to be created again: server-set metadata and status dropped.
pub fn recreatable(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "generation",
            "deletionTimestamp",
            "selfLink",
        ] {
            meta.remove(field);
        }
    }
    if let Some(map) = o.as_object_mut() {
        map.remove("status");
    }
    o
}
