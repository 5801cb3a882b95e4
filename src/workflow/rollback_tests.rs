//! The rollback's plans from fixture runs: the inverse writes in order, the per-spoke
//! pin, the release; its judgments.

use serde_json::json;

use super::*;
use crate::fleet::run::{
    Confirmation, ObjectRef, PlannedWrite, RunState, Session, StepState, Verb, Verdict, WriteRecord, WriteState,
};
use crate::fleet::summary::{PINNED_FROM, PINNED_REVISION, SUSPENDED_REASON};

fn t(secs: i64) -> Timestamp {
    "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap() + jiff::SignedDuration::from_secs(secs)
}

fn by() -> Session {
    Session { user: "alice".into(), host: "laptop".into(), pid: 7, id: "s".into() }
}

fn rollback_run(target: &str, facts_: &[(&str, String)]) -> Run {
    let mut run = Run::new(
        "rb1",
        Workflow::Rollback,
        ("production-eu-1", "production-eu-1", "hub"),
        rollback_steps("production-eu-1", target, &Settings::default()),
        by(),
        t(0),
    );
    run.facts.insert(facts::TARGET.into(), target.into());
    for (k, v) in facts_ {
        run.facts.insert((*k).into(), v.clone());
    }
    run
}

fn write(context: &str, verb: Verb, kind: &str, ns: &str, name: &str, body: Value) -> PlannedWrite {
    let api = if kind == "Kustomization" { "kustomize.toolkit.fluxcd.io/v1" } else { "v1" };
    PlannedWrite {
        context: context.into(),
        verb,
        object: ObjectRef::new(api, kind, &crate::fleet::run::plural_of(kind), ns, name),
        body,
        fill: None,
        settle: None,
    }
}

/// A finished run of `workflow` that applied `writes` (with what patches replaced).
fn applied_run(id: &str, workflow: Workflow, at: i64, writes: Vec<(PlannedWrite, Value)>) -> Run {
    let planned: Vec<PlannedWrite> = writes.iter().map(|(w, _)| w.clone()).collect();
    let mut step =
        Step::new("write", StepSpec::ChangeSet { plan: String::new(), confirm: "x".into(), writes: planned });
    step.state = StepState::Passed;
    step.writes = writes
        .into_iter()
        .enumerate()
        .map(|(i, (_, previous))| WriteRecord {
            state: WriteState::Applied,
            write_id: format!("{id}-{i}"),
            previous,
            ..WriteRecord::default()
        })
        .collect();
    let mut run = Run::new(id, workflow, ("production-eu-1", "production-eu-1", "hub"), vec![step], by(), t(at));
    run.state = RunState::Succeeded;
    run
}

#[test]
fn undo_reverts_the_runs_newest_first_and_stops_pruning_before_a_kustomization_goes() {
    let ks = |name: &str| json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": name}});
    let register = applied_run(
        "reg",
        Workflow::Register,
        10,
        vec![
            (
                write("production-eu-1", Verb::Create, "ServiceAccount", "kube-system", "fleetdeck-hub", json!({})),
                Value::Null,
            ),
            (write("hub", Verb::Create, "Kustomization", "production-eu-1", "policies", ks("policies")), Value::Null),
            (
                write(
                    "hub",
                    Verb::Patch,
                    "ConfigMap",
                    "production-eu-1",
                    "settings",
                    json!({"data": {"tier": "prod"}}),
                ),
                json!({"data": {"tier": null}}),
            ),
        ],
    );
    let later = applied_run(
        "mig",
        Workflow::Migrate,
        100,
        vec![(write("production-eu-1", Verb::Create, "Backup", "velero", "pre", json!({})), Value::Null)],
    );
    let runs = vec![register, later];
    let undo = runs_to_undo("production-eu-1", &runs);
    assert_eq!(undo.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["mig", "reg"], "newest run first");
    let (writes, notes) = plan_undo(&undo);
    let got: Vec<String> = writes.iter().map(|w| format!("{} {}", w.verb.name(), w.object.label())).collect();
    assert_eq!(
        got,
        [
            "delete Backup velero/pre",
            "patch ConfigMap production-eu-1/settings",
            "patch Kustomization production-eu-1/policies",
            "delete Kustomization production-eu-1/policies",
            "delete ServiceAccount kube-system/fleetdeck-hub",
        ]
    );
    assert_eq!(writes[1].body, json!({"data": {"tier": null}}), "a patch is undone by the fields it replaced");
    assert_eq!(writes[2].body, json!({"spec": {"prune": false}}), "prune off before the delete");
    assert!(notes.is_empty());
    // A run undone already, or of another cluster, is not undone again.
    let mut undone = runs[0].clone();
    undone.state = RunState::Undone;
    assert!(runs_to_undo("production-eu-1", &[undone]).is_empty());
    assert!(runs_to_undo("staging-eu-1", &runs).is_empty());
}

fn pin(kind: &str, source: &str, revision: &str, spec: Value) -> PinPlan {
    PinPlan {
        kustomization: if kind == "GitRepository" { "policies".into() } else { "config".into() },
        source: (kind.into(), "flux-system".into(), source.into()),
        spec,
        revision: revision.into(),
    }
}

#[test]
fn a_bad_revision_is_reverted_by_a_per_spoke_pinned_source() {
    let sha = "4507a1b2c3d4e5f60718293a4b5c6d7e8f901234";
    let git = json!({"url": "https://git.example/fleet-policies", "interval": "1m0s",
                     "ref": {"branch": "main"}, "secretRef": {"name": "fleet-policies-auth"}, "suspend": false});
    let oci = json!({"url": "oci://registry.example/platform-config", "ref": {"semver": ">=1.4.0"}});
    let pins = vec![
        pin("GitRepository", "fleet-policies", &format!("main@sha1:{sha}"), git),
        pin("OCIRepository", "platform-config", "v1.4.2@sha256:abcd", oci),
    ];
    let run = rollback_run("revision", &[(facts::PINS, serde_json::to_string(&pins).unwrap())]);
    let writes = plan_pin(&run).unwrap();
    let got: Vec<String> = writes.iter().map(|w| format!("{} {}", w.verb.name(), w.object.label())).collect();
    assert_eq!(
        got,
        [
            "create GitRepository flux-system/fleet-policies-pin-production-eu-1",
            "patch Kustomization production-eu-1/policies",
            "create OCIRepository flux-system/platform-config-pin-production-eu-1",
            "patch Kustomization production-eu-1/config",
        ]
    );
    assert!(writes.iter().all(|w| w.context == "hub"), "everything on the hub: the spoke is not touched");
    let copy = &writes[0].body;
    assert_eq!(copy["spec"]["ref"], json!({"commit": sha, "branch": "main"}), "commit wins over the branch");
    assert_eq!(copy["spec"]["secretRef"], json!({"name": "fleet-policies-auth"}), "the source's credentials, at hand");
    assert_eq!(copy["spec"].get("suspend"), None);
    assert_eq!(copy["metadata"]["annotations"][PINNED_FROM], "GitRepository/flux-system/fleet-policies");
    assert_eq!(writes[2].body["spec"]["ref"], json!({"digest": "sha256:abcd"}));
    let patch = &writes[1].body;
    assert_eq!(
        patch["spec"],
        json!({"sourceRef": {"kind": "GitRepository", "name": "fleet-policies-pin-production-eu-1", "namespace": "flux-system"}, "suspend": false})
    );
    assert_eq!(patch["metadata"]["annotations"][PINNED_REVISION], format!("main@sha1:{sha}"));
    assert_eq!(patch["metadata"]["annotations"][SUSPENDED_REASON], Value::Null, "resumed: the reason goes");
    // A revision with no commit or digest cannot be pinned.
    let bad = vec![pin("GitRepository", "fleet-policies", "main", json!({}))];
    let run = rollback_run("revision", &[(facts::PINS, serde_json::to_string(&bad).unwrap())]);
    assert!(plan_pin(&run).unwrap_err().contains("cannot pin to \"main\""));
    let none = rollback_run("revision", &[(facts::PINS, "[]".into())]);
    assert!(plan_pin(&none).is_err());
    // One with no earlier revision is resumed as it is, beside the one pinned.
    let mut mixed = pins.clone();
    mixed[1].revision.clear();
    let run = rollback_run("revision", &[(facts::PINS, serde_json::to_string(&mixed).unwrap())]);
    let writes = plan_pin(&run).unwrap();
    assert_eq!(writes.len(), 3);
    assert_eq!(
        writes[2].body,
        json!({"metadata": {"annotations": {SUSPENDED_REASON: null}}, "spec": {"suspend": false}})
    );
}

#[test]
fn the_release_points_back_at_the_shared_source_then_removes_the_copy() {
    let releases = vec![Release {
        kustomization: "policies".into(),
        from: "GitRepository/flux-system/fleet-policies".into(),
        copy: ("GitRepository".into(), "flux-system".into(), "fleet-policies-pin-production-eu-1".into()),
    }];
    let mut run = Run::new(
        "rel",
        Workflow::Release,
        ("production-eu-1", "production-eu-1", "hub"),
        release_steps("production-eu-1", &Settings::default()),
        by(),
        t(0),
    );
    run.facts.insert("releases".into(), serde_json::to_string(&releases).unwrap());
    let writes = plan_release(&run).unwrap();
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[0].verb, Verb::Patch);
    assert_eq!(writes[0].body["spec"]["sourceRef"]["name"], "fleet-policies");
    assert_eq!(writes[0].body["metadata"]["annotations"][PINNED_FROM], Value::Null);
    assert_eq!(writes[1].label(), "delete GitRepository flux-system/fleet-policies-pin-production-eu-1 on hub");
}

#[test]
fn suspend_records_who_and_why_from_the_incident_attested() {
    let mut run = rollback_run("revision", &[(facts::KUSTOMIZATIONS, r#"["config","policies"]"#.into())]);
    let gate = run.steps.iter().position(|s| matches!(s.spec, StepSpec::Gate { .. })).unwrap();
    run.confirmations.push(Confirmation {
        step: gate,
        text: "INC-4711 payments down after the policies rollout".into(),
        by: "alice@laptop".into(),
        at: t(5),
    });
    assert_eq!(incident_of(&run), ("INC-4711".into(), "payments down after the policies rollout".into()));
    let writes = plan_suspend(&run).unwrap();
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[1].object.label(), "Kustomization production-eu-1/policies");
    assert_eq!(writes[1].body["spec"]["suspend"], true);
    let reason = writes[1].body["metadata"]["annotations"][SUSPENDED_REASON].as_str().unwrap();
    assert_eq!(reason, "INC-4711: payments down after the policies rollout (by alice@laptop, rollback rb1)");
    let alert = alert(&run, t(6));
    assert_eq!(alert[0]["labels"]["cluster"], "production-eu-1");
    assert_eq!(alert[0]["labels"]["run"], "rb1");
    assert_eq!(alert[0]["labels"]["trigger"], "manual");
    assert_eq!(alert[0]["annotations"]["incident"], "INC-4711");
    let body = webhook_body(&run, t(6));
    assert_eq!((body["event"].as_str(), body["incident"].as_str()), (Some("rollback-started"), Some("INC-4711")));
}

#[test]
fn the_restore_updates_what_exists_in_the_recorded_namespaces() {
    let run = rollback_run(
        "revision",
        &[(facts::BACKUP, "daily-20261201".into()), (facts::NAMESPACES, r#"["payments","shop"]"#.into())],
    );
    let writes = plan_restore(&run).unwrap();
    let spec = &writes[0].body["spec"];
    assert_eq!(spec["existingResourcePolicy"], "update", "none would skip every object that still exists");
    assert_eq!(spec["backupName"], "daily-20261201");
    assert_eq!(spec["includedNamespaces"], json!(["payments", "shop"]));
    assert_eq!(writes[0].context, "production-eu-1");
    assert_eq!(
        restore_namespaces(["kube-system", "payments", "velero", "flux-system", "payments", "shop"].map(String::from)),
        ["payments", "shop"]
    );
}

#[test]
fn backups_and_restores_are_judged_by_their_phases() {
    let backup = |name: &str, phase: &str, at: &str| json!({"metadata": {"name": name}, "status": {"phase": phase, "completionTimestamp": at}});
    let backups = [
        backup("old", "Completed", "2026-12-01T08:00:00Z"),
        backup("partial", "PartiallyFailed", "2026-12-01T09:30:00Z"),
        backup("newest", "Completed", "2026-12-01T09:00:00Z"),
        backup("after", "Completed", "2026-12-01T10:30:00Z"),
        backup("failed", "Failed", "2026-12-01T09:45:00Z"),
    ];
    let (chosen, lines) = choose_backup(&backups, Some(t(0)));
    assert_eq!(chosen.as_deref(), Some("newest"), "Completed and before the trigger, newest first");
    assert_eq!(lines.len(), 3);
    assert!(lines[2].text.contains("partial") && lines[2].verdict == Verdict::Warn);
    assert_eq!(choose_backup(&backups[4..], None).0, None);
    let restore = |phase: &str| json!({"status": {"phase": phase, "warnings": 2, "errors": 1, "progress": {"totalItems": 9, "itemsRestored": 8}}});
    use super::super::migrate::Reading;
    assert!(matches!(restore_reading("r", &restore("InProgress")), Reading::Pending(t) if t.contains("8 of 9")));
    assert!(
        matches!(restore_reading("r", &restore("Completed")), Reading::Held(t) if t.contains("2 warnings, 1 errors"))
    );
    assert!(
        matches!(restore_reading("r", &restore("PartiallyFailed")), Reading::Broke(t) if t.contains("velero restore describe r --details"))
    );
}

#[test]
fn the_last_good_revision_is_the_newest_other_that_reconciled() {
    let ks = json!({"status": {"lastAppliedRevision": "main@sha1:bad", "history": [
        {"metadata": {"revision": "main@sha1:bad"}, "lastReconciledStatus": "ReconciliationSucceeded"},
        {"metadata": {"revision": "main@sha1:broken"}, "lastReconciledStatus": "HealthCheckFailed"},
        {"metadata": {"revision": "main@sha1:good"}, "lastReconciledStatus": "ReconciliationSucceeded"},
    ]}});
    assert_eq!(last_good_revision(&ks).as_deref(), Some("main@sha1:good"));
    assert_eq!(last_good_revision(&json!({"status": {}})), None, "no history: nothing to return to");
    assert_eq!(pinned_name("fleet-policies", &"x".repeat(60)).len(), 63);
}

#[test]
fn recovery_is_confirmed_after_staying_healthy_and_timed_from_the_trigger() {
    let minute = Duration::from_secs(60);
    let (text, done, since) = recovery(Ok(()), None, t(100), minute);
    assert_eq!((done, since), (false, Some(t(100))));
    assert_eq!(text, "healthy for 0s of 1m");
    let (_, done, _) = recovery(Ok(()), since, t(130), minute);
    assert!(!done);
    let (text, done, _) = recovery(Ok(()), since, t(160), minute);
    assert!(done, "{text}");
    let (text, done, since) = recovery(Err("2 workloads not ready".into()), since, t(170), minute);
    assert_eq!((text.as_str(), done, since), ("not healthy yet: 2 workloads not ready", false, None), "starts over");
    let mut run = rollback_run("revision", &[]);
    assert_eq!(time_to_recovery(&run, t(300)), Duration::from_secs(300), "from the run's start");
    run.facts.insert(facts::TRIGGERED_AT.into(), t(-120).to_string());
    assert_eq!(time_to_recovery(&run, t(300)), Duration::from_secs(420), "from the trigger's firing");
}

#[test]
fn the_steps_hold_on_failure_and_a_pin_waits_for_its_revision() {
    let undo = rollback_steps("c", "undo", &Settings::default());
    let revision = rollback_steps("c", "revision", &Settings::default());
    assert_eq!(revision.len(), undo.len() + 1, "the pin waits for the pinned revision");
    assert!(revision.iter().all(|s| s.hold), "a failed step holds: retry, override or abort");
    let overridable: Vec<&str> = revision.iter().filter(|s| s.overridable).map(|s| s.name.as_str()).collect();
    assert_eq!(overridable.len(), 2, "{overridable:?}");
    let phases: Vec<&str> = revision.iter().map(|s| s.phase.as_str()).collect();
    assert_eq!(phases.iter().filter(|p| **p == IMMEDIATE).count(), 4);
    assert_eq!(phases.last(), Some(&VERIFICATION));
}
