//! Backups end to end on the simulated fleet: the engine watches Velero on every cluster,
//! "back up now" from the pane creates a backup that Velero runs to Completed, a restore
//! from it runs to Completed after the cluster's name is typed, and a storage outage
//! turns the schedule's row red.

use crate::common;

use std::time::Duration;

use common::{contexts_of, drive, fast, settings, until};
use fleetdeck::action::{Action, Pane};
use fleetdeck::app::model::Model;
use fleetdeck::app::msg::{Effect, Msg};
use fleetdeck::app::update::{selected, update};
use fleetdeck::cluster::Engine;
use fleetdeck::cluster::write::{WriteAccess, Writer};
use fleetdeck::derive::RowKey;
use fleetdeck::derive::backups::{BackupRow, RowKind};
use fleetdeck::sim::scenario::Span;
use fleetdeck::sim::{Access, Scenario};
use fleetdeck::view::table::Tone;
use fleetdeck::workflow::operation::Stage;
use jiff::Timestamp;

/// Backups and restores take a second or two and always succeed; one hourly schedule.
fn scenario() -> Scenario {
    let mut s = Scenario::builtin("default");
    s.flux.revision_every = None;
    s.fleet.events_every = None;
    s.fleet.node_flap_every = None;
    s.velero.backup_duration = Span::secs(1, 2);
    s.velero.restore_duration = Span::secs(1, 2);
    s.velero.fail_rate = 0.0;
    s.velero.partial_rate = 0.0;
    s.velero.schedules.truncate(1);
    s.velero.schedules[0].name = "hourly-config".into();
    s.velero.schedules[0].cron = "0 * * * *".into();
    s
}

const SPOKE: &str = "staging-eu-1";

fn schedule_key(model: &Model) -> RowKey {
    let cluster = model.fleet.by_name(SPOKE).unwrap();
    RowKey::Backup { cluster, schedule: Some(("velero".to_owned(), "hourly-config".to_owned())) }
}

/// Every backups row, worst first.
fn all_rows(model: &mut Model) -> Vec<BackupRow> {
    model.derived().backup_rows().cloned().collect()
}

/// Selects the spoke's schedule row on the backups pane.
fn select_schedule(model: &mut Model) {
    update(model, Msg::Action(Action::Pane(Pane::Backups)));
    update(model, Msg::Action(Action::Top));
    for _ in 0..20 {
        if selected(model, Pane::Backups) == Some(schedule_key(model)) {
            return;
        }
        update(model, Msg::Action(Action::Down));
    }
    panic!("no row {:?}", schedule_key(model));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_now_restore_and_a_storage_outage() {
    let fleet = common::live_fleet(2, scenario()).await;
    let specs = contexts_of(&fleet, Access::Admin).await;
    let mut s = settings();
    s.writable = true;
    let mut model = Model::new(&specs, s, Timestamp::now());
    let (engine, mut rx) = Engine::start(specs.clone(), fast());
    let (_journal_dir, journal) = common::temp_journal();
    let writer = Writer::new(WriteAccess::operator_session(), &specs, Duration::from_secs(5), journal.clone());
    let listed = until(&mut model, &mut rx, Duration::from_secs(20), |m| {
        let rows = all_rows(m);
        rows.len() == 3 && rows.iter().all(|r| matches!(r.kind, RowKind::Schedule { .. }))
    })
    .await;
    assert!(listed, "a schedule row per cluster: {:?}", all_rows(&mut model));

    // Back up now: previewed by a dry run, Enter confirms, Velero runs it to Completed.
    select_schedule(&mut model);
    let effects = update(&mut model, Msg::Action(Action::BackupNow));
    assert!(matches!(effects[..], [Effect::Preview { .. }]), "{effects:?}");
    let Effect::Preview { plan, .. } = &effects[0] else { unreachable!() };
    let created = plan.targets[0].key.clone();
    let before = fleet.require(SPOKE).unwrap().lock().store.len();
    drive(&mut model, &mut rx, &writer, effects, "", Duration::from_secs(30)).await;
    let o = model.operation.as_ref().unwrap();
    assert!(
        matches!(&o.stage, Stage::Done { outcomes, .. } if outcomes[0].ok && outcomes[0].text.starts_with("Completed")),
        "{:?}",
        o.stage
    );
    assert!(fleet.require(SPOKE).unwrap().lock().store.len() > before, "the backup exists on the spoke");
    let spoke = &model.fleet.clusters()[model.fleet.by_name(SPOKE).unwrap()];
    let backup = spoke.backups.get(&created).expect("the new backup is watched");
    assert_eq!(backup.phase, fleetdeck::fleet::phase::VeleroPhase::Completed);
    assert_eq!(backup.schedule.as_deref(), Some("hourly-config"));

    // Restore from it: the panel closed, the schedule opened, the newest backup selected,
    // the cluster's name typed.
    update(&mut model, Msg::Action(Action::Back));
    assert!(!model.ui.operation_open);
    update(&mut model, Msg::Action(Action::Open));
    assert_eq!(model.ui.detail, Some(schedule_key(&model)));
    update(&mut model, Msg::Action(Action::Top));
    let effects = update(&mut model, Msg::Action(Action::Restore));
    let Effect::Preview { plan, .. } = &effects[0] else { panic!("{effects:?}") };
    assert_eq!(plan.object.as_ref().unwrap()["spec"]["backupName"], created.1.as_str());
    // A wrong name writes nothing.
    let wrong = effects.clone();
    drive(&mut model, &mut rx, &writer, wrong, "staging", Duration::from_secs(3)).await;
    let o = model.operation.as_ref().unwrap();
    assert!(o.confirming() && o.refused.is_some(), "{:?}", o.stage);
    update(&mut model, Msg::PromptCancel);
    let effects = update(&mut model, Msg::Action(Action::Restore));
    drive(&mut model, &mut rx, &writer, effects, SPOKE, Duration::from_secs(30)).await;
    let o = model.operation.as_ref().unwrap();
    assert!(
        matches!(&o.stage, Stage::Done { outcomes, .. } if outcomes[0].ok && outcomes[0].text.starts_with("Completed")),
        "{:?}",
        o.stage
    );
    let spoke = &model.fleet.clusters()[model.fleet.by_name(SPOKE).unwrap()];
    assert!(spoke.restores.values().any(|r| r.backup == created.1
        && r.phase == fleetdeck::fleet::phase::VeleroPhase::Completed
        && r.took().is_some()));
    // Esc closes the panel, then the detail.
    update(&mut model, Msg::Action(Action::Back));
    update(&mut model, Msg::Action(Action::Back));
    assert_eq!(model.ui.detail, None);

    // The storage goes away: the row turns red.
    fleet.require(SPOKE).unwrap().set_velero_storage(false);
    let key = schedule_key(&model);
    let red = until(&mut model, &mut rx, Duration::from_secs(10), |m| {
        all_rows(m).iter().any(|r| RowKey::of_backup(r) == key && r.state_word() == "storage down")
    })
    .await;
    assert!(red, "{:?}", all_rows(&mut model));
    let derived = model.derived();
    let screen = fleetdeck::view::screen(&model, &derived, &Default::default(), 200, 40);
    let fleetdeck::view::Body::Table(table) = &screen.body else { panic!("a table") };
    let row = table.rows.iter().find(|r| r[0].text == SPOKE).expect("the spoke's row");
    let state = table.columns.iter().position(|c| c.title == "STATE").unwrap();
    assert_eq!(row[state].tone, Tone::Crit, "{row:?}");
    assert_eq!(table.rows[0][0].text, SPOKE, "worst first");

    engine.stop().await;
    fleet.stop().await;
}
