//! The migration runbook carried out by the runner against the simulated fleet
//! (scenario `migration`): a staging candidate migrated from the inventory to the
//! report; a production candidate held at "test in staging first" until the staging
//! run succeeded, then failing "verify workload operation" on its degrading workload; a
//! PartiallyFailed backup holding the run until a reason is typed.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use fleetdeck::cluster::runbook::{MigrationSettings, RunSettings, Runner, Update};
use fleetdeck::cluster::write::{WriteAccess, Writer};
use fleetdeck::fleet::run::{Gate, Run, RunState, StepSpec, StepState, Workflow};
use fleetdeck::sim::{Access, Fleet, Scenario};
use fleetdeck::workflow::runbook::Event;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use tokio::sync::mpsc;

struct Setup {
    fleet: Fleet,
    runner: Arc<Runner>,
    data: tempfile::TempDir,
    _journal: tempfile::TempDir,
}

async fn setup(tune: impl FnOnce(&mut Scenario)) -> Setup {
    let mut scenario = Scenario::builtin("migration");
    assert_eq!(scenario.name, "migration", "the shipped scenario parses");
    // The workload degrades as soon as the fleet's policies arrive, so the check that
    // follows the registration sees it.
    scenario.degradations[0].after = Duration::ZERO;
    tune(&mut scenario);
    let fleet = common::live_fleet(1, scenario).await;
    let (journal_dir, journal) = common::temp_journal();
    let contexts = common::contexts_of(&fleet, Access::Admin).await;
    let writer = Writer::new(WriteAccess::operator_session(), &contexts, Duration::from_secs(5), journal);
    let data = tempfile::tempdir().unwrap();
    let config = fleetdeck::config::Config::load_from(None, None).unwrap();
    let migration = MigrationSettings {
        data_dir: data.path().to_owned(),
        operational: Some(fleetdeck::check::operational(&contexts, &config)),
        ..MigrationSettings::default()
    };
    let settings = RunSettings { poll: Duration::from_millis(200), migration, ..RunSettings::default() };
    let runner = Arc::new(Runner::new(Arc::new(writer), settings));
    Setup { fleet, runner, data, _journal: journal_dir }
}

/// A run driven in its own task: change sets are confirmed with the cluster's name and
/// gates attested; a held failure waits for the test.
struct Driven {
    input: mpsc::Sender<Event>,
    updates: mpsc::Receiver<Update>,
    confirmed: std::collections::BTreeSet<usize>,
    last: Run,
    /// When the run last held: the same state reported again (saved) is not new.
    held_at: Option<jiff::Timestamp>,
}

impl Driven {
    async fn start(runner: &Arc<Runner>, cluster: &str) -> Driven {
        let (run, rv) = runner.start(Workflow::Migrate, cluster, cluster, Default::default()).await.expect("starts");
        let (input, rx) = mpsc::channel(8);
        let (out, updates) = mpsc::channel(256);
        tokio::spawn(runner.clone().drive(run.clone(), rv, Event::Begin, rx, out));
        Driven { input, updates, confirmed: Default::default(), last: run, held_at: None }
    }

    /// Goes on until the run ends or holds at a failed step.
    async fn until_held_or_ended(&mut self) -> Run {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let update = tokio::time::timeout_at(deadline, self.updates.recv())
                .await
                .unwrap_or_else(|_| panic!("the run moves on in time; it is at {:#?}", self.last.step()))
                .expect("updates");
            let run = match update {
                Update::Run(r) => *r,
                Update::Ended(r) => return *r,
                Update::Refused(why) => panic!("refused: {why}"),
                Update::Lost(why) => panic!("lost: {why}"),
            };
            self.last = run.clone();
            if run.held() && self.held_at.is_none_or(|t| run.updated_at > t) {
                self.held_at = Some(run.updated_at);
                return run;
            }
            let Some(step) = run.step().filter(|s| s.state == StepState::Waiting && run.state == RunState::Waiting)
            else {
                continue;
            };
            if !self.confirmed.insert(run.current) {
                continue;
            }
            let event = match &step.spec {
                StepSpec::ChangeSet { confirm, .. } => Event::Typed(confirm.clone()),
                StepSpec::Gate { gate: Gate::Attest { .. } } => Event::Attested("done with the platform team".into()),
                StepSpec::Gate { gate: Gate::Confirm { expected, .. } } => Event::Typed(expected.clone()),
                _ => continue,
            };
            self.input.send(event).await.unwrap();
        }
    }

    async fn send(&mut self, event: Event) {
        self.input.send(event).await.unwrap();
    }
}

fn step<'a>(run: &'a Run, name: &str) -> &'a fleetdeck::fleet::run::Step {
    run.steps.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no step {name}"))
}

fn evidence(run: &Run, name: &str) -> String {
    step(run, name).evidence.iter().map(|e| e.text.as_str()).collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_first_then_production_which_fails_on_its_degrading_workload() {
    let s = setup(|_| {}).await;
    // Production first: held at "test in staging first", after documenting and backing up.
    let mut production = Driven::start(&s.runner, "production-eu-2").await;
    let held = production.until_held_or_ended().await;
    assert_eq!(held.step().unwrap().name, "test in staging first", "{}", held.outcome);
    assert!(held.outcome.contains("no staging cluster (staging-*) has a succeeded migration run"), "{}", held.outcome);
    assert_eq!(held.state, RunState::Waiting);

    // The staging candidate, from start to report.
    let mut staging = Driven::start(&s.runner, "staging-eu-2").await;
    let done = staging.until_held_or_ended().await;
    assert_eq!(done.state, RunState::Succeeded, "{}\n{:#?}", done.outcome, done.step());
    let inventory = evidence(&done, "document the current cluster state");
    assert!(
        inventory.contains("7 Deployments, 1 StatefulSets, 1 DaemonSets") && inventory.contains("Velero present"),
        "{inventory}"
    );
    assert_eq!(step(&done, "document the current cluster state").state, StepState::Passed, "nothing left undocumented");
    let backup = evidence(&done, "the backup Completed");
    assert!(backup.contains("Completed"), "{backup}");
    let name = done.facts.get("rollback_backup").expect("the rollback point names the backup");
    assert!(name.starts_with("fleetdeck-premigration-staging-eu-2-"), "{name}");
    let point = evidence(&done, "set up the rollback procedure");
    assert!(
        point.contains("GitRepository/flux-system/fleet-policies at") && point.contains("will write 7 objects"),
        "{point}"
    );
    // The runbook's `probes = 20` replaces migration.probes.
    let connectivity = evidence(&done, "validate connectivity");
    assert!(connectivity.contains("API p95") && connectivity.contains("over 20 probes"), "{connectivity}");
    let policy = evidence(&done, "test policy enforcement");
    for probe in ["privileged-pod.yaml: denied", "host-path.yaml: denied", "image-without-digest.yaml: denied"] {
        assert!(policy.contains(probe), "{probe} in {policy}");
    }
    assert!(evidence(&done, "verify all systems operational").contains("judges staging-eu-2: healthy"));
    let audit = evidence(&done, "conduct a security audit");
    assert!(
        audit.contains("ClusterRoleBinding fleetdeck-hub-cluster-admin binds ServiceAccount kube-system/fleetdeck-hub"),
        "{audit}"
    );
    assert!(audit.contains("the journal's chain is intact"), "{audit}");
    // The report and the inventory, in the data directory and on the hub.
    let dir = s.data.path().join("runs").join(&done.id);
    for file in ["inventory.json", "inventory.md", "report.json", "report.md", "inventory-after.json"] {
        assert!(dir.join(file).exists(), "{file} in {}", dir.display());
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("# Migration of staging-eu-2") && report.contains("## post-migration"), "{report}");
    assert!(report.contains("\"done with the platform team\""), "the attestations are in the report");
    let hub = common::admin(&s.fleet, "hub").await;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(hub, "fleetdeck-system");
    let attached = cms.get(&format!("run-{}-report", done.id)).await.expect("the report is attached on the hub");
    // The baseline is kept next to the run, and the run holds its hash.
    let inventory = cms.get(&format!("run-{}-inventory", done.id)).await.expect("the inventory is on the hub");
    let kept: fleetdeck::workflow::migrate::Inventory =
        serde_json::from_str(&inventory.data.unwrap()["inventory.json"]).unwrap();
    assert_eq!(Some(&kept.sha256()), done.facts.get("inventory_sha256"));
    assert!(attached.data.unwrap()["report.md"].contains("staging-eu-2"));
    // The backup is on the cluster, labelled with the run.
    let backups = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("velero.io", "v1", "Backup"), "backups");
    let api: Api<DynamicObject> =
        Api::namespaced_with(common::admin(&s.fleet, "staging-eu-2").await, "velero", &backups);
    let b = api.get(name).await.unwrap();
    assert_eq!(b.metadata.labels.unwrap()["fleetdeck.io/run"], done.id);

    // Production passes the gate on retry, naming the staging run, then its degrading
    // workload fails "verify workload operation" by name.
    production.send(Event::Retry).await;
    let held = production.until_held_or_ended().await;
    let gate = evidence(&held, "test in staging first");
    assert!(gate.contains(&format!("run {}", done.id)), "{gate}");
    assert_eq!(held.step().unwrap().name, "verify workload operation", "{}", held.outcome);
    assert!(held.outcome.contains("Deployment payments/api: 1/3 ready, it had 3/3"), "{}", held.outcome);
    // It may not be overridden; undo reverts the registration the run made.
    assert!(!held.step().unwrap().overridable);
    production.send(Event::Abort).await;
    let aborted = production.until_held_or_ended().await;
    assert_eq!(aborted.state, RunState::Aborted);
    assert_eq!(step(&aborted, "verify workload operation").state, StepState::Failed);
    s.fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partially_failed_backup_holds_the_run_until_a_reason_is_typed() {
    let s = setup(|scenario| scenario.velero.partial_rate = 1.0).await;
    let mut run = Driven::start(&s.runner, "staging-eu-2").await;
    let held = run.until_held_or_ended().await;
    assert_eq!(held.step().unwrap().name, "the backup Completed");
    assert!(held.outcome.contains("PartiallyFailed") && held.outcome.contains("errors"), "{}", held.outcome);
    run.send(Event::Override("   ".into())).await;
    run.send(Event::Override("CHG-1234: the failed items are caches".into())).await;
    // It goes on past the backup, through the rollback point.
    loop {
        let update = tokio::time::timeout(Duration::from_secs(30), run.updates.recv()).await.unwrap().unwrap();
        match update {
            Update::Refused(why) => assert_eq!(why, "an override needs a reason"),
            Update::Run(r) if r.current > 4 => {
                let o = &r.overrides[0];
                assert_eq!(o.reason, "CHG-1234: the failed items are caches");
                assert!(o.failure.contains("PartiallyFailed"), "{}", o.failure);
                assert_eq!(step(&r, "the backup Completed").state, StepState::Warned);
                assert!(evidence(&r, "the backup Completed").contains("overridden by"));
                break;
            }
            Update::Run(_) => {}
            other => panic!("{other:?}"),
        }
    }
    s.fleet.stop().await;
}
