//! The wall (`--wall`) as drawn: snapshots at 120x40 and 240x67 with 16 and with 300
//! spokes (tiles shrink, then group by environment), every page, stale data shown as
//! stale, and the rotation and its keys.

use crate::common;

use std::time::Duration;

use common::fixture::*;
use fleetdeck::action::{Action, Pane};
use fleetdeck::app::model::{Model, ModelSettings, Wall};
use fleetdeck::app::msg::Msg;
use fleetdeck::app::update::update;
use fleetdeck::cluster::{ContextSpec, EngineEvent};
use fleetdeck::fleet::failure::Failure;
use fleetdeck::fleet::kind::Kind;
use fleetdeck::fleet::probes::Sample;
use fleetdeck::fleet::summary::ObjectKey;

const NOW: i64 = 1000;

fn spoke_names(n: usize) -> Vec<String> {
    let envs = [("production", 6), ("staging", 3), ("dev", 1)];
    let regions = ["eu", "us", "ap"];
    (0..n)
        .map(|i| {
            let (env, _) = envs.iter().flat_map(|e| std::iter::repeat_n(e, e.1)).nth(i % 10).unwrap();
            format!("{env}-{}-{}", regions[i % 3], i / 3 + 1)
        })
        .collect()
}

fn uid(i: usize) -> String {
    format!("{:08x}-1111-4222-a333-{i:012x}", 0x5eed_0000_u32 + i as u32)
}

/// What goes wrong where, by spoke index.
fn unreachable(i: usize) -> bool {
    i % 23 == 5
}
fn stale(i: usize) -> bool {
    i % 31 == 7
}
fn failing(i: usize) -> bool {
    i % 11 == 3
}
fn violating(i: usize) -> bool {
    i % 13 == 4
}
fn late_backup(i: usize) -> bool {
    i % 17 == 2
}

/// A hub and `n` registered spokes at t(1000), some of them in trouble.
fn fleet(n: usize) -> Model {
    let spokes = spoke_names(n);
    let names: Vec<String> = std::iter::once("hub".to_owned()).chain(spokes.iter().cloned()).collect();
    let specs: Vec<ContextSpec> = names.iter().map(|n| common::spec(n)).collect();
    let mut m = Model::new(&specs, ModelSettings::default(), t(0));
    let mut events = Vec::new();
    let at = |ns: &str, name: &str| -> ObjectKey { (ns.into(), name.into()) };
    for (id, name) in names.iter().enumerate() {
        let spoke = id.checked_sub(1);
        // Every kind listed (empty unless given below).
        for kind in Kind::ALL.into_iter().filter(|k| id == 0 || !k.hub_only()) {
            events.push(EngineEvent::Relist { cluster: id, kind, items: vec![], at: t(15) });
        }
        let handshake = fleetdeck::fleet::probes::Handshake { took: Duration::from_millis(9), busy: false };
        events.push(EngineEvent::Connected {
            cluster: id,
            version: "v1.33.4".into(),
            uid: Some(uid(id)),
            handshake,
            at: t(10),
        });
        let nodes = (0..3).map(|k| node(&format!("{name}-{k}"), !(k == 2 && id % 19 == 6), &[])).collect();
        events.push(EngineEvent::Relist { cluster: id, kind: Kind::Node, items: nodes, at: t(20) });
        let mut deployments = if id == 0 { vec![workload("flux-system", "kustomize-controller", 1)] } else { vec![] };
        deployments.push(workload("velero", "velero", 1));
        events.push(EngineEvent::Relist { cluster: id, kind: Kind::Deployment, items: deployments, at: t(20) });
        let failing_report = [("require-labels", "check-team", "worker", "validation error: label `team` required")];
        let reports = vec![report("payments", if spoke.is_some_and(violating) { &failing_report } else { &[] }, 8)];
        events.push(EngineEvent::Relist { cluster: id, kind: Kind::PolicyReport, items: reports, at: t(25) });
        events.push(EngineEvent::Relist { cluster: id, kind: Kind::ClusterPolicyReport, items: vec![], at: t(25) });
        let last = if spoke.is_some_and(late_backup) { "2026-11-14T01:00:00Z" } else { "2026-11-18T01:00:00Z" };
        for (kind, items) in [
            (Kind::Schedule, vec![schedule("daily-full", "0 1 * * *", false)]),
            (Kind::Backup, vec![backup("daily-full", last, "Completed", 0, 0)]),
            (Kind::Restore, vec![]),
            (Kind::BackupStorageLocation, vec![storage(true)]),
        ] {
            events.push(EngineEvent::Relist { cluster: id, kind, items, at: t(30) });
        }
        // Probes every 5 s; unreachable spokes fail for the last 150 s; stale ones went
        // quiet at t(700) without an error (a hung connection).
        for step in 1..=200 {
            let when = step * 5;
            let outcome = match spoke {
                Some(i) if unreachable(i) && when > 850 => Err(Failure::Unreachable),
                Some(i) if stale(i) && when > 700 => continue,
                _ => Ok(Duration::from_micros(1_500 + (step as u64 % 5) * 900 + (id as u64 % 7) * 400)),
            };
            events.push(EngineEvent::Probe { cluster: id, sample: Sample::new(t(when), outcome) });
        }
    }
    events.push(EngineEvent::Relist {
        cluster: 0,
        kind: Kind::GitRepository,
        items: vec![(at("flux-system", "fleet-policies"), source("GitRepository", "fleet-policies", R1, 300))],
        at: t(20),
    });
    let mut kustomizations = Vec::new();
    let mut secrets = Vec::new();
    for (i, spoke) in spokes.iter().enumerate() {
        let state = if failing(i) {
            Ks::Failed(R1, "HealthCheckFailed", "Health check failed after 3m0s")
        } else {
            Ks::Ready(R1, 309)
        };
        let ks = kustomization(spoke, "policies", "GitRepository", "fleet-policies", state, true);
        kustomizations.push((at(spoke, "policies"), ks));
        secrets.push(registration(spoke, Some(&uid(i + 1))));
    }
    events.push(EngineEvent::Relist { cluster: 0, kind: Kind::Kustomization, items: kustomizations, at: t(20) });
    events.push(EngineEvent::Relist { cluster: 0, kind: Kind::SpokeSecret, items: secrets, at: t(20) });
    for e in events {
        update(&mut m, Msg::Engine(e));
    }
    update(&mut m, Msg::Tick(t(NOW)));
    m.ui.wall = Some(Wall::new(Duration::from_secs(20), t(NOW - 5)));
    m
}

fn on(model: &Model, page: Pane) -> Model {
    let mut m = model.clone();
    if let Some(w) = m.ui.wall.as_mut() {
        w.page = page;
    }
    m
}

fn render(model: &Model, width: u16, height: u16) -> String {
    common::render(model, t(NOW), width, height)
}

#[test]
fn sixteen_spokes() {
    let m = fleet(16);
    insta::assert_snapshot!("wall_16_120x40", render(&m, 120, 40));
    insta::assert_snapshot!("wall_16_240x67", render(&m, 240, 67));
    insta::assert_snapshot!("wall_16_latency_120x40", render(&on(&m, Pane::Latency), 120, 40));
    insta::assert_snapshot!("wall_16_propagation_120x40", render(&on(&m, Pane::Propagation), 120, 40));
    insta::assert_snapshot!("wall_16_backups_120x40", render(&on(&m, Pane::Backups), 120, 40));
}

#[test]
fn three_hundred_spokes() {
    let m = fleet(300);
    insta::assert_snapshot!("wall_300_120x40", render(&m, 120, 40));
    insta::assert_snapshot!("wall_300_240x67", render(&m, 240, 67));
}

#[test]
fn a_thousand_spokes_stay_readable() {
    let m = fleet(1000);
    let screen = render(&m, 240, 67);
    // Grouped: a line per environment with its counts, then its clusters in trouble.
    for env in ["production · 600 clusters", "staging · 300 clusters", "dev · 100 clusters"] {
        assert!(screen.contains(env), "{env}:\n{screen}");
    }
    assert!(screen.contains("DOWN") || screen.contains("down"), "{screen}");
    assert!(screen.lines().all(|l| l.chars().count() <= 240));
}

#[test]
fn stale_data_is_never_shown_as_healthy() {
    let m = fleet(16);
    let screen = render(&m, 120, 40);
    // Spoke 7 went quiet at t(700): its tile says STALE and how old its data is.
    let name = &spoke_names(16)[7];
    let tile: Vec<&str> = screen.lines().skip_while(|l| !l.contains(name.as_str())).take(4).collect();
    let column = tile[0].find(name.as_str()).unwrap();
    let text: String = tile.iter().map(|l| l.chars().skip(column).take(30).collect::<String>() + "\n").collect();
    assert!(text.contains("STALE") && text.contains("stale 5m"), "{text}");
    assert!(!text.contains("OK"), "{text}");
}

#[test]
fn pages_rotate_and_only_wall_keys_act() {
    let mut m = fleet(4);
    let start = m.ui.wall.clone().unwrap();
    update(&mut m, Msg::Tick(t(NOW + 14)));
    assert_eq!(m.ui.wall.as_ref().unwrap().page, Pane::Health, "not yet");
    update(&mut m, Msg::Tick(t(NOW + 15)));
    assert_eq!(m.ui.wall.as_ref().unwrap().page, Pane::Latency, "after the interval");
    update(&mut m, Msg::Action(Action::Pause));
    update(&mut m, Msg::Tick(t(NOW + 120)));
    assert_eq!(m.ui.wall.as_ref().unwrap().page, Pane::Latency, "paused");
    update(&mut m, Msg::Action(Action::PrevPane));
    assert_eq!(m.ui.wall.as_ref().unwrap().page, Pane::Health);
    update(&mut m, Msg::Action(Action::PrevPane));
    assert_eq!(m.ui.wall.as_ref().unwrap().page, Pane::Runs, "wraps around");
    // Keys of the ordinary TUI do nothing on a wall.
    for action in [Action::Help, Action::Filter, Action::Open, Action::Pane(Pane::Backups), Action::Down] {
        update(&mut m, Msg::Action(action));
    }
    assert!(!m.ui.help && !m.ui.filter.editing && m.ui.detail.is_none());
    assert_eq!(m.ui.wall.as_ref().unwrap().page, Pane::Runs);
    assert_ne!(m.ui.wall, Some(start));
    // The wall keymap has nothing but pause, pages and quit.
    let config = fleetdeck::config::Config::load_from(None, None).unwrap();
    let keymap = fleetdeck::input::Keymap::wall(&config.keys).unwrap();
    for action in Action::ALL {
        assert_eq!(!keymap.hints().keys(action).is_empty(), action.wall(), "{action:?}");
    }
}
