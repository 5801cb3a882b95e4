//! Operator actions in the model: a key plans an action on the selected spoke (Flux) or
//! schedule and backup (Velero), the dry run's answer is shown for confirmation, the
//! confirmed plan is written, and the watches show when Flux acted on it or Velero
//! finished it. One action at a time; its panel can be closed while the work goes on,
//! and the footer keeps its progress.

use jiff::Timestamp;

use super::model::Model;
use super::msg::Effect;
use super::update::selected;
use crate::action::{Action, Pane};
use crate::derive::backups::backups_of;
use crate::workflow::operation::{Executed, Operation};
use crate::workflow::plan::{ObjectPreview, Op, Plan, backup_plan, flux_plan, restore_plan};

fn op_of(action: Action) -> Option<Op> {
    match action {
        Action::Reconcile => Some(Op::Reconcile),
        Action::Suspend => Some(Op::Suspend),
        Action::Resume => Some(Op::Resume),
        Action::BackupNow => Some(Op::BackupNow),
        Action::Restore => Some(Op::Restore),
        _ => None,
    }
}

/// Whether the config makes a context read-only.
fn read_only(model: &Model, context: &str) -> bool {
    model.settings.read_only_contexts.iter().any(|g| crate::glob::glob_match(g, context))
}

/// Shows a short message in the footer.
fn notice(model: &mut Model, text: String) {
    model.ui.notice = Some((text, model.now));
}

/// Plans a Flux action on the selected spoke.
fn flux(model: &mut Model, op: Op) -> Result<Plan, String> {
    let key = model.ui.detail.clone().or_else(|| selected(model, Pane::Propagation));
    let derived = model.derived();
    let row = key.as_ref().and_then(|k| derived.spoke_row(k)).ok_or("no spoke selected")?;
    let fleet = &model.fleet;
    let (Some(hub), Some(registration)) = (fleet.hub(), row.whose.registration().and_then(|r| fleet.registration(r)))
    else {
        return Err(format!("{} is not registered on the hub: there is nothing to {}", row.name, op.verb()));
    };
    let objects: Vec<_> =
        registration.kustomizations.iter().filter_map(|k| hub.kustomizations.get(k).map(|ks| (k, ks))).collect();
    flux_plan(op, &registration.name, &hub.context, &objects)
}

/// Plans a Velero action on the selected schedule: a backup from it, or a restore from
/// the backup selected in its detail (from the list, its newest usable backup, as
/// `velero restore create --from-schedule` picks).
fn velero(model: &mut Model, op: Op) -> Result<Plan, String> {
    let key = model.ui.detail.clone().or_else(|| selected(model, Pane::Backups)).ok_or("no row selected")?;
    let derived = model.derived();
    let row = derived.backup_row(&key).ok_or("the selected row is gone")?;
    let c = &model.fleet.clusters()[row.cluster];
    let hub_namespace = model.fleet.registration_of(row.cluster).map(|r| r.name.clone());
    let plan = match op {
        Op::BackupNow => {
            let schedule = row
                .schedule()
                .and_then(|k| c.schedules.get(k))
                .ok_or_else(|| format!("{}: select a schedule to back up from", c.context))?;
            let down = row.health().and_then(|h| {
                h.findings.iter().find_map(|f| match f {
                    crate::fleet::backup::Finding::StorageUnavailable { location, .. } => Some(location.as_str()),
                    _ => None,
                })
            });
            backup_plan(&c.context, schedule, down, model.now)
        }
        _ => {
            let list = backups_of(c, row);
            let chosen = if model.ui.detail.is_some() {
                list.get(model.ui.detail_scroll.min(list.len().saturating_sub(1))).map(|(_, b)| *b)
            } else {
                list.iter().map(|(_, b)| *b).find(|b| b.phase.restorable())
            };
            let backup = chosen.ok_or_else(|| format!("{}: no backup to restore from", c.context))?;
            restore_plan(&c.context, backup, model.now)
        }
    };
    plan.map(|plan| Plan { hub_namespace, ..plan })
}

/// A mutating action key: plans it on the selection and asks for its dry run.
pub fn start(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(op) = op_of(action) else { return Vec::new() };
    if !model.settings.writable {
        // Not reachable from a read-only keymap; refused here as well.
        return Vec::new();
    }
    if !Action::operator(model.ui.pane).contains(&action) {
        let wher = if op.creates() {
            "a schedule: open the backups pane (4)"
        } else {
            "a spoke: open the propagation pane (3)"
        };
        notice(model, format!("{} acts on {wher} and select one", op.verb()));
        return Vec::new();
    }
    if let Some(running) = model.operation.as_ref().filter(|o| !o.is_finished()) {
        notice(model, format!("{} is still running: wait for it to finish", running.plan.title()));
        return Vec::new();
    }
    let planned = if op.creates() { velero(model, op) } else { flux(model, op) };
    let planned = planned.and_then(|plan| match plan.targets.iter().find(|t| read_only(model, &t.context)) {
        Some(t) => Err(format!("{} is read-only (fleet.read_only): fleetdeck does not write to it", t.context)),
        None => Ok(plan),
    });
    match planned {
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

/// The watched objects changed: the running action may be verified.
pub fn observe(model: &mut Model) {
    let now = model.now;
    if let Some(o) = model.operation.as_mut() {
        o.observe(model.fleet.clusters(), now);
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
