//! Tables of step kind × event → the step's next state and the effects asked for.

use super::*;
use crate::fleet::run::{ObjectRef, Session, Step, Verb, Workflow};
use serde_json::json;

fn t(secs: i64) -> Timestamp {
    "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap() + jiff::SignedDuration::from_secs(secs)
}

fn write(verb: Verb, kind: &str, name: &str) -> PlannedWrite {
    let body = match verb {
        Verb::Create => json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}),
        Verb::Patch => json!({"spec": {"prune": false}}),
        Verb::Delete => Value::Null,
    };
    PlannedWrite {
        context: "edge-eu-1".into(),
        verb,
        object: ObjectRef::new("v1", kind, &crate::fleet::run::plural_of(kind), "", name),
        body,
        fill: None,
        settle: None,
    }
}

fn run_of(steps: Vec<Step>) -> Run {
    let by = Session { user: "alice".into(), host: "laptop".into(), pid: 7, id: "s".into() };
    Run::new("r1", Workflow::Register, ("edge-eu-1", "edge-eu-1", "hub"), steps, by, t(0))
}

fn check(name: &str) -> Step {
    Step::new(name, StepSpec::Check { check: name.into() })
}

fn change_set(writes: Vec<PlannedWrite>) -> Step {
    Step::new("plan", StepSpec::ChangeSet { plan: String::new(), confirm: "edge-eu-1".into(), writes })
}

fn wait() -> Step {
    Step::new("ready", StepSpec::Wait { condition: "ready".into(), timeout_secs: 60 })
}

fn gate() -> Step {
    Step::new("attest", StepSpec::Gate { gate: Gate::Attest { item: "the on-call knows".into() } })
}

fn go(run: &mut Run, event: Event) -> Vec<Effect> {
    on(run, event, t(1), "alice@laptop").unwrap()
}

fn pass() -> Event {
    Event::Checked { verdict: Verdict::Pass, evidence: vec![], facts: BTreeMap::new() }
}

#[test]
fn each_step_kind_asks_for_its_effect_when_entered() {
    let cases: Vec<(Step, Vec<Effect>, StepState, RunState)> = vec![
        (
            check("reachable"),
            vec![Effect::Save, Effect::Check { step: 0, check: "reachable".into() }],
            StepState::Running,
            RunState::Running,
        ),
        (
            Step::new("plan", StepSpec::ChangeSet { plan: "register".into(), confirm: "x".into(), writes: vec![] }),
            vec![Effect::Save, Effect::Plan { step: 0, plan: "register".into() }],
            StepState::Running,
            RunState::Running,
        ),
        (
            change_set(vec![write(Verb::Create, "Namespace", "a")]),
            vec![Effect::Save, Effect::Preview { step: 0 }],
            StepState::Running,
            RunState::Running,
        ),
        (
            wait(),
            vec![Effect::Save, Effect::Watch { step: 0, condition: "ready".into(), deadline: t(61) }],
            StepState::Running,
            RunState::Running,
        ),
        (gate(), vec![Effect::Save], StepState::Waiting, RunState::Waiting),
    ];
    for (step, effects, step_state, run_state) in cases {
        let name = step.name.clone();
        let mut run = run_of(vec![step]);
        assert_eq!(go(&mut run, Event::Begin), effects, "{name}");
        assert_eq!(run.steps[0].state, step_state, "{name}");
        assert_eq!(run.state, run_state, "{name}");
    }
}

#[test]
fn a_check_passes_warns_or_fails_the_run() {
    let cases = [
        (Verdict::Pass, StepState::Passed, RunState::Running, 1),
        (Verdict::Warn, StepState::Warned, RunState::Running, 1),
        (Verdict::Fail, StepState::Failed, RunState::Failed, 0),
    ];
    for (verdict, step_state, run_state, current) in cases {
        let mut run = run_of(vec![check("a"), check("b")]);
        go(&mut run, Event::Begin);
        let evidence = vec![Evidence { verdict, text: "the version is v1.33.4".into() }];
        let facts = BTreeMap::from([("uid".to_owned(), "u-1".to_owned())]);
        let effects = go(&mut run, Event::Checked { verdict, evidence, facts });
        assert_eq!(run.steps[0].state, step_state, "{verdict:?}");
        assert_eq!(run.state, run_state, "{verdict:?}");
        assert_eq!(run.current, current, "{verdict:?}");
        if verdict == Verdict::Fail {
            assert_eq!(effects, vec![Effect::Save, Effect::Finish]);
            assert_eq!(run.steps[1].state, StepState::Skipped);
            assert!(run.outcome.contains("the version is v1.33.4"), "{}", run.outcome);
            assert!(run.lock.is_none(), "a finished run holds no lock");
        } else {
            assert_eq!(effects, vec![Effect::Save, Effect::Check { step: 1, check: "b".into() }]);
            assert_eq!(run.facts["uid"], "u-1", "facts are kept for later steps");
        }
    }
}

#[test]
fn a_change_set_is_planned_previewed_confirmed_and_written_in_order() {
    let mut run = run_of(vec![Step::new(
        "plan",
        StepSpec::ChangeSet { plan: "register".into(), confirm: "edge-eu-1".into(), writes: vec![] },
    )]);
    go(&mut run, Event::Begin);
    let planned = vec![write(Verb::Create, "Namespace", "a"), write(Verb::Patch, "Kustomization", "b")];
    assert_eq!(go(&mut run, Event::Planned(Ok(planned))), vec![Effect::Preview { step: 0 }]);
    assert_eq!(go(&mut run, Event::Previewed(Ok(vec!["+ Namespace a".into()]))), vec![Effect::Save]);
    assert_eq!((run.state, run.steps[0].state), (RunState::Waiting, StepState::Waiting));
    // The wrong name is refused and changes nothing.
    let refused = on(&mut run, Event::Typed("edge-eu-2".into()), t(1), "alice").unwrap_err();
    assert!(refused.0.contains("type edge-eu-1"), "{refused:?}");
    assert_eq!(run.state, RunState::Waiting);
    assert_eq!(go(&mut run, Event::Typed("edge-eu-1".into())), vec![Effect::Prepare { step: 0, write: 0 }]);
    assert_eq!(run.confirmations[0].text, "edge-eu-1");
    let prepared = Event::Prepared { write: 0, result: Ok(Prepared::Previous(Value::Null)) };
    assert_eq!(
        go(&mut run, prepared),
        vec![Effect::Save, Effect::Send { step: 0, write: 0, write_id: "r1-0-0".into() }],
        "the write is saved as sent before it is sent"
    );
    assert_eq!(run.steps[0].writes[0].state, WriteState::Sent);
    assert_eq!(
        go(&mut run, Event::Written { write: 0, result: Ok(()) }),
        vec![Effect::Save, Effect::Prepare { step: 0, write: 1 }]
    );
    let previous = json!({"spec": {"prune": true}});
    go(&mut run, Event::Prepared { write: 1, result: Ok(Prepared::Previous(previous.clone())) });
    assert_eq!(run.steps[0].writes[1].previous, previous, "what the patch replaced is recorded");
    assert_eq!(
        go(&mut run, Event::Written { write: 1, result: Ok(()) }),
        vec![Effect::Save, Effect::Save, Effect::Finish]
    );
    assert_eq!(run.state, RunState::Succeeded);
}

fn writing(writes: Vec<PlannedWrite>) -> Run {
    let mut run = run_of(vec![change_set(writes), check("after")]);
    go(&mut run, Event::Begin);
    go(&mut run, Event::Previewed(Ok(vec![])));
    go(&mut run, Event::Typed("edge-eu-1".into()));
    run
}

#[test]
fn a_conflict_is_retried_once_after_a_fresh_read_then_fails_the_run() {
    let mut run = writing(vec![write(Verb::Patch, "Kustomization", "a")]);
    let conflict = || Err(WriteError::Conflict { message: "the object has been modified".into() });
    go(&mut run, Event::Prepared { write: 0, result: Ok(Prepared::Previous(json!({}))) });
    assert_eq!(
        go(&mut run, Event::Written { write: 0, result: conflict() }),
        vec![Effect::Prepare { step: 0, write: 0 }]
    );
    let effects = go(&mut run, Event::Prepared { write: 0, result: Ok(Prepared::Previous(json!({}))) });
    assert_eq!(effects[1], Effect::Send { step: 0, write: 0, write_id: "r1-0-0-retry".into() });
    assert_eq!(go(&mut run, Event::Written { write: 0, result: conflict() }), vec![Effect::Save, Effect::Finish]);
    assert_eq!(run.state, RunState::Failed);
    assert!(run.outcome.contains("patch Kustomization a on edge-eu-1: conflict"), "{}", run.outcome);
}

#[test]
fn a_change_set_stops_at_its_first_failed_write_naming_the_object_and_why() {
    let mut run = writing(vec![write(Verb::Create, "ServiceAccount", "a"), write(Verb::Create, "Secret", "b")]);
    go(&mut run, Event::Prepared { write: 0, result: Ok(Prepared::Previous(Value::Null)) });
    let forbidden = WriteError::Forbidden {
        verb: "create".into(),
        resource: "serviceaccounts".into(),
        namespace: "kube-system".into(),
        message: "User \"viewer\" cannot create".into(),
    };
    assert_eq!(go(&mut run, Event::Written { write: 0, result: Err(forbidden) }), vec![Effect::Save, Effect::Finish]);
    assert_eq!(run.steps[0].writes[1].state, WriteState::Planned, "nothing after the failure is sent");
    assert_eq!(run.steps[1].state, StepState::Skipped);
    assert!(
        run.outcome.contains("create ServiceAccount a on edge-eu-1: forbidden: the credentials may not create serviceaccounts in kube-system"),
        "{}",
        run.outcome
    );
}

#[test]
fn a_wait_reports_progress_until_it_holds_or_times_out() {
    let mut run = run_of(vec![wait(), check("after")]);
    go(&mut run, Event::Begin);
    assert_eq!(go(&mut run, Event::Progress { text: "1/2 Ready".into(), held: false }), vec![]);
    assert_eq!(run.steps[0].progress, "1/2 Ready");
    let effects = go(&mut run, Event::Progress { text: "2/2 Ready".into(), held: true });
    assert_eq!(effects, vec![Effect::Save, Effect::Check { step: 1, check: "after".into() }]);
    assert_eq!(run.steps[0].state, StepState::Passed);

    let mut run = run_of(vec![wait()]);
    go(&mut run, Event::Begin);
    go(&mut run, Event::Progress { text: "1/2 Ready".into(), held: false });
    assert_eq!(go(&mut run, Event::TimedOut), vec![Effect::Save, Effect::Finish]);
    assert!(run.outcome.contains("timed out after 60 s: 1/2 Ready"), "{}", run.outcome);
}

#[test]
fn a_gate_needs_its_name_typed_or_a_note() {
    let mut run = run_of(vec![gate()]);
    go(&mut run, Event::Begin);
    assert!(on(&mut run, Event::Attested("  ".into()), t(1), "alice").is_err());
    assert!(on(&mut run, Event::Typed("x".into()), t(1), "alice").is_err(), "an attest gate takes a note");
    assert_eq!(go(&mut run, Event::Attested("paged the owners".into())), vec![Effect::Save, Effect::Finish]);
    assert_eq!(run.confirmations[0].text, "paged the owners");
    assert_eq!(run.state, RunState::Succeeded);

    let confirm = Step::new(
        "go",
        StepSpec::Gate { gate: Gate::Confirm { expected: "prod-1".into(), prompt: "type the cluster".into() } },
    );
    let mut run = run_of(vec![confirm]);
    go(&mut run, Event::Begin);
    assert!(on(&mut run, Event::Typed("prod-2".into()), t(1), "alice").is_err());
    go(&mut run, Event::Typed("prod-1".into()));
    assert_eq!(run.state, RunState::Succeeded);
}

#[test]
fn events_for_another_step_kind_are_refused() {
    let mut run = run_of(vec![check("a")]);
    go(&mut run, Event::Begin);
    for event in [Event::TimedOut, Event::Typed("edge-eu-1".into()), Event::Written { write: 0, result: Ok(()) }] {
        let before = run.clone();
        assert!(on(&mut run, event, t(1), "alice").is_err());
        assert_eq!(run.steps, before.steps);
    }
}

#[test]
fn abort_before_a_change_set_writes_nothing_and_is_refused_while_it_writes() {
    let mut run = run_of(vec![check("a"), change_set(vec![write(Verb::Create, "Namespace", "a")])]);
    go(&mut run, Event::Begin);
    go(&mut run, pass());
    go(&mut run, Event::Previewed(Ok(vec![])));
    assert_eq!(go(&mut run, Event::Abort), vec![Effect::Save, Effect::Finish]);
    assert_eq!(run.state, RunState::Aborted);
    assert!(run.applied().is_empty());
    assert!(!undoable(&run), "nothing was written, nothing to undo");

    let mut run = writing(vec![write(Verb::Create, "Namespace", "a")]);
    assert!(on(&mut run, Event::Abort, t(1), "alice").unwrap_err().0.contains("writing"));
}

fn interrupted_in(state: WriteState) -> Run {
    let mut run = writing(vec![write(Verb::Create, "Namespace", "a"), write(Verb::Create, "Namespace", "b")]);
    go(&mut run, Event::Prepared { write: 0, result: Ok(Prepared::Previous(Value::Null)) });
    go(&mut run, Event::Written { write: 0, result: Ok(()) });
    if state == WriteState::Sent {
        go(&mut run, Event::Prepared { write: 1, result: Ok(Prepared::Previous(Value::Null)) });
    }
    // What the hub holds when the process was killed: the last save.
    run.lock = None;
    run
}

#[test]
fn resume_re_reads_a_write_saved_as_sent_and_never_writes_twice() {
    let mut run = interrupted_in(WriteState::Sent);
    assert_eq!(go(&mut run, Event::Begin), vec![Effect::Save, Effect::Resolve { step: 0, write: 1 }]);
    // It landed before the kill: nothing is sent again, the next step follows.
    let effects = go(&mut run, Event::Resolved { write: 1, applied: true, evidence: "Namespace b exists".into() });
    assert_eq!(effects, vec![Effect::Save, Effect::Check { step: 1, check: "after".into() }]);
    assert!(run.steps[0].evidence.iter().any(|e| e.text.contains("Namespace b exists")));

    let mut run = interrupted_in(WriteState::Sent);
    go(&mut run, Event::Begin);
    let effects =
        go(&mut run, Event::Resolved { write: 1, applied: false, evidence: "Namespace b does not exist".into() });
    assert_eq!(effects, vec![Effect::Prepare { step: 0, write: 1 }], "not landed: written now, once");
}

#[test]
fn resume_at_each_step_kind_enters_the_step_again() {
    // A change set with its first write applied and the second never sent.
    let mut run = interrupted_in(WriteState::Planned);
    assert_eq!(go(&mut run, Event::Begin), vec![Effect::Save, Effect::Prepare { step: 0, write: 1 }]);
    // A change set previewed but not confirmed: previewed again, confirmed again.
    let mut run = run_of(vec![change_set(vec![write(Verb::Create, "Namespace", "a")])]);
    go(&mut run, Event::Begin);
    go(&mut run, Event::Previewed(Ok(vec![])));
    assert_eq!(go(&mut run, Event::Begin), vec![Effect::Save, Effect::Preview { step: 0 }]);
    // A check, a wait, a gate.
    for (step, first) in [
        (check("a"), Effect::Check { step: 0, check: "a".into() }),
        (wait(), Effect::Watch { step: 0, condition: "ready".into(), deadline: t(61) }),
    ] {
        let mut run = run_of(vec![step]);
        go(&mut run, Event::Begin);
        assert_eq!(go(&mut run, Event::Begin), vec![Effect::Save, first]);
    }
    let mut run = run_of(vec![gate()]);
    go(&mut run, Event::Begin);
    assert_eq!(go(&mut run, Event::Begin), vec![Effect::Save]);
    assert_eq!(run.state, RunState::Waiting);
    // A finished run is not begun again.
    let mut run = run_of(vec![check("a")]);
    go(&mut run, Event::Begin);
    go(&mut run, pass());
    assert!(on(&mut run, Event::Begin, t(2), "alice").is_err());
}

#[test]
fn undo_inverts_every_applied_write_newest_first() {
    let ns = write(Verb::Create, "Namespace", "a");
    let patch = write(Verb::Patch, "Kustomization", "k");
    let mut delete = write(Verb::Delete, "ServiceAccount", "sa");
    delete.object.namespace = "kube-system".into();
    let secret = write(Verb::Delete, "Secret", "token");
    let fails = write(Verb::Create, "Namespace", "z");
    let mut run = writing(vec![ns, patch, delete, secret, fails]);
    let previous = [
        Value::Null,
        json!({"spec": {"prune": true}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "kube-system"}}),
        Value::Null,
    ];
    for (w, previous) in previous.into_iter().enumerate() {
        go(&mut run, Event::Prepared { write: w, result: Ok(Prepared::Previous(previous)) });
        go(&mut run, Event::Written { write: w, result: Ok(()) });
    }
    go(&mut run, Event::Prepared { write: 4, result: Ok(Prepared::Previous(Value::Null)) });
    go(&mut run, Event::Written { write: 4, result: Err(WriteError::Invalid { message: "bad".into() }) });
    assert_eq!(run.state, RunState::Failed);
    assert!(undoable(&run));

    let effects = go(&mut run, Event::Undo);
    assert_eq!(effects, vec![Effect::Save, Effect::Preview { step: 2 }]);
    let undo = &run.steps[2];
    assert_eq!(undo.name, UNDO_STEP);
    let StepSpec::ChangeSet { writes, confirm, .. } = &undo.spec else { panic!("undo is a change set") };
    assert_eq!(confirm, "edge-eu-1");
    let got: Vec<(Verb, &str)> = writes.iter().map(|w| (w.verb, w.object.name.as_str())).collect();
    assert_eq!(got, vec![(Verb::Create, "sa"), (Verb::Patch, "k"), (Verb::Delete, "a")], "newest first");
    assert_eq!(writes[1].body, json!({"spec": {"prune": true}}));
    assert!(undo.evidence[0].text.contains("Secret token cannot be recreated: a Secret's data is never kept"));

    go(&mut run, Event::Previewed(Ok(vec![])));
    go(&mut run, Event::Typed("edge-eu-1".into()));
    for w in 0..3 {
        go(&mut run, Event::Prepared { write: w, result: Ok(Prepared::Previous(Value::Null)) });
        go(&mut run, Event::Written { write: w, result: Ok(()) });
    }
    assert_eq!(run.state, RunState::Undone);
    assert!(on(&mut run, Event::Undo, t(3), "alice").is_err(), "an undone run is not undone twice");
}

#[test]
fn a_restoring_patch_puts_back_the_patched_fields_only() {
    let before = json!({"spec": {"prune": true, "interval": "10m"}, "metadata": {"labels": {"a": "1"}}});
    let patch = json!({"spec": {"prune": false, "suspend": true}, "metadata": {"labels": {"b": "2"}}});
    let restore = restoring_patch(&patch, &before);
    assert_eq!(restore, json!({"spec": {"prune": true, "suspend": null}, "metadata": {"labels": {"b": null}}}));
    let after = json!({"spec": {"prune": false, "suspend": true, "interval": "10m"}, "metadata": {"labels": {"a": "1", "b": "2"}}});
    assert!(shows_patch(&patch, &after));
    assert!(!shows_patch(&patch, &before));
    assert!(shows_patch(&restore, &before));
}

#[test]
fn a_recreated_object_carries_no_server_fields() {
    let read = json!({"apiVersion": "v1", "kind": "ServiceAccount", "status": {},
        "metadata": {"name": "sa", "uid": "u", "resourceVersion": "9", "creationTimestamp": "x", "managedFields": [], "labels": {"a": "b"}}});
    assert_eq!(
        recreatable(&read),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "labels": {"a": "b"}}})
    );
}

fn holding(mut step: Step, overridable: bool) -> Step {
    step.hold = true;
    step.overridable = overridable;
    step
}

fn fail_check() -> Event {
    Event::Checked {
        verdict: Verdict::Fail,
        evidence: vec![Evidence { verdict: Verdict::Fail, text: "no staging run succeeded".into() }],
        facts: BTreeMap::new(),
    }
}

#[test]
fn a_step_that_holds_waits_on_failure_for_retry_override_or_abort() {
    let mut run = run_of(vec![holding(check("staging-first"), true), check("next")]);
    go(&mut run, Event::Begin);
    assert_eq!(go(&mut run, fail_check()), vec![Effect::Save]);
    assert_eq!((run.state, run.steps[0].state), (RunState::Waiting, StepState::Failed));
    assert!(run.held() && run.outcome.contains("no staging run succeeded"));
    // Retry: the check runs again, its old evidence gone.
    assert_eq!(
        go(&mut run, Event::Retry),
        vec![Effect::Save, Effect::Check { step: 0, check: "staging-first".into() }]
    );
    assert!(run.steps[0].evidence.is_empty() && run.outcome.is_empty());
    go(&mut run, fail_check());
    // An override needs a reason, and is recorded with the failure it went past.
    assert!(on(&mut run, Event::Override("  ".into()), t(2), "bob@desk").is_err());
    let effects = on(&mut run, Event::Override("change ticket CHG-42".into()), t(2), "bob@desk").unwrap();
    assert_eq!(effects, vec![Effect::Save, Effect::Check { step: 1, check: "next".into() }]);
    assert_eq!(run.steps[0].state, StepState::Warned);
    let o = &run.overrides[0];
    assert_eq!((o.step, o.reason.as_str(), o.by.as_str()), (0, "change ticket CHG-42", "bob@desk"));
    assert!(o.failure.contains("no staging run succeeded"));
    assert!(run.steps[0].evidence.iter().any(|e| e.text == "overridden by bob@desk: change ticket CHG-42"));
}

#[test]
fn a_held_failure_that_may_not_be_overridden_is_retried_or_aborted_and_keeps_its_state() {
    let mut run = run_of(vec![holding(check("workloads"), false), check("next")]);
    go(&mut run, Event::Begin);
    go(&mut run, fail_check());
    let refused = on(&mut run, Event::Override("it is fine".into()), t(2), "bob").unwrap_err();
    assert!(refused.0.contains("may not be overridden"), "{refused:?}");
    assert_eq!(go(&mut run, Event::Abort), vec![Effect::Save, Effect::Finish]);
    assert_eq!(
        (run.state, run.steps[0].state, run.steps[1].state),
        (RunState::Aborted, StepState::Failed, StepState::Skipped)
    );
    // Without a hold the same failure ends the run, and retry no longer applies.
    let mut plain = run_of(vec![check("workloads")]);
    go(&mut plain, Event::Begin);
    assert_eq!(go(&mut plain, fail_check()), vec![Effect::Save, Effect::Finish]);
    assert!(on(&mut plain, Event::Retry, t(2), "bob").is_err());
}

#[test]
fn a_wait_that_breaks_fails_at_once_and_a_held_one_is_watched_again_on_retry() {
    let mut run = run_of(vec![holding(wait(), true)]);
    go(&mut run, Event::Begin);
    assert_eq!(go(&mut run, Event::Broke("PartiallyFailed: 2 errors, 1 warning".into())), vec![Effect::Save]);
    assert!(run.held() && run.outcome.contains("PartiallyFailed"));
    let effects = on(&mut run, Event::Retry, t(30), "alice").unwrap();
    assert_eq!(effects, vec![Effect::Save, Effect::Watch { step: 0, condition: "ready".into(), deadline: t(90) }]);
}

#[test]
fn a_held_change_set_retries_its_failed_write_only_and_a_held_run_may_be_undone() {
    let a = write(Verb::Create, "Namespace", "a");
    let b = write(Verb::Create, "Namespace", "b");
    let mut run = writing(vec![a, b]);
    run.steps[0].hold = true;
    go(&mut run, Event::Prepared { write: 0, result: Ok(Prepared::Previous(Value::Null)) });
    go(&mut run, Event::Written { write: 0, result: Ok(()) });
    go(&mut run, Event::Prepared { write: 1, result: Ok(Prepared::Previous(Value::Null)) });
    let denied = WriteError::Invalid { message: "denied".into() };
    assert_eq!(go(&mut run, Event::Written { write: 1, result: Err(denied) }), vec![Effect::Save]);
    assert!(run.held() && undoable(&run));
    assert_eq!(go(&mut run, Event::Retry), vec![Effect::Save, Effect::Prepare { step: 0, write: 1 }]);
    assert_eq!(run.steps[0].writes[0].state, WriteState::Applied);
    go(&mut run, Event::Prepared { write: 1, result: Ok(Prepared::Previous(Value::Null)) });
    go(&mut run, Event::Written { write: 1, result: Err(WriteError::Invalid { message: "denied".into() }) });
    go(&mut run, Event::Undo);
    let undo = run.steps.last().unwrap();
    assert_eq!(undo.name, UNDO_STEP);
    match &undo.spec {
        StepSpec::ChangeSet { writes, .. } => {
            assert_eq!(
                writes.iter().map(|w| (w.verb, w.object.name.as_str())).collect::<Vec<_>>(),
                vec![(Verb::Delete, "a")]
            );
        }
        other => panic!("{other:?}"),
    }
}
