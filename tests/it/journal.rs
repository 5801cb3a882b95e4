//! The journal end to end: an action taken in an operator session is recorded in the
//! journal (chain intact), posted on the hub as a Fleetdeck Event, and shown in a second,
//! read-only session's audit pane; and two fleetdeck processes appending to one journal
//! keep one chain.

use crate::common;

use std::time::Duration;

use common::{contexts_of, fast, settings, until};
use fleetdeck::action::{Action, Pane};
use fleetdeck::app::model::Model;
use fleetdeck::app::msg::Msg;
use fleetdeck::app::update::update;
use fleetdeck::audit::Source;
use fleetdeck::audit::feed::{AuditFeed, FeedSettings};
use fleetdeck::cluster::Engine;
use fleetdeck::cluster::write::{WriteAccess, Writer};
use fleetdeck::journal::{Journal, Phase};
use fleetdeck::sim::{Access, Scenario};
use fleetdeck::workflow::operation::Stage;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};

fn scenario() -> Scenario {
    let mut s = Scenario::builtin("default");
    s.flux.revision_every = None;
    s.flux.reconcile_delay = fleetdeck::sim::scenario::Span::secs(1, 2);
    s.fleet.node_flap_every = None;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_is_journaled_posted_on_the_hub_and_seen_by_a_read_only_session() {
    let fleet = common::live_fleet(2, scenario()).await;
    let (dir, journal) = common::temp_journal();
    let spoke = "staging-eu-1";

    // The operator session, following its journal as the TUI does.
    let specs = contexts_of(&fleet, Access::Admin).await;
    let mut s = settings();
    s.writable = true;
    let mut operator = Model::new(&specs, s, Timestamp::now());
    let (engine, mut rx) = Engine::start(specs.clone(), fast());
    let writer = Writer::new(WriteAccess::operator_session(), &specs, Duration::from_secs(5), journal.clone());
    let (feed, mut records) = AuditFeed::start(FeedSettings {
        journal: journal.path().to_owned(),
        events: Some(dir.path().join("events.jsonl")),
        events_kept: 1000,
        files: Vec::new(),
        poll: Duration::from_millis(50),
        webhook: None,
    });

    // The read-only session: its own engine on the view-only credentials.
    let readonly_specs = contexts_of(&fleet, Access::ReadOnly).await;
    let mut watcher = Model::new(&readonly_specs, settings(), Timestamp::now());
    let (readonly_engine, mut readonly_rx) = Engine::start(readonly_specs, fast());

    let registered = until(&mut operator, &mut rx, Duration::from_secs(20), |m| common::sync(m).in_sync == 2).await;
    assert!(registered, "{:?}", common::sync(&mut operator));
    update(&mut operator, Msg::Action(Action::Pane(Pane::Propagation)));
    let key = common::cluster_key(&operator, spoke);
    while fleetdeck::app::update::selected(&mut operator, Pane::Propagation) != Some(key.clone()) {
        update(&mut operator, Msg::Action(Action::Down));
    }
    let effects = update(&mut operator, Msg::Action(Action::Reconcile));
    common::drive(&mut operator, &mut rx, &writer, effects, "", Duration::from_secs(30)).await;
    let stage = &operator.operation.as_ref().unwrap().stage;
    assert!(matches!(stage, Stage::Done { .. }), "{stage:?}");

    // The journal: an intent and an outcome per Kustomization written, chain intact.
    let entries = journal.entries().unwrap();
    assert!(entries.len() >= 2 && entries.len().is_multiple_of(2), "{entries:?}");
    assert_eq!(entries[0].phase, Phase::Intent);
    assert_eq!(entries[1].phase, Phase::Outcome);
    assert_eq!(entries[1].write_id, entries[0].write_id);
    assert!(entries[1].result.as_ref().is_some_and(|r| r.ok));
    assert_eq!((entries[0].action.as_str(), entries[0].spoke.as_str()), ("reconcile", spoke));
    assert_eq!(entries[0].confirmation, "pressed Enter");
    assert_eq!(entries[0].operator.kube_user, specs[0].user);
    let verdict = journal.verify().unwrap();
    assert_eq!((verdict.intact, verdict.problem), (entries.len() as u64, None));
    let text = std::fs::read_to_string(journal.path()).unwrap();
    assert!(!text.contains("token"), "no credential in the journal");

    // On the hub: one Event per entry, in the spoke's namespace.
    let hub = common::admin(&fleet, "hub").await;
    let events: Vec<Event> = Api::<Event>::namespaced(hub, spoke).list(&ListParams::default()).await.unwrap().items;
    let ours: Vec<&Event> =
        events.iter().filter(|e| e.reason.as_deref().is_some_and(|r| r.starts_with("Fleetdeck"))).collect();
    assert_eq!(ours.len(), entries.len(), "{:?}", ours.iter().map(|e| &e.reason).collect::<Vec<_>>());
    assert!(ours.iter().any(|e| e.reason.as_deref() == Some("FleetdeckReconcileDone")));

    // The operator's own pane has the journal lines (from the file).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while operator.audit.newest_first().filter(|l| l.record.source == Source::Journal).count() < entries.len() {
        match tokio::time::timeout_at(deadline, records.recv()).await {
            Ok(Some(f)) => {
                update(&mut operator, Msg::Audit(f));
            }
            _ => break,
        }
    }
    assert_eq!(operator.audit.newest_first().filter(|l| l.record.source == Source::Journal).count(), entries.len());

    // The read-only session sees them through the hub's Events, as journal lines.
    let seen = until(&mut watcher, &mut readonly_rx, Duration::from_secs(15), |m| {
        m.audit.newest_first().filter(|l| l.record.source == Source::Journal && l.record.verb == "reconcile").count()
            == entries.len()
    })
    .await;
    assert!(seen, "{:?}", watcher.audit.newest_first().map(|l| &l.record).collect::<Vec<_>>());
    let line = watcher.audit.newest_first().find(|l| l.record.source == Source::Journal).unwrap();
    assert!(line.record.message.contains("[hub Event]"), "{}", line.record.message);
    assert!(line.record.user.contains(&entries[0].operator.local_user));

    feed.stop();
    engine.stop().await;
    readonly_engine.stop().await;
    fleet.stop().await;
}

const CHILD: &str = "FLEETDECK_TEST_JOURNAL";
const PER_PROCESS: usize = 200;

#[test]
#[ignore = "a helper, not a test: two_processes_append_to_one_chain runs it in child processes"]
fn append_as_a_child_process() {
    let path = std::env::var(CHILD).expect("run by two_processes_append_to_one_chain");
    let process = std::process::id().to_string();
    let journal = Journal::at(path);
    for _ in 0..PER_PROCESS {
        journal.append(common::draft(&process, Timestamp::now())).expect("appended");
    }
}

#[test]
fn two_processes_append_to_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<std::process::Child> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--ignored", "--exact", "journal::append_as_a_child_process", "--test-threads=1", "--quiet"])
                .env(CHILD, &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let journal = Journal::at(&path);
    let verdict = journal.verify().unwrap();
    assert_eq!(verdict.problem, None);
    assert_eq!(verdict.intact, 2 * PER_PROCESS as u64);
    let entries = journal.entries().unwrap();
    let mut by_process: std::collections::BTreeMap<String, usize> = Default::default();
    for e in &entries {
        *by_process.entry(e.operator.local_user.clone()).or_default() += 1;
    }
    assert_eq!(by_process.values().copied().collect::<Vec<_>>(), [PER_PROCESS, PER_PROCESS], "{by_process:?}");
    // They really ran at once: the two processes' entries interleave.
    let switches = entries.windows(2).filter(|w| w[0].operator.local_user != w[1].operator.local_user).count();
    eprintln!("the two processes' entries alternate {switches} times");
}

/// A write whose process was killed between its intent and its outcome (what kill -9
/// leaves: an intent line only) is resolved at the next operator session's start: the
/// object is read and what it shows is recorded as the write's outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_writes_are_resolved_from_their_objects() {
    use fleetdeck::journal::ObjectRef;
    use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
    let fleet = common::still_fleet(1).await;
    let (_dir, journal) = common::temp_journal();
    let hub = common::admin(&fleet, "hub").await;
    let ar = ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    );
    let spoke = "staging-eu-1";
    let kustomizations: Api<DynamicObject> = Api::namespaced_with(hub.clone(), spoke, &ar);
    let name = kustomizations.list(&ListParams::default()).await.unwrap().items[0].metadata.name.clone().unwrap();
    let start = Timestamp::now();
    let intent = |n: i64, action: &str, cluster: &str, object: ObjectRef| {
        let mut d = common::draft("alice", start + jiff::SignedDuration::from_millis(n));
        (d.action, d.cluster, d.spoke, d.object) = (action.into(), cluster.into(), spoke.into(), object);
        journal.append(d).unwrap()
    };
    let ks = ObjectRef {
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        namespace: spoke.into(),
        name: name.clone(),
    };
    // A suspend that landed before the process died.
    let suspend = intent(1, "suspend", "hub", ks.clone());
    kustomizations
        .patch(&name, &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"suspend": true}})))
        .await
        .unwrap();
    // A reconcile that never got sent.
    let reconcile = intent(2, "reconcile", "hub", ks);
    // A backup that was never created.
    let backup = intent(
        3,
        "backup",
        spoke,
        ObjectRef {
            api_version: "velero.io/v1".into(),
            kind: "Backup".into(),
            namespace: "velero".into(),
            name: "daily-20991231000000".into(),
        },
    );
    assert_eq!(journal.interrupted().unwrap().len(), 3);
    assert_eq!(journal.verify().unwrap().unfinished.len(), 3, "verify says which writes have no outcome");

    let specs = contexts_of(&fleet, Access::Admin).await;
    let writer = Writer::new(WriteAccess::operator_session(), &specs, Duration::from_secs(5), journal.clone());
    let found = writer.resolve_interrupted().await.unwrap();
    let outcome = |intent: &fleetdeck::journal::Entry| {
        let e = found.iter().find(|e| e.write_id == intent.write_id).expect("an outcome for every intent");
        assert_eq!(e.phase, Phase::Outcome);
        let r = e.result.clone().unwrap();
        (r.ok, r.message)
    };
    let (ok, message) = outcome(&suspend);
    assert!(ok && message.ends_with("applied (spec.suspend is true)"), "{message}");
    let (ok, message) = outcome(&reconcile);
    assert!(!ok && message.contains("not applied (no reconcile request since the intent)"), "{message}");
    let (ok, message) = outcome(&backup);
    assert!(!ok && message.contains("not applied (Backup daily-20991231000000 does not exist)"), "{message}");
    assert!(message.starts_with("interrupted: the outcome was not recorded"), "{message}");
    assert!(journal.interrupted().unwrap().is_empty(), "resolved once, not again");
    let verdict = journal.verify().unwrap();
    assert_eq!((verdict.problem, verdict.unfinished.len()), (None, 0));
    assert!(writer.resolve_interrupted().await.unwrap().is_empty());
    fleet.stop().await;
}

/// `journal verify --hub`: the last whole entry deleted from the file, which the chain
/// cannot show, is found by its copy on the hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_against_the_hub_finds_a_deleted_last_entry() {
    use fleetdeck::journal::event::journal_event;
    use kube::api::PostParams;
    let fleet = common::still_fleet(1).await;
    let (dir, journal) = common::temp_journal();
    let events: Api<Event> = Api::namespaced(common::admin(&fleet, "hub").await, "default");
    for n in 0..3 {
        let entry =
            journal.append(common::draft("alice", Timestamp::now() + jiff::SignedDuration::from_millis(n))).unwrap();
        let event: Event = serde_json::from_value(journal_event(&entry, "default", "ops-laptop")).unwrap();
        events.create(&PostParams::default(), &event).await.unwrap();
    }
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    fleet.write_kubeconfig(&kubeconfig).unwrap();
    let (path, kc, home) = (journal.path().to_owned(), kubeconfig.clone(), dir.path().to_owned());
    let run = move || {
        let args =
            ["journal", "verify", "--hub", "--journal", path.to_str().unwrap(), "--kubeconfig", kc.to_str().unwrap()];
        let out = common::cli(&args, &home).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, said) = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("hub hub: 3 of this journal's entries there"), "{said}");
    let text = std::fs::read_to_string(journal.path()).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(journal.path(), format!("{}\n", kept.join("\n"))).unwrap();
    let (code, said) = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("entry 3 (hash ") && said.contains("is on hub hub but not in the file"), "{said}");
    assert!(said.contains("intact, 2 entries"), "the chain itself is intact: {said}");
    fleet.stop().await;
}

/// A session starting on a damaged journal says so in the audit pane's source status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_journal_is_said_at_start() {
    use fleetdeck::audit::feed::Feed;
    let (dir, journal) = common::temp_journal();
    for n in 0..3 {
        let mut d = common::draft("alice", Timestamp::now() + jiff::SignedDuration::from_millis(n));
        d.phase = if n == 1 { Phase::Outcome } else { Phase::Intent };
        journal.append(d).unwrap();
    }
    let text = std::fs::read_to_string(journal.path()).unwrap().replace("pressed Enter", "typed staging-eu-1");
    std::fs::write(journal.path(), text).unwrap();
    let (feed, mut rx) = AuditFeed::start(FeedSettings {
        journal: journal.path().to_owned(),
        events: None,
        events_kept: 10,
        files: Vec::new(),
        poll: Duration::from_millis(50),
        webhook: None,
    });
    let status = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Some(Feed::Status(s)) if s.name.starts_with("journal chain") => return s,
                Some(_) => {}
                None => panic!("the feed ended"),
            }
        }
    })
    .await
    .expect("the journal is checked at start");
    assert!(!status.ok && status.state.starts_with("damaged at line 1: entry 1 was changed"), "{status:?}");
    feed.stop();
    drop(dir);
}
