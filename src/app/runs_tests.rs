use super::*;
use crate::app::model::ModelSettings;
use crate::app::msg::Msg;
use crate::app::update::update;
use crate::cluster::{ContextSpec, EngineEvent};
use crate::fleet::kind::Kind;
use crate::fleet::run::{Session, Step, StepSpec};
use crate::fleet::summary::{KustomizationSummary, Summary};
use jiff::Timestamp;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn spec(name: &str, hub: bool) -> ContextSpec {
    ContextSpec::unconnected(name, hub)
}

/// A hub, a registered spoke (prod-a) and a candidate (edge-eu-1), in an operator session.
fn model() -> Model {
    let settings = ModelSettings { writable: true, ..ModelSettings::default() };
    let mut m = Model::new(&[spec("hub", true), spec("prod-a", false), spec("edge-eu-1", false)], settings, t(0));
    let ks = KustomizationSummary {
        namespace: "prod-a".into(),
        name: "policies".into(),
        remote: true,
        kubeconfig_secret: Some("cluster-kubeconfig".into()),
        ..Default::default()
    };
    let items = vec![(("prod-a".into(), "policies".into()), Summary::Kustomization(ks))];
    update(&mut m, Msg::Engine(EngineEvent::Relist { cluster: 0, kind: Kind::Kustomization, items, at: t(1) }));
    let secrets = vec![(
        ("prod-a".into(), "cluster-kubeconfig".into()),
        Summary::SpokeSecret(crate::fleet::summary::SpokeSecret {
            namespace: "prod-a".into(),
            name: "cluster-kubeconfig".into(),
            ..Default::default()
        }),
    )];
    update(&mut m, Msg::Engine(EngineEvent::Relist { cluster: 0, kind: Kind::SpokeSecret, items: secrets, at: t(1) }));
    m
}

fn notice(m: &Model) -> String {
    m.ui.notice.as_ref().map(|(t, _)| t.clone()).unwrap_or_default()
}

#[test]
fn the_command_line_starts_registration_of_a_candidate_only() {
    let mut m = model();
    let effects = command(&mut m, "register edge-eu-1");
    assert_eq!(
        effects,
        vec![Effect::StartRun {
            workflow: Workflow::Register,
            cluster: "edge-eu-1".into(),
            context: "edge-eu-1".into(),
            facts: Default::default(),
        }]
    );
    assert!(command(&mut m, "register prod-a").is_empty());
    assert!(notice(&m).contains("prod-a is not a candidate context (these are: edge-eu-1)"), "{}", notice(&m));
    assert!(command(&mut m, "register").is_empty());
    assert_eq!(notice(&m), "usage: :register <context>");
    assert!(command(&mut m, "frobnicate x").is_empty());
    assert!(notice(&m).contains("unknown command :frobnicate"));
    assert_eq!(
        command(&mut m, "unregister prod-a"),
        vec![Effect::StartRun {
            workflow: Workflow::Unregister,
            cluster: "prod-a".into(),
            context: "prod-a".into(),
            facts: Default::default()
        }]
    );
}

#[test]
fn before_the_hub_is_read_commands_say_they_wait_for_it_not_that_the_context_is_no_candidate() {
    let settings = ModelSettings { writable: true, ..ModelSettings::default() };
    let mut m = Model::new(&[spec("hub", true), spec("edge-eu-1", false)], settings, t(0));
    assert!(command(&mut m, "migrate edge-eu-1").is_empty());
    assert!(notice(&m).starts_with("migrate waits for the hub: its registrations are not read yet"), "{}", notice(&m));
    assert!(command(&mut m, "unregister prod-a").is_empty());
    assert!(notice(&m).starts_with("unregister waits for the hub"), "{}", notice(&m));
    // Once read, the same command starts.
    let mut m = model();
    assert_eq!(command(&mut m, "migrate edge-eu-1").len(), 1);
}

#[test]
fn the_command_line_starts_a_rollback_of_a_spoke_with_its_target() {
    let mut m = model();
    let facts = |effects: Vec<Effect>| match effects.as_slice() {
        [Effect::StartRun { workflow: Workflow::Rollback, cluster, facts, .. }] if cluster == "prod-a" => facts.clone(),
        other => panic!("{other:?}"),
    };
    // No run brought prod-a in: back to the last good revision.
    let started = facts(command(&mut m, "rollback prod-a"));
    assert_eq!(started.get(rollback_facts::TARGET).map(String::as_str), Some("revision"));
    assert!(!started.contains_key(rollback_facts::TRIGGER), "no trigger fires");
    let started = facts(command(&mut m, "rollback prod-a undo backup=daily-1"));
    assert_eq!(started.get(rollback_facts::TARGET).map(String::as_str), Some("undo"));
    assert_eq!(started.get(rollback_facts::BACKUP).map(String::as_str), Some("daily-1"));
    assert!(command(&mut m, "rollback prod-a sideways").is_empty());
    assert!(notice(&m).contains("usage: :rollback <cluster> [undo|revision] [backup=<name>]"), "{}", notice(&m));
    assert!(command(&mut m, "rollback edge-eu-1").is_empty(), "a candidate is no spoke to roll back");
    assert!(
        notice(&m).contains("edge-eu-1 is not a registered spoke a context reaches (these are: prod-a)"),
        "{}",
        notice(&m)
    );
    assert!(command(&mut m, "release prod-a").is_empty(), "nothing is pinned");
    assert!(notice(&m).contains("prod-a is not a spoke a rollback pinned (these are: none)"), "{}", notice(&m));
}

#[test]
fn tab_completes_commands_then_their_targets() {
    let m = model();
    assert_eq!(complete(&m, "reg").as_deref(), Some("register "));
    assert_eq!(complete(&m, "un").as_deref(), Some("unregister "));
    assert_eq!(complete(&m, "register ").as_deref(), Some("register edge-eu-1 "));
    assert_eq!(complete(&m, "register ed").as_deref(), Some("register edge-eu-1 "));
    assert_eq!(complete(&m, "unregister p").as_deref(), Some("unregister prod-a "));
    assert_eq!(complete(&m, "register zz"), None);
    assert_eq!(complete(&m, "").as_deref(), Some(""), "two commands: their common prefix (none)");
}

#[test]
fn a_read_only_session_starts_nothing() {
    let mut m = model();
    m.settings.writable = false;
    assert!(command(&mut m, "register edge-eu-1").is_empty());
    update(&mut m, Msg::Action(Action::Command));
    assert!(m.ui.command.is_none(), "no command line without writes");
}

fn waiting_run() -> Run {
    let by = Session { user: "alice".into(), host: "elsewhere".into(), pid: 1, id: "s".into() };
    let mut step =
        Step::new("plan", StepSpec::ChangeSet { plan: String::new(), confirm: "edge-eu-1".into(), writes: vec![] });
    step.state = StepState::Waiting;
    let mut run =
        Run::new("20261201-100000-abc123", Workflow::Register, ("edge-eu-1", "edge-eu-1", "hub"), vec![step], by, t(0));
    run.state = RunState::Waiting;
    run.updated_at = t(1);
    run
}

#[test]
fn the_driven_runs_confirmation_takes_the_typed_name_and_esc_aborts() {
    let mut m = model();
    update(&mut m, Msg::Run(RunReport::Run(Box::new(waiting_run()))));
    assert_eq!(m.ui.pane, Pane::Runs, "the run's panel opens");
    assert!(prompting(&m));
    for c in "edge-eu-2".chars() {
        update(&mut m, Msg::PromptEdit(tui_input::InputRequest::InsertChar(c)));
    }
    assert!(update(&mut m, Msg::PromptSubmit).is_empty(), "the wrong name writes nothing");
    assert!(notice(&m).contains("type edge-eu-1"));
    m.ui.prompt = Input::new("edge-eu-1".into());
    assert_eq!(update(&mut m, Msg::PromptSubmit), vec![Effect::RunInput(Event::Typed("edge-eu-1".into()))]);
    assert_eq!(update(&mut m, Msg::PromptCancel), vec![Effect::RunInput(Event::Abort)]);
    // Elsewhere, the keys are the panes' again.
    update(&mut m, Msg::Action(Action::Pane(Pane::Health)));
    assert!(!prompting(&m));
}

#[test]
fn an_interrupted_run_is_taken_over_by_typing_its_cluster() {
    let mut m = model();
    let mut run = waiting_run();
    run.lock = None;
    let key = (RUN_NAMESPACE.to_owned(), run.object_name());
    let hub = m.fleet.hub_id().unwrap();
    m.fleet.data_mut(hub).unwrap().put_run(key, std::sync::Arc::new(run));
    update(&mut m, Msg::Action(Action::Pane(Pane::Runs)));
    assert!(update(&mut m, Msg::Action(Action::ContinueRun)).is_empty());
    assert!(matches!(m.ui.run_prompt, Some(RunPrompt::TakeOver { .. })));
    m.ui.prompt = Input::new("edge-eu-1".into());
    assert_eq!(
        update(&mut m, Msg::PromptSubmit),
        vec![Effect::TakeRun { id: "20261201-100000-abc123".into(), first: Event::Begin }]
    );
    assert!(m.ui.run_prompt.is_none());
}

#[test]
fn a_report_of_the_end_clears_the_driven_run() {
    let mut m = model();
    update(&mut m, Msg::Run(RunReport::Run(Box::new(waiting_run()))));
    assert!(driven(&m).is_some());
    let mut done = waiting_run();
    done.state = RunState::Succeeded;
    done.updated_at = t(5);
    done.lock = None;
    update(&mut m, Msg::Run(RunReport::Ended(Box::new(done))));
    assert!(m.driving.is_none());
    assert_eq!(notice(&m), "register edge-eu-1: succeeded");
    let run = run_by_id(&m, "20261201-100000-abc123").unwrap();
    assert_eq!(run.state, RunState::Succeeded, "the newest record is kept");
}
