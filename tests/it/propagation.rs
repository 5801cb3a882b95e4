//! Policy propagation end to end on the simulated fleet: the engine watches the hub's
//! sources and Kustomizations, the model measures how long each new revision took to
//! become Ready on each spoke, a spoke taken down shows pending and then an alarm past
//! the target, and suspend and resume go through the real write path (dry run,
//! confirmation, merge patch, verification through the watch).

use crate::common;

use std::time::Duration;

use common::{cell, contexts_of, fast, settings, sync, until};
use fleetdeck::action::{Action, Pane};
use fleetdeck::app::model::Model;
use fleetdeck::app::msg::{Effect, Msg};
use fleetdeck::app::update::update;
use fleetdeck::cluster::write::{WriteAccess, Writer};
use fleetdeck::cluster::{Engine, EngineEvent};
use fleetdeck::fleet::sync::SyncState;
use fleetdeck::sim::{Access, Fleet, OutageMode, Scenario};
use fleetdeck::view::table::Tone;
use fleetdeck::workflow::operation::Stage;
use jiff::Timestamp;
use tokio::sync::mpsc::Receiver;

/// Flux reconciles within a second or two, retries failures every second, and publishes
/// revisions only when the test asks.
fn scenario() -> Scenario {
    let mut s = Scenario::builtin("default");
    s.flux.revision_every = None;
    s.flux.reconcile_delay = fleetdeck::sim::scenario::Span::secs(1, 2);
    s.flux.retry_interval = Duration::from_secs(1);
    s.fleet.events_every = None;
    s.fleet.node_flap_every = None;
    s
}

struct Harness {
    fleet: Fleet,
    engine: Engine,
    rx: Receiver<EngineEvent>,
    model: Model,
    specs: Vec<fleetdeck::cluster::ContextSpec>,
}

async fn harness(spokes: usize, target: Duration) -> Harness {
    let fleet = common::live_fleet(spokes, scenario()).await;
    let specs = contexts_of(&fleet, Access::Admin).await;
    let mut s = settings();
    s.fleet.propagation_target = target;
    s.writable = true;
    let mut model = Model::new(&specs, s, Timestamp::now());
    let (engine, mut rx) = Engine::start(specs.clone(), fast());
    let ready = until(&mut model, &mut rx, Duration::from_secs(20), |m| {
        let f = sync(m);
        f.spokes == spokes && f.in_sync == spokes
    })
    .await;
    assert!(ready, "every spoke in sync at the start: {:?}", sync(&mut model));
    Harness { fleet, engine, rx, model, specs }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_revision_propagates_and_its_times_are_measured() {
    let mut h = harness(3, Duration::from_secs(30)).await;
    let revision = h.fleet.publish_revision("GitRepository", "fleet-policies").unwrap();
    let spokes: Vec<String> =
        h.model.fleet.clusters().iter().filter(|c| !c.is_hub).map(|c| c.context.clone()).collect();
    let applied = until(&mut h.model, &mut h.rx, Duration::from_secs(20), |m| {
        spokes.iter().all(|s| {
            m.fleet
                .propagation()
                .applied(&(s.clone(), "policies".to_owned()))
                .any(|a| a.revision == revision && a.took.is_some())
        })
    })
    .await;
    assert!(applied, "every spoke applied {revision}");
    for spoke in &spokes {
        let key = (spoke.clone(), "policies".to_owned());
        let took =
            h.model.fleet.propagation().applied(&key).find(|a| a.revision == revision).and_then(|a| a.took).unwrap();
        // The simulated kustomize-controller notices within 0.3-1.5 s and takes 1-2 s.
        assert!(
            took.duration >= Duration::from_millis(800) && took.duration < Duration::from_secs(10),
            "{spoke}: {took:?}"
        );
        assert_eq!(cell(&mut h.model, spoke, "policies"), Some(SyncState::InSync));
        let derived = h.model.derived();
        let stats = &derived.cluster(h.model.fleet.by_name(spoke).unwrap()).unwrap().rows.sync.as_ref().unwrap().stats;
        assert!(stats.last.is_some() && stats.p95.is_some(), "{spoke}: {stats:?}");
    }
    // The revision heads the fleet chart, complete.
    let rows = h.model.fleet.propagation().recent_revisions(4);
    let newest = rows.iter().find(|r| r.seen.revision == revision).expect("the revision is charted");
    assert_eq!(newest.times.len(), 3);
    assert!(newest.seen.live, "seen arriving while watching");
    h.engine.stop().await;
    h.fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoke_taken_down_is_pending_then_an_alarm_then_catches_up() {
    let target = Duration::from_secs(3);
    let mut h = harness(2, target).await;
    let down = "staging-eu-1";
    let spoke = h.fleet.require(down).unwrap().clone();
    spoke.faults.update(|f| f.outage = Some(OutageMode::Refused));
    let published = Timestamp::now();
    let revision = h.fleet.publish_revision("GitRepository", "fleet-policies").unwrap();
    // Not in sync at once: the hub cannot reach it.
    let behind = until(&mut h.model, &mut h.rx, Duration::from_secs(10), |m| {
        cell(m, down, "policies").is_some_and(|s| s.behind_since().is_some())
    })
    .await;
    assert!(behind, "{:?}", cell(&mut h.model, down, "policies"));
    let alarm = until(&mut h.model, &mut h.rx, Duration::from_secs(15), |m| sync(m).alarms == 1).await;
    assert!(alarm, "an alarm past {target:?}: {:?}", sync(&mut h.model));
    let state = cell(&mut h.model, down, "policies").unwrap();
    assert!(
        matches!(state, SyncState::Unreachable { .. } | SyncState::Failed { .. } | SyncState::Pending { .. }),
        "{state:?}"
    );
    // The health pane's row says so in red.
    let derived = h.model.derived();
    let screen = fleetdeck::view::screen(&h.model, &derived, &Default::default(), 200, 40);
    let fleetdeck::view::Body::Table(table) = &screen.body else { panic!("a table") };
    let sync_col = table.columns.iter().position(|c| c.title == "SYNC").unwrap();
    let row = table.rows.iter().find(|r| r[0].text == down).unwrap();
    assert_eq!(row[sync_col].tone, Tone::Crit, "{:?}", row[sync_col]);
    assert!(row[sync_col].text.starts_with("behind"), "{:?}", row[sync_col]);
    // The other spoke was not held up.
    let other = "production-eu-1";
    let other_done = until(&mut h.model, &mut h.rx, Duration::from_secs(10), |m| {
        cell(m, other, "policies") == Some(SyncState::InSync)
    })
    .await;
    assert!(other_done);

    // Down for twice the target, so the status timestamps measure the outage exactly enough.
    let twice = jiff::SignedDuration::try_from(target * 2).unwrap();
    until(&mut h.model, &mut h.rx, target * 2, |_| Timestamp::now().duration_since(published) > twice).await;
    spoke.faults.update(|f| f.outage = None);
    let caught_up = until(&mut h.model, &mut h.rx, Duration::from_secs(30), |m| {
        cell(m, down, "policies") == Some(SyncState::InSync) && sync(m).alarms == 0
    })
    .await;
    assert!(caught_up, "{:?}", cell(&mut h.model, down, "policies"));
    let key = (down.to_owned(), "policies".to_owned());
    let took = h.model.fleet.propagation().applied(&key).find(|a| a.revision == revision).and_then(|a| a.took).unwrap();
    assert!(took.duration > target, "the outage shows in its propagation time: {took:?}");
    h.engine.stop().await;
    h.fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_resume_round_trip_through_the_write_path() {
    let mut h = harness(2, Duration::from_secs(30)).await;
    let (_journal_dir, journal) = common::temp_journal();
    let writer = Writer::new(WriteAccess::operator_session(), &h.specs, Duration::from_secs(5), journal.clone());
    let spoke = "staging-eu-1";
    update(&mut h.model, Msg::Action(Action::Pane(Pane::Propagation)));
    let key = common::cluster_key(&h.model, spoke);
    while fleetdeck::app::update::selected(&mut h.model, Pane::Propagation) != Some(key.clone()) {
        update(&mut h.model, Msg::Action(Action::Down));
    }

    // Suspend: the wrong name is refused, the right one writes.
    let effects = update(&mut h.model, Msg::Action(Action::Suspend));
    assert!(matches!(effects[..], [Effect::Preview { .. }]), "{effects:?}");
    let Effect::Preview { id, plan } = effects[0].clone() else { unreachable!() };
    let previews = writer.preview(&plan).await.unwrap();
    assert!(previews.iter().all(|p| p.outcome.as_ref().unwrap().iter().any(|c| c.path == "spec.suspend")));
    let hub = h.fleet.hub().clone();
    let suspended_on_hub = |name: &str| {
        let st = hub.lock();
        let gr = fleetdeck::sim::GroupResource::new("kustomize.toolkit.fluxcd.io", "kustomizations");
        st.store.get(&gr, spoke, name).map(|o| o.value()).and_then(|v| v.pointer("/spec/suspend").cloned())
    };
    assert_eq!(suspended_on_hub("policies"), None, "the dry run wrote nothing");
    update(&mut h.model, Msg::Previewed { id, result: Ok(previews) });
    for c in "staging".chars() {
        update(&mut h.model, Msg::PromptEdit(tui_input::InputRequest::InsertChar(c)));
    }
    assert!(update(&mut h.model, Msg::PromptSubmit).is_empty(), "a partial name does not confirm");
    h.model.operation.as_mut().unwrap().cancel();
    update(&mut h.model, Msg::PromptCancel);

    let effects = update(&mut h.model, Msg::Action(Action::Suspend));
    common::drive(&mut h.model, &mut h.rx, &writer, effects, spoke, Duration::from_secs(30)).await;
    let stage = &h.model.operation.as_ref().unwrap().stage;
    assert!(matches!(stage, Stage::Done { .. }), "{stage:?}");
    assert_eq!(suspended_on_hub("policies"), Some(serde_json::json!(true)));
    assert!(matches!(cell(&mut h.model, spoke, "policies"), Some(SyncState::Suspended { .. })));

    // Suspend is honoured: a new revision reaches the other spoke only.
    let revision = h.fleet.publish_revision("GitRepository", "fleet-policies").unwrap();
    let other = until(&mut h.model, &mut h.rx, Duration::from_secs(10), |m| {
        cell(m, "production-eu-1", "policies") == Some(SyncState::InSync)
            && m.fleet.clusters()[0].sources.values().any(|s| s.revision == revision)
    })
    .await;
    assert!(other);
    until(&mut h.model, &mut h.rx, Duration::from_secs(3), |_| false).await;
    assert_eq!(
        cell(&mut h.model, spoke, "policies"),
        Some(SyncState::Suspended { by: fleetdeck::fleet::sync::Paused::Suspend, behind: true })
    );

    // Resume: Enter confirms (not destructive); verified by lastHandledReconcileAt.
    let effects = update(&mut h.model, Msg::Action(Action::Resume));
    common::drive(&mut h.model, &mut h.rx, &writer, effects, "", Duration::from_secs(30)).await;
    let stage = &h.model.operation.as_ref().unwrap().stage;
    assert!(matches!(stage, Stage::Done { .. }), "{stage:?}");
    let caught_up = until(&mut h.model, &mut h.rx, Duration::from_secs(15), |m| {
        cell(m, spoke, "policies") == Some(SyncState::InSync)
    })
    .await;
    assert!(caught_up, "{:?}", cell(&mut h.model, spoke, "policies"));
    let managers: Vec<String> = {
        let st = hub.lock();
        let gr = fleetdeck::sim::GroupResource::new("kustomize.toolkit.fluxcd.io", "kustomizations");
        let v = st.store.get(&gr, spoke, "policies").unwrap().value();
        v.pointer("/metadata/managedFields")
            .and_then(|m| m.as_array())
            .map(|m| m.iter().filter_map(|e| e["manager"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    assert!(managers.contains(&"fleetdeck".to_owned()), "writes name fleetdeck: {managers:?}");
    h.engine.stop().await;
    h.fleet.stop().await;
}
