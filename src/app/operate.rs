//! Operator actions in the model: a key plans an action on the selected spoke, the dry
//! run's answer is shown for confirmation, the confirmed plan is written, and the hub's
//! watch shows when Flux acted on it. One action at a time; its panel can be closed while
//! Flux works, and the footer keeps its progress.

use jiff::Timestamp;

use super::model::Model;
use super::msg::{Action, Effect, Pane};
use super::propagation::{columns, row_of_key};
use super::rows::selected_key;
use crate::workflow::operation::{Executed, Operation};
use crate::workflow::plan::{ObjectPreview, Op, flux_plan};

fn op_of(action: Action) -> Option<Op> {
    match action {
        Action::Reconcile => Some(Op::Reconcile),
        Action::Suspend => Some(Op::Suspend),
        Action::Resume => Some(Op::Resume),
        _ => None,
    }
}

/// Shows a short message in the footer.
fn notice(model: &mut Model, text: String) {
    model.ui.notice = Some((text, model.now));
}

/// A mutating action key: plans it on the selected spoke and asks for its dry run.
pub fn start(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(op) = op_of(action) else { return Vec::new() };
    if !model.settings.writable {
        // Not reachable from a read-only keymap; refused here as well.
        return Vec::new();
    }
    if model.ui.pane != Pane::Propagation {
        notice(model, format!("{} acts on a spoke: open the propagation pane (3) and select one", op.verb()));
        return Vec::new();
    }
    if let Some(running) = model.operation.as_ref().filter(|o| !o.is_finished()) {
        notice(model, format!("{} is still running: wait for it to finish", running.plan.title()));
        return Vec::new();
    }
    let key = model.ui.detail.clone().or_else(|| selected_key(model, Pane::Propagation));
    let Some(row) = key.and_then(|k| row_of_key(model, &columns(model), &k)) else {
        notice(model, "no spoke selected".to_owned());
        return Vec::new();
    };
    let (Some(hub), Some(registration)) = (model.hub(), row.registration.and_then(|r| model.registrations.get(r)))
    else {
        notice(model, format!("{} is not registered on the hub: there is nothing to {}", row.name, op.verb()));
        return Vec::new();
    };
    let objects: Vec<_> =
        registration.kustomizations.iter().filter_map(|k| hub.kustomizations.get(k).map(|ks| (k, ks))).collect();
    match flux_plan(op, &registration.name, &hub.context, &objects) {
        Ok(plan) => {
            model.operations_started += 1;
            let id = model.operations_started;
            model.operation = Some(Operation::new(id, plan.clone(), model.now));
            model.ui.operation_open = true;
            model.ui.prompt = Default::default();
            vec![Effect::Preview { id, plan }]
        }
        Err(why) => {
            notice(model, why);
            Vec::new()
        }
    }
}

fn current(model: &mut Model, id: u64) -> Option<&mut Operation> {
    model.operation.as_mut().filter(|o| o.id == id)
}

pub fn previewed(model: &mut Model, id: u64, result: Result<Vec<ObjectPreview>, String>) {
    let now = model.now;
    if let Some(o) = current(model, id) {
        o.previewed(result, now);
    }
}

pub fn executed(model: &mut Model, id: u64, result: Result<Executed, String>) {
    let now = model.now;
    if let Some(o) = current(model, id) {
        o.executed(result, now);
    }
    observe(model);
}

/// Enter at the confirmation prompt.
pub fn submit(model: &mut Model) -> Vec<Effect> {
    let typed = model.ui.prompt.value().to_owned();
    let Some(o) = model.operation.as_mut() else { return Vec::new() };
    match o.confirm(&typed) {
        Some(confirmed) => vec![Effect::Execute { id: o.id, confirmed }],
        None => Vec::new(),
    }
}

/// Esc at the prompt, or while the dry run runs: nothing is written.
pub fn cancel(model: &mut Model) {
    if let Some(o) = model.operation.as_mut() {
        o.cancel();
    }
    model.ui.operation_open = false;
    model.ui.prompt = Default::default();
}

/// The hub's Kustomizations changed: the running action may be verified.
pub fn observe(model: &mut Model) {
    let now = model.now;
    let Some(hub) = model.clusters.iter().find(|c| c.is_hub) else { return };
    if let Some(o) = model.operation.as_mut() {
        o.observe(&hub.kustomizations, now);
    }
}

pub fn tick(model: &mut Model, now: Timestamp) {
    if let Some(o) = model.operation.as_mut() {
        o.tick(now);
    }
}

/// Whether the confirmation prompt takes the keys.
pub fn prompting(model: &Model) -> bool {
    model.ui.operation_open && model.operation.as_ref().is_some_and(Operation::confirming)
}
