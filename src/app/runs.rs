//! Guided workflows in the model: the keys and the command line that start a run, the
//! runner's reports of the run this session drives, and the prompt that answers its
//! confirmations. The run itself lives in the runner (`cluster::runbook`); the model
//! keeps its latest record among the hub's runs, so every pane shows the same thing.

use std::collections::BTreeMap;

use tui_input::Input;

use super::model::Model;
use super::msg::Effect;
use super::update::selected;
use crate::action::{Action, Pane};
use crate::derive::RowKey;
use crate::fleet::registry::ContextRole;
use crate::fleet::run::{Gate, RUN_NAMESPACE, Run, RunState, StepSpec, StepState, Workflow};
use crate::workflow::rollback::facts as rollback_facts;
use crate::workflow::runbook::{Event, undoable};

/// What the runner reports (`cluster::runbook::Update`, as the model takes it).
#[derive(Debug, Clone, PartialEq)]
pub enum RunReport {
    Run(Box<Run>),
    Refused(String),
    Lost(String),
    Ended(Box<Run>),
    /// The run could not be started or taken over, and why.
    Blocked(String),
}

/// A prompt of the runs pane that is not the driven run's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunPrompt {
    /// Type the cluster's name to take an interrupted run over and go on.
    TakeOver { id: String, cluster: String },
    /// Type why the driven run goes past its failed step.
    Override { step: String },
}

/// The commands of the command line.
pub const COMMANDS: [&str; 5] = ["migrate", "register", "release", "rollback", "unregister"];

fn notice(model: &mut Model, text: impl Into<String>) {
    model.ui.notice = Some((text.into(), model.now));
}

/// A run the hub holds (or this session's runner reported), by id.
pub fn run_by_id<'a>(model: &'a Model, id: &str) -> Option<&'a Run> {
    let hub = model.fleet.hub()?;
    hub.runs.get(&(RUN_NAMESPACE.to_owned(), format!("run-{id}"))).map(AsRef::as_ref)
}

/// The run this session drives, as last reported.
pub fn driven(model: &Model) -> Option<&Run> {
    run_by_id(model, model.driving.as_deref()?)
}

fn open_run(model: &mut Model, id: &str) {
    model.ui.pane = Pane::Runs;
    model.ui.selected.insert(Pane::Runs, RowKey::Run(id.to_owned()));
    model.ui.detail = Some(RowKey::Run(id.to_owned()));
    model.ui.detail_scroll = 0;
    model.ui.prompt = Input::default();
}

/// Starts a run of `workflow` on `cluster`, reached through `context`.
fn start(model: &mut Model, workflow: Workflow, cluster: String, context: String) -> Vec<Effect> {
    start_with(model, workflow, cluster, context, BTreeMap::new())
}

fn start_with(
    model: &mut Model,
    workflow: Workflow,
    cluster: String,
    context: String,
    facts: BTreeMap<String, String>,
) -> Vec<Effect> {
    if !model.settings.writable {
        return Vec::new();
    }
    if let Some(run) = driven(model) {
        let text = format!(
            "this session drives the {} run on {}: let it finish, or abort it (x)",
            run.workflow.name(),
            run.cluster
        );
        notice(model, text);
        return Vec::new();
    }
    let read_only = [&cluster, &context]
        .into_iter()
        .find(|c| !c.is_empty() && model.settings.read_only_contexts.iter().any(|g| crate::glob::glob_match(g, c)));
    if let Some(c) = read_only {
        notice(model, format!("{c} is read-only (fleet.read_only): fleetdeck does not write to it"));
        return Vec::new();
    }
    notice(model, format!("{} {cluster}: starting", workflow.gerund()));
    vec![Effect::StartRun { workflow, cluster, context, facts }]
}

/// The candidates' contexts (for `register` and `migrate`) or the spokes' names (for
/// `unregister`).
fn targets(model: &Model, workflow: Workflow) -> Vec<(String, String)> {
    let fleet = &model.fleet;
    let mut out = Vec::new();
    for (id, c) in fleet.clusters().iter().enumerate() {
        match (workflow, fleet.role(id)) {
            (Workflow::Register | Workflow::Migrate, ContextRole::Candidate) => {
                out.push((c.context.clone(), c.context.clone()))
            }
            (Workflow::Rollback, ContextRole::Spoke { .. }) => {
                if let Some(r) = fleet.registration_of(id) {
                    out.push((r.name.clone(), c.context.clone()));
                }
            }
            (Workflow::Release, ContextRole::Spoke { .. }) => {
                let pinned = fleet.registration_of(id).filter(|r| {
                    r.kustomizations.iter().any(|k| {
                        fleet.hub().and_then(|h| h.kustomizations.get(k)).is_some_and(|ks| ks.pinned.is_some())
                    })
                });
                if let Some(r) = pinned {
                    out.push((r.name.clone(), c.context.clone()));
                }
            }
            (Workflow::Unregister, ContextRole::Spoke { .. }) => {
                if let Some(r) = fleet.registration_of(id) {
                    out.push((r.name.clone(), c.context.clone()));
                }
            }
            _ => {}
        }
    }
    if workflow == Workflow::Unregister {
        let reached: Vec<String> = out.iter().map(|(n, _)| n.clone()).collect();
        for r in fleet.registrations().iter().filter(|r| !reached.contains(&r.name)) {
            out.push((r.name.clone(), String::new()));
        }
    }
    out.sort();
    out
}

/// Why no context is a candidate or a spoke yet: until the hub's Kustomizations and
/// spoke Secrets are read, every context's role is unknown (the health pane says so).
fn not_read_yet(workflow: Workflow) -> String {
    format!(
        "{} waits for the hub: its registrations are not read yet, so no context is known as a candidate or a spoke",
        workflow.name()
    )
}

/// `n`, `N` and `m` on the health pane's selected row.
pub fn key(model: &mut Model, action: Action) -> Vec<Effect> {
    let workflow = match action {
        Action::Register => Workflow::Register,
        Action::Migrate => Workflow::Migrate,
        _ => Workflow::Unregister,
    };
    if model.ui.pane != Pane::Health {
        notice(model, format!("{} acts on the health pane's selected row (1)", workflow.name()));
        return Vec::new();
    }
    let row = model.ui.detail.clone().or_else(|| selected(model, Pane::Health));
    let name = match &row {
        Some(RowKey::Cluster(id)) => model.fleet.clusters().get(*id).map(|c| c.context.clone()),
        Some(RowKey::HubOnly(name)) => Some(name.clone()),
        _ => None,
    };
    let Some(name) = name else {
        notice(model, "no row selected");
        return Vec::new();
    };
    let known = targets(model, workflow);
    match known.into_iter().find(|(n, c)| *n == name || *c == name) {
        Some((cluster, context)) => start(model, workflow, cluster, context),
        None if !model.fleet.registrations_known() => {
            notice(model, not_read_yet(workflow));
            Vec::new()
        }
        None => {
            let why = match workflow {
                Workflow::Register | Workflow::Migrate => format!(
                    "{name} is not a candidate: only a context the hub does not know can be {}",
                    if workflow == Workflow::Register { "registered" } else { "migrated" }
                ),
                _ => format!("{name} is not a registered spoke"),
            };
            notice(model, why);
            Vec::new()
        }
    }
}

/// Enter on the command line.
pub fn command(model: &mut Model, line: &str) -> Vec<Effect> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (verb, rest) = match words.split_first() {
        Some((verb, rest)) => (*verb, rest),
        None => return Vec::new(),
    };
    let Some(workflow) = Workflow::from_name(verb) else {
        notice(model, format!("unknown command :{verb} (commands: {})", COMMANDS.join(", ")));
        return Vec::new();
    };
    if workflow == Workflow::Rollback {
        return rollback_command(model, rest);
    }
    let [name] = rest else {
        let what = if matches!(workflow, Workflow::Unregister | Workflow::Release) { "<spoke>" } else { "<context>" };
        notice(model, format!("usage: :{} {what}", workflow.name()));
        return Vec::new();
    };
    match targets(model, workflow).into_iter().find(|(n, c)| n == name || c == name) {
        Some((cluster, context)) => start(model, workflow, cluster, context),
        None if !model.fleet.registrations_known() => {
            notice(model, not_read_yet(workflow));
            Vec::new()
        }
        None => {
            let options: Vec<String> = targets(model, workflow).into_iter().map(|(n, _)| n).collect();
            let kind = match workflow {
                Workflow::Unregister => "registered spoke",
                Workflow::Release => "spoke a rollback pinned",
                _ => "candidate context",
            };
            let list = if options.is_empty() { "none".to_owned() } else { options.join(", ") };
            notice(model, format!("{name} is not a {kind} (these are: {list})"));
            Vec::new()
        }
    }
}

/// How a rollback returns the cluster to a known good state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Undo the migration or registration runs that brought it in (their rollback point).
    Undo,
    /// Return to the spoke's Kustomizations' previous applied revision, pinned.
    Revision,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Undo => "undo",
            Target::Revision => "revision",
        }
    }

    pub fn parse(word: &str) -> Option<Target> {
        [Target::Undo, Target::Revision].into_iter().find(|t| t.name() == word)
    }
}

/// `:rollback <cluster> [undo|revision] [backup=<name>]`.
fn rollback_command(model: &mut Model, rest: &[&str]) -> Vec<Effect> {
    const USAGE: &str = "usage: :rollback <cluster> [undo|revision] [backup=<name>]";
    let Some((name, options)) = rest.split_first() else {
        notice(model, USAGE);
        return Vec::new();
    };
    let mut target = None;
    let mut backup = None;
    for option in options {
        match (Target::parse(option), option.strip_prefix("backup=")) {
            (Some(t), _) => target = Some(t),
            (None, Some(b)) if !b.is_empty() => backup = Some(b.to_owned()),
            _ => {
                notice(model, format!("{option:?}: {USAGE}"));
                return Vec::new();
            }
        }
    }
    rollback(model, name, target, backup)
}

/// `!`: the firing trigger's cluster, else the health or propagation pane's selected spoke.
pub fn rollback_key(model: &mut Model) -> Vec<Effect> {
    let derived = model.derived();
    let firing = derived.firing().find_map(|(id, _)| {
        model.fleet.role(id).registration().and_then(|r| model.fleet.registration(r)).map(|r| r.name.clone())
    });
    let name = match firing {
        Some(name) => name,
        None => {
            let row = match model.ui.pane {
                Pane::Health | Pane::Latency | Pane::Propagation => {
                    model.ui.detail.clone().or_else(|| selected(model, model.ui.pane))
                }
                _ => None,
            };
            let name = match row {
                Some(RowKey::Cluster(id)) => model.fleet.clusters().get(id).map(|c| c.context.clone()),
                _ => None,
            };
            match name {
                Some(n) => n,
                None => {
                    notice(
                        model,
                        "no rollback trigger fires: select a spoke on the health pane (1), or :rollback <cluster>",
                    );
                    return Vec::new();
                }
            }
        }
    };
    rollback(model, &name, None, None)
}

/// Starts a rollback of `name` (a spoke's name or context), with what the model knows of
/// its trigger and baseline.
fn rollback(model: &mut Model, name: &str, target: Option<Target>, backup: Option<String>) -> Vec<Effect> {
    let Some((cluster, context)) = targets(model, Workflow::Rollback).into_iter().find(|(n, c)| n == name || c == name)
    else {
        if !model.fleet.registrations_known() {
            notice(model, not_read_yet(Workflow::Rollback));
            return Vec::new();
        }
        let options: Vec<String> = targets(model, Workflow::Rollback).into_iter().map(|(n, _)| n).collect();
        let list = if options.is_empty() { "none".to_owned() } else { options.join(", ") };
        notice(model, format!("{name} is not a registered spoke a context reaches (these are: {list})"));
        return Vec::new();
    };
    let mut facts = BTreeMap::new();
    let derived = model.derived();
    if let Some(id) = model.fleet.by_name(&context) {
        let firing = derived.cluster(id).and_then(|v| v.triggers.iter().filter(|t| t.firing).min_by_key(|t| t.since));
        if let Some(t) = firing {
            facts.insert(
                rollback_facts::TRIGGER.to_owned(),
                crate::derive::report::trigger_line(&context, t, model.now),
            );
            facts.insert(rollback_facts::TRIGGERED_AT.to_owned(), t.since.to_string());
        }
        if let Some(baseline) = derived.cluster(id).and_then(|v| v.violations_baseline) {
            facts.insert(rollback_facts::VIOLATIONS_BASELINE.to_owned(), baseline.to_string());
        }
    }
    // Undo a fleetdeck run where one brought the cluster in, else the last good revision.
    let target = target.unwrap_or_else(|| {
        let runs = model.fleet.hub().into_iter().flat_map(|h| h.runs.values().map(|r| &**r));
        let brought_in = !crate::workflow::rollback::runs_to_undo(&cluster, runs).is_empty();
        if brought_in { Target::Undo } else { Target::Revision }
    });
    facts.insert(rollback_facts::TARGET.to_owned(), target.name().to_owned());
    if let Some(b) = backup {
        facts.insert(rollback_facts::BACKUP.to_owned(), b);
    }
    start_with(model, Workflow::Rollback, cluster, context, facts)
}

/// Tab on the command line: completes the command, then its argument, to the longest
/// common prefix of what fits.
pub fn complete(model: &Model, line: &str) -> Option<String> {
    let ends_with_space = line.ends_with(' ');
    let words: Vec<&str> = line.split_whitespace().collect();
    let (done, partial, options): (Vec<&str>, &str, Vec<String>) = match (words.as_slice(), ends_with_space) {
        ([], _) => (vec![], "", COMMANDS.iter().map(|c| (*c).to_owned()).collect()),
        ([verb], false) => (vec![], verb, COMMANDS.iter().map(|c| (*c).to_owned()).collect()),
        ([verb], true) | ([verb, _], false) => {
            let workflow = Workflow::from_name(verb)?;
            let partial = if ends_with_space { "" } else { words[1] };
            (vec![*verb], partial, targets(model, workflow).into_iter().map(|(n, _)| n).collect())
        }
        _ => return None,
    };
    let fitting: Vec<&String> = options.iter().filter(|o| o.starts_with(partial)).collect();
    let first = fitting.first()?;
    let mut common = first.to_string();
    for o in &fitting[1..] {
        while !o.starts_with(&common) {
            common.pop();
        }
    }
    let mut out = done.join(" ");
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(&common);
    if fitting.len() == 1 {
        out.push(' ');
    }
    Some(out)
}

/// The runs pane's keys: take over, undo, abort.
pub fn run_key(model: &mut Model, action: Action) -> Vec<Effect> {
    if model.ui.pane != Pane::Runs {
        notice(model, format!("{} acts on the runs pane's selected run (6)", action.hint()));
        return Vec::new();
    }
    let Some(RowKey::Run(id)) = model.ui.detail.clone().or_else(|| selected(model, Pane::Runs)) else {
        notice(model, "no run selected");
        return Vec::new();
    };
    let Some(run) = run_by_id(model, &id).cloned() else { return Vec::new() };
    let state = run.state_at(model.now, model.fleet.settings.lock_ttl, &model.fleet.settings.host);
    let mine = model.driving.as_deref() == Some(id.as_str());
    match action {
        Action::AbortRun if mine => vec![Effect::RunInput(Event::Abort)],
        Action::AbortRun => {
            notice(model, "this session does not drive that run: only the session holding its lock can abort it");
            Vec::new()
        }
        Action::ContinueRun if state == RunState::Interrupted => {
            if model.driving.is_some() {
                notice(model, "this session drives another run: let it finish first");
                return Vec::new();
            }
            model.ui.run_prompt = Some(RunPrompt::TakeOver { id: id.clone(), cluster: run.cluster.clone() });
            model.ui.prompt = Input::default();
            open_run(model, &id);
            Vec::new()
        }
        Action::ContinueRun => {
            notice(model, format!("the run is {}: only an interrupted run is taken over", state.name()));
            Vec::new()
        }
        Action::RetryStep if mine && run.held() => vec![Effect::RunInput(Event::Retry)],
        Action::OverrideStep if mine && run.held() => {
            let (name, overridable) = run.step().map(|s| (s.name.clone(), s.overridable)).unwrap_or_default();
            if !overridable {
                notice(model, format!("the runbook does not let \"{name}\" be overridden: retry it or abort the run"));
                return Vec::new();
            }
            model.ui.run_prompt = Some(RunPrompt::Override { step: name });
            open_run(model, &id);
            Vec::new()
        }
        Action::RetryStep | Action::OverrideStep => {
            notice(model, "only the failed step of the run this session drives is retried or overridden");
            Vec::new()
        }
        Action::UndoRun if mine => vec![Effect::RunInput(Event::Undo)],
        Action::UndoRun if undoable(&run) && state.finished() => {
            if model.driving.is_some() {
                notice(model, "this session drives another run: let it finish first");
                return Vec::new();
            }
            open_run(model, &id);
            vec![Effect::TakeRun { id, first: Event::Undo }]
        }
        Action::UndoRun => {
            notice(
                model,
                format!("only a failed or aborted run that wrote something is undone (this one is {})", state.name()),
            );
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// What the driven run asks the operator now, if its panel is open: the text to type
/// (empty for an attestation's free note) and what it is for.
pub fn asks(model: &Model) -> Option<(String, String)> {
    let run = driven(model)?;
    if model.ui.pane != Pane::Runs || model.ui.detail.as_ref() != Some(&RowKey::Run(run.id.clone())) {
        return None;
    }
    let step = run.step().filter(|s| s.state == StepState::Waiting && run.state == RunState::Waiting)?;
    Some(match &step.spec {
        StepSpec::ChangeSet { confirm, writes, .. } => {
            let n = writes.len();
            let what = if n == 1 { "this object".to_owned() } else { format!("these {n} objects") };
            (confirm.clone(), format!("type {confirm} to write {what} (Esc aborts: nothing is written)"))
        }
        StepSpec::Gate { gate: Gate::Confirm { expected, prompt } } => {
            (expected.clone(), format!("{prompt}: type {expected} (Esc aborts)"))
        }
        StepSpec::Gate { gate: Gate::Attest { item } } => {
            (String::new(), format!("attest: {item} — type a note (Esc aborts)"))
        }
        _ => return None,
    })
}

/// Whether a run prompt takes the keys.
pub fn prompting(model: &Model) -> bool {
    model.ui.run_prompt.is_some() || asks(model).is_some()
}

/// Enter at a run prompt.
pub fn submit(model: &mut Model) -> Vec<Effect> {
    let typed = model.ui.prompt.value().trim().to_owned();
    if let Some(RunPrompt::TakeOver { id, cluster }) = model.ui.run_prompt.clone() {
        if typed != cluster {
            notice(model, format!("type {cluster} to take the run over"));
            return Vec::new();
        }
        model.ui.run_prompt = None;
        model.ui.prompt = Input::default();
        return vec![Effect::TakeRun { id, first: Event::Begin }];
    }
    if let Some(RunPrompt::Override { .. }) = model.ui.run_prompt {
        if typed.is_empty() {
            notice(model, "an override needs a reason");
            return Vec::new();
        }
        model.ui.run_prompt = None;
        model.ui.prompt = Input::default();
        return vec![Effect::RunInput(Event::Override(typed))];
    }
    let Some((expected, _)) = asks(model) else { return Vec::new() };
    let attest = expected.is_empty();
    if !attest && typed != expected {
        notice(model, format!("type {expected} to confirm"));
        return Vec::new();
    }
    if attest && typed.is_empty() {
        notice(model, "an attestation needs a note");
        return Vec::new();
    }
    model.ui.prompt = Input::default();
    vec![Effect::RunInput(if attest { Event::Attested(typed) } else { Event::Typed(typed) })]
}

/// Esc at a run prompt: a take-over is not made; the driven run is aborted.
pub fn cancel(model: &mut Model) -> Vec<Effect> {
    model.ui.prompt = Input::default();
    if model.ui.run_prompt.take().is_some() {
        return Vec::new();
    }
    if asks(model).is_some() { vec![Effect::RunInput(Event::Abort)] } else { Vec::new() }
}

/// What the runner reported.
pub fn report(model: &mut Model, report: RunReport) {
    let keep = |model: &mut Model, run: &Run| {
        let key = (RUN_NAMESPACE.to_owned(), run.object_name());
        if let Some(c) = model.fleet.hub_id().and_then(|hub| model.fleet.data_mut(hub)) {
            c.put_run(key, std::sync::Arc::new(run.clone()));
        }
    };
    match report {
        RunReport::Run(run) => {
            let first = model.driving.as_deref() != Some(run.id.as_str());
            model.driving = Some(run.id.clone());
            keep(model, &run);
            if first {
                open_run(model, &run.id);
            }
        }
        RunReport::Ended(run) => {
            keep(model, &run);
            model.driving = None;
            let text = match run.state {
                RunState::Succeeded => format!("{} {}: succeeded", run.workflow.name(), run.cluster),
                RunState::Undone => format!("{} {}: undone", run.workflow.name(), run.cluster),
                RunState::Aborted => format!("{} {}: aborted", run.workflow.name(), run.cluster),
                _ if run.state.finished() => format!("{} {}: {}", run.workflow.name(), run.cluster, run.outcome),
                _ => format!("{} {}: this session stopped driving it", run.workflow.name(), run.cluster),
            };
            notice(model, text);
        }
        RunReport::Refused(why) => notice(model, why),
        RunReport::Lost(why) => {
            model.driving = None;
            notice(model, format!("this session no longer drives the run: {why}"));
        }
        RunReport::Blocked(why) => notice(model, why),
    }
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
