//! Registration and unregistration carried out by the runner against the simulated fleet:
//! the preflight, the change set with its confirmation, the waits, the record on the hub,
//! and resume after an interruption without writing twice.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use fleetdeck::cluster::runbook::{Blocked, RunSettings, Runner, Update, list_runs};
use fleetdeck::cluster::write::{WriteAccess, Writer};
use fleetdeck::fleet::run::{Run, RunState, StepSpec, StepState, Workflow};
use fleetdeck::sim::{Access, Fleet, Scenario};
use fleetdeck::workflow::runbook::Event;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use tokio::sync::mpsc;

async fn fleet_with_candidate() -> Fleet {
    let mut scenario = Scenario::builtin("healthy");
    scenario.fleet.candidates = 1;
    common::live_fleet(2, scenario).await
}

/// A runner on the fleet's contexts: admin on all, except `view_only` ones.
async fn runner(fleet: &Fleet, view_only: &[&str], journal: fleetdeck::journal::Journal) -> Arc<Runner> {
    let read_only = common::contexts_of(fleet, Access::ReadOnly).await;
    let contexts: Vec<_> = common::contexts_of(fleet, Access::Admin)
        .await
        .into_iter()
        .map(|c| match read_only.iter().find(|r| r.name == c.name && view_only.contains(&c.name.as_str())) {
            Some(r) => r.clone(),
            None => c,
        })
        .collect();
    let writer = Writer::new(WriteAccess::operator_session(), &contexts, Duration::from_secs(5), journal);
    let settings = RunSettings { poll: Duration::from_millis(200), ..RunSettings::default() };
    Arc::new(Runner::new(Arc::new(writer), settings))
}

/// Drives a run, typing `confirm` at every change set, until it ends; every state seen.
async fn drive_to_end(runner: Arc<Runner>, run: Run, rv: String, confirm: &str) -> (Run, Vec<Run>) {
    drive_until(runner, run, rv, confirm, |_| false).await
}

/// Drives a run until it ends, or until `kill` says so of a state: then the driving task
/// is dropped where it stands, as a killed process leaves it.
async fn drive_until(
    runner: Arc<Runner>,
    run: Run,
    rv: String,
    confirm: &str,
    kill: impl Fn(&Run) -> bool,
) -> (Run, Vec<Run>) {
    let (tx, rx) = mpsc::channel(8);
    let (out, mut updates) = mpsc::channel(64);
    let task = tokio::spawn(runner.drive(run, rv, Event::Begin, rx, out));
    let mut seen = Vec::new();
    let mut typed = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let update =
            tokio::time::timeout_at(deadline, updates.recv()).await.expect("the run ends in time").expect("updates");
        match update {
            Update::Run(r) => {
                let at = r.step().map(|s| (&s.spec, s.state));
                let waiting = matches!(at, Some((StepSpec::ChangeSet { .. }, StepState::Waiting)));
                if r.state == RunState::Waiting && waiting && typed.insert(r.current) {
                    tx.send(Event::Typed(confirm.to_owned())).await.unwrap();
                }
                if kill(&r) {
                    task.abort();
                    return (*r, seen);
                }
                seen.push(*r);
            }
            Update::Ended(r) => return (*r, seen),
            Update::Refused(why) => panic!("refused: {why}"),
            Update::Lost(why) => panic!("lost: {why}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_in_its_change_set_resumes_without_writing_anything_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut scenario = Scenario::builtin("healthy");
    scenario.fleet.candidates = 1;
    let fleet = Fleet::start(fleetdeck::sim::SimOptions {
        spokes: Some(1),
        scenario,
        audit_dir: Some(dir.path().to_owned()),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_journal_dir, journal) = common::temp_journal();
    let contexts = common::contexts_of(&fleet, Access::Admin).await;
    let writer =
        Arc::new(Writer::new(WriteAccess::operator_session(), &contexts, Duration::from_secs(5), journal.clone()));
    let settings =
        RunSettings { poll: Duration::from_millis(200), lock_ttl: Duration::from_secs(1), ..RunSettings::default() };
    let first = Arc::new(Runner::new(writer.clone(), settings.clone()));
    let (run, rv) =
        first.start(Workflow::Register, "edge-eu-1", "edge-eu-1", Default::default()).await.expect("starts");
    let id = run.id.clone();
    // Killed once the spoke's three objects are written, in the middle of the change set.
    let in_the_middle = |r: &Run| {
        r.current == 5
            && r.steps[5].writes.iter().filter(|w| w.state == fleetdeck::fleet::run::WriteState::Applied).count() >= 3
    };
    let (at_kill, _) = drive_until(first.clone(), run, rv, "edge-eu-1", in_the_middle).await;
    assert_eq!(at_kill.current, 5);

    // Another session sees it interrupted once the lock is stale, and takes it over.
    let second = Arc::new(Runner::new(writer, settings));
    let blocked = second.start(Workflow::Register, "edge-eu-1", "edge-eu-1", Default::default()).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let blocked = match blocked {
        Err(Blocked::Busy(_)) => {
            second.start(Workflow::Register, "edge-eu-1", "edge-eu-1", Default::default()).await.unwrap_err()
        }
        other => other.unwrap_err(),
    };
    assert!(matches!(&blocked, Blocked::Interrupted(r) if r.id == id), "{blocked:?}");
    assert!(blocked.describe().contains("interrupted register run"), "{}", blocked.describe());
    let (run, rv) = second.take(&id).await.expect("taken over");
    assert_eq!(run.lock.as_ref().unwrap().holder.id, second.session().id);
    let (run, _) = drive_to_end(second, run, rv, "edge-eu-1").await;
    assert_eq!(run.state, RunState::Succeeded, "{}", run.outcome);

    let mut created = common::creates(&dir.path().join("edge-eu-1.log"));
    created.extend(common::creates(&dir.path().join("hub.log")));
    created.sort();
    let mut unique = created.clone();
    unique.dedup();
    assert_eq!(created, unique, "every object is created once");
    for object in
        ["serviceaccounts/fleetdeck-hub", "secrets/cluster-kubeconfig", "kustomizations/config", "namespaces/edge-eu-1"]
    {
        assert!(created.iter().any(|c| c == object), "{object} in {created:?}");
    }
    assert!(journal.interrupted().unwrap().is_empty(), "every intent has its outcome");
}

fn ks_api(client: kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    );
    Api::namespaced_with(client, ns, &ar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_is_registered_verified_and_recorded_on_the_hub() {
    let fleet = fleet_with_candidate().await;
    let (_dir, journal) = common::temp_journal();
    let runner = runner(&fleet, &[], journal.clone()).await;
    let (run, rv) =
        runner.start(Workflow::Register, "edge-eu-1", "edge-eu-1", Default::default()).await.expect("starts");
    let (run, seen) = drive_to_end(runner.clone(), run, rv, "edge-eu-1").await;
    assert_eq!(run.state, RunState::Succeeded, "{}\n{:#?}", run.outcome, run.steps);
    assert!(run.lock.is_none());
    // The preview was shown before anything was written, with the Secret redacted.
    let previewed = seen.iter().find(|r| r.state == RunState::Waiting).expect("a preview");
    let preview = &previewed.step().unwrap().preview;
    assert!(preview.iter().any(|l| l.contains("create Secret edge-eu-1/cluster-kubeconfig")), "{preview:#?}");
    assert!(
        previewed.steps.iter().all(|s| s.writes.iter().all(|w| w.write_id.is_empty())),
        "nothing sent before confirming"
    );
    // The hub's Kustomizations for the spoke are Ready; the join is by the cluster UID.
    let hub = common::admin(&fleet, "hub").await;
    let list = ks_api(hub.clone(), "edge-eu-1").list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 2);
    let joined = &run.steps.last().unwrap().evidence[0].text;
    assert!(joined.contains("joins it as the spoke edge-eu-1"), "{joined}");
    let ready = &run.steps[6].evidence[0].text;
    assert!(ready.contains("the first revision took"), "{ready}");
    // The record on the hub says the same, and holds no Secret value.
    let runs = list_runs(hub.clone(), Duration::from_secs(5)).await.unwrap();
    let (stored, _) = runs.iter().find(|(r, _)| r.id == run.id).expect("stored");
    assert_eq!(stored.state, RunState::Succeeded);
    let cm: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(hub.clone(), "fleetdeck-system");
    let raw = serde_json::to_string(&cm.get(&run.object_name()).await.unwrap()).unwrap();
    assert!(!raw.contains("\"token\""), "no token in the run record");
    // Every write is journaled, intent and outcome.
    let entries = journal.entries().unwrap();
    assert_eq!(entries.len(), 14, "7 writes, an intent and an outcome each");
    assert!(entries.iter().all(|e| e.action.starts_with("register: ")));
    // The admission policy arrived with the policies Kustomization: a privileged
    // Deployment is denied now.
    let denied = privileged(&fleet).await.expect_err("denied once the policies are applied");
    assert!(denied.to_string().contains("disallow-privileged-containers"), "{denied}");

    // A second registration of the same cluster under another name fails its identity
    // check; the first is now a spoke, its name taken.
    let (again, rv) =
        runner.start(Workflow::Register, "edge-eu-1", "edge-eu-1", Default::default()).await.expect("starts");
    let (again, _) = drive_to_end(runner.clone(), again, rv, "edge-eu-1").await;
    assert_eq!(again.state, RunState::Failed);
    assert!(
        again.outcome.contains("the name is taken") || again.outcome.contains("namespace edge-eu-1"),
        "{}",
        again.outcome
    );
}

/// Creates a privileged Deployment on the candidate (dry run).
async fn privileged(fleet: &Fleet) -> Result<(), kube::Error> {
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(common::admin(fleet, "edge-eu-1").await, "default");
    let d: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": true}}]}}}}))
    .unwrap();
    api.create(&kube::api::PostParams { dry_run: true, ..Default::default() }, &d).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_only_credentials_stop_in_preflight_with_nothing_written() {
    let fleet = fleet_with_candidate().await;
    privileged(&fleet).await.expect("a candidate has no admission policy yet");
    let (_dir, journal) = common::temp_journal();
    let runner = runner(&fleet, &["edge-eu-1"], journal.clone()).await;
    let (run, rv) =
        runner.start(Workflow::Register, "edge-eu-1", "edge-eu-1", Default::default()).await.expect("starts");
    let (run, _) = drive_to_end(runner.clone(), run, rv, "edge-eu-1").await;
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(run.current, 4, "the access check fails: {}", run.outcome);
    assert!(run.outcome.contains("edge-eu-1: may not create serviceaccounts in kube-system"), "{}", run.outcome);
    assert!(run.steps[5..].iter().all(|s| s.state == StepState::Skipped));
    assert!(journal.entries().unwrap().is_empty(), "nothing journaled, nothing written");

    // A view-only hub cannot even store the run.
    let runner = self::runner(&fleet, &["hub"], journal.clone()).await;
    let blocked = runner.start(Workflow::Register, "edge-eu-1", "edge-eu-1", Default::default()).await.unwrap_err();
    assert!(matches!(&blocked, Blocked::Failed(e) if e.contains("cannot store the run")), "{blocked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_chain_is_read_for_a_kubeconfig_that_names_no_ca() {
    let fleet = common::still_fleet(1).await;
    let server =
        common::contexts_of(&fleet, Access::Admin).await.into_iter().find(|c| c.name == "staging-eu-1").unwrap().server;
    let chain = fleetdeck::cluster::chain::of(&server, Duration::from_secs(5)).await.expect("the chain");
    assert!(!chain.is_empty());
    let err = fleetdeck::cluster::chain::of("https://127.0.0.1:1", Duration::from_secs(5)).await.unwrap_err();
    assert!(err.contains("TLS handshake with 127.0.0.1:1"), "{err}");
    // A kubeconfig for a server under a CA the system trusts names none.
    let kc: serde_json::Value =
        serde_json::from_str(&fleetdeck::workflow::register::kubeconfig("c", "https://x", "", "t")).unwrap();
    assert!(kc["clusters"][0]["cluster"].get("certificate-authority-data").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_session_is_told_who_holds_the_cluster_and_since_when() {
    let fleet = fleet_with_candidate().await;
    let (_dir, journal) = common::temp_journal();
    let first = runner(&fleet, &[], journal.clone()).await;
    let (run, _) = first.start(Workflow::Register, "edge-eu-1", "edge-eu-1", Default::default()).await.expect("starts");
    let second = runner(&fleet, &[], journal).await;
    let blocked = second.start(Workflow::Unregister, "edge-eu-1", "edge-eu-1", Default::default()).await.unwrap_err();
    let Blocked::Busy(held) = &blocked else { panic!("{blocked:?}") };
    assert_eq!(held.id, run.id);
    let text = blocked.describe();
    let holder = first.session().label();
    assert!(text.contains(&format!("register run held by {holder} since")), "{text}");
    assert!(text.contains("one run per cluster at a time"), "{text}");
    // Another cluster is free.
    assert!(second.start(Workflow::Unregister, "staging-eu-1", "staging-eu-1", Default::default()).await.is_ok());
}

/// Registers edge-eu-1 with a 3 s verification timeout, taking the hub away for 5 s at
/// the first state `away` says so of; (the wait's paused progress, the run at its end).
async fn hub_away_during_the_wait(away: impl Fn(&Run) -> bool) -> (String, Run) {
    let fleet = fleet_with_candidate().await;
    let (_dir, journal) = common::temp_journal();
    let contexts = common::contexts_of(&fleet, Access::Admin).await;
    let writer = Writer::new(WriteAccess::operator_session(), &contexts, Duration::from_secs(5), journal);
    let register = fleetdeck::workflow::register::Settings {
        verify_timeout: Duration::from_secs(3),
        ..fleetdeck::workflow::register::Settings::default()
    };
    let settings = RunSettings { poll: Duration::from_millis(200), register, ..RunSettings::default() };
    let runner = Arc::new(Runner::new(Arc::new(writer), settings));
    let (run, rv) =
        runner.start(Workflow::Register, "edge-eu-1", "edge-eu-1", Default::default()).await.expect("starts");
    let (tx, rx) = mpsc::channel(8);
    let (out, mut updates) = mpsc::channel(256);
    tokio::spawn(runner.clone().drive(run, rv, Event::Begin, rx, out));
    let (mut typed, mut gone) = (false, false);
    let mut paused = String::new();
    let hub = fleet.cluster("hub").unwrap().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let ended = loop {
        let update = tokio::time::timeout_at(deadline, updates.recv()).await.expect("in time").expect("updates");
        match update {
            Update::Run(r) => {
                if r.state == RunState::Waiting && !typed {
                    typed = true;
                    tx.send(Event::Typed("edge-eu-1".into())).await.unwrap();
                }
                if away(&r) && !gone {
                    gone = true;
                    hub.faults.update(|f| f.outage = Some(fleetdeck::sim::OutageMode::Refused));
                    let hub = hub.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        hub.faults.update(|f| f.outage = None);
                    });
                }
                let progress = r.steps.get(6).map(|s| s.progress.clone()).unwrap_or_default();
                if progress.starts_with("paused: ") {
                    paused = progress;
                }
            }
            Update::Ended(r) => break *r,
            // A record the hub cannot store meanwhile waits for it.
            Update::Refused(why) if why.contains("the run waits and tries again") => {}
            Update::Refused(why) | Update::Lost(why) => panic!("{why}"),
        }
    };
    fleet.stop().await;
    (paused, ended)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_pauses_while_its_cluster_does_not_answer_and_its_time_away_is_not_counted() {
    // Once the Kustomizations' wait has begun, for longer than its timeout.
    let (paused, ended) = hub_away_during_the_wait(|r| r.current == 6 && !r.steps[6].progress.is_empty()).await;
    assert!(paused.starts_with("paused: cannot read Kustomization edge-eu-1/"), "{paused:?}");
    assert_eq!(ended.state, RunState::Succeeded, "{}", ended.outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_pauses_the_run_going_on_its_cluster_instead_of_waiting_for_it() {
    let fleet = fleet_with_candidate().await;
    let (_dir, journal) = common::temp_journal();
    let first = runner(&fleet, &[], journal.clone()).await;
    let (run, _) = first.start(Workflow::Unregister, "staging-eu-1", "staging-eu-1", Default::default()).await.unwrap();
    let second = runner(&fleet, &[], journal).await;
    let facts = [("target".to_owned(), "revision".to_owned())].into();
    let (rollback, _) = second.start(Workflow::Rollback, "staging-eu-1", "staging-eu-1", facts).await.expect("starts");
    assert_eq!(
        rollback.facts.get(fleetdeck::workflow::rollback::facts::PAUSED_RUNS),
        Some(&format!("{} (unregister)", run.id))
    );
    let runs = second.list().await.unwrap();
    let paused = &runs.iter().find(|(r, _)| r.id == run.id).unwrap().0;
    let lock = paused.lock.as_ref().expect("held");
    assert_eq!(lock.holder.id, second.session().id, "its lock is the rollback's session's now");
    assert!(paused.facts.get("paused_by").is_some_and(|b| b.starts_with("a rollback by")));
    // A second rollback on the cluster waits for the first, as any run does.
    let blocked = first.start(Workflow::Rollback, "staging-eu-1", "staging-eu-1", Default::default()).await;
    assert!(matches!(blocked, Err(Blocked::Busy(_))), "{blocked:?}");
}
