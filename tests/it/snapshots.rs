//! The panes as drawn: TestBackend snapshots at 80x24 and at a large size with a fixed
//! clock and a model built from recorded engine events (objects shaped like the real
//! Flux, Kyverno and core objects, folded as the engine folds them).

use crate::common;

use common::fixture::*;

use std::time::{Duration, Instant};

use fleetdeck::action::{Action, Pane};
use fleetdeck::app::model::{Model, ModelSettings};
use fleetdeck::app::msg::Msg;
use fleetdeck::app::update::update;
use fleetdeck::cluster::{ContextSpec, EngineEvent};
use fleetdeck::fleet::failure::{ErrorInfo, Failure};
use fleetdeck::fleet::kind::Kind;
use fleetdeck::fleet::probes::{Handshake, Sample};
use fleetdeck::fleet::summary::{ObjectKey, Summary};

/// The hub's Flux objects: two sources, the hub's own Kustomization, and two per spoke.
/// fleet-policies moved from R1 to R2 at t(900) while fleetdeck watched.
fn hub_flux(events: &mut Vec<EngineEvent>) {
    let at = |ns: &str, name: &str| -> ObjectKey { (ns.into(), name.into()) };
    events.push(EngineEvent::Relist {
        cluster: 0,
        kind: Kind::GitRepository,
        items: vec![(at("flux-system", "fleet-policies"), source("GitRepository", "fleet-policies", R1, 300))],
        at: t(20),
    });
    events.push(EngineEvent::Relist {
        cluster: 0,
        kind: Kind::OciRepository,
        items: vec![(at("flux-system", "platform-config"), source("OCIRepository", "platform-config", OCI, 100))],
        at: t(20),
    });
    let remote = |ns: &str, name: &str, state: Ks| {
        let (kind, src) =
            if name == "policies" { ("GitRepository", "fleet-policies") } else { ("OCIRepository", "platform-config") };
        (at(ns, name), kustomization(ns, name, kind, src, state, true))
    };
    let mut items = vec![(
        at("flux-system", "flux-system"),
        kustomization("flux-system", "flux-system", "GitRepository", "fleet-policies", Ks::Ready(R1, 302), false),
    )];
    for spoke in ["production-eu-1", "production-us-1", "staging-eu-1", "production-ap-1"] {
        items.push(remote(spoke, "policies", Ks::Ready(R1, 309)));
        let config = match spoke {
            "staging-eu-1" => Ks::Failed(
                OCI,
                "HealthCheckFailed",
                "Health check failed after 3m0s: timeout waiting for: [Deployment/payments/api status: 'InProgress']",
            ),
            "production-ap-1" => Ks::Suspended(OCI, 107),
            _ => Ks::Ready(OCI, 106),
        };
        items.push(remote(spoke, "config", config));
    }
    events.push(EngineEvent::Relist { cluster: 0, kind: Kind::Kustomization, items, at: t(20) });
    // A new revision, and what the spokes made of it.
    let observed = Instant::now();
    let change = |kind: Kind, key: ObjectKey, summary: Summary, when: i64| EngineEvent::Changes {
        cluster: 0,
        kind,
        changes: vec![(key, Some(summary))],
        observed,
        at: t(when),
    };
    let r2 = source("GitRepository", "fleet-policies", R2, 900);
    events.push(change(Kind::GitRepository, at("flux-system", "fleet-policies"), r2, 901));
    let own = kustomization("flux-system", "flux-system", "GitRepository", "fleet-policies", Ks::Ready(R2, 902), false);
    events.push(change(Kind::Kustomization, at("flux-system", "flux-system"), own, 903));
    let (key, eu) = remote("production-eu-1", "policies", Ks::Ready(R2, 912));
    events.push(change(Kind::Kustomization, key, eu, 913));
    let (key, ap) = remote("production-ap-1", "policies", Ks::Ready(R2, 941));
    events.push(change(Kind::Kustomization, key, ap, 942));
    let refused = "failed to get server groups: Get \"https://production-us-1.example:6443/api?timeout=32s\": dial tcp 10.0.3.1:6443: connect: connection refused";
    let (key, us) = remote("production-us-1", "policies", Ks::Failed(R1, "ReconciliationFailed", refused));
    events.push(change(Kind::Kustomization, key, us, 961));
    let (key, st) = remote("staging-eu-1", "policies", Ks::Reconciling(R1));
    events.push(change(Kind::Kustomization, key, st, 991));
}

/// Policy reports on the spokes; edge-eu-1 has no report CRDs.
fn reports(events: &mut Vec<EngineEvent>) {
    let no_team = (
        "require-labels",
        "check-team",
        "worker",
        "validation error: The label `team` is required. rule check-team failed at path /metadata/labels/team/",
    );
    let registry = (
        "restrict-image-registries",
        "validate-registries",
        "api",
        "validation error: Unknown image registry. rule validate-registries failed at path /spec/template/spec/containers/0/image/",
    );
    let per_cluster: [(usize, Vec<(ObjectKey, Summary)>); 4] = [
        (2, vec![report("payments", &[no_team], 7)]),
        (3, vec![report("payments", &[], 8)]),
        (4, vec![report("payments", &[no_team, registry], 6), report("storefront", &[], 4)]),
        (0, vec![]),
    ];
    for (cluster, items) in per_cluster {
        if cluster == 0 {
            continue;
        }
        events.push(EngineEvent::Relist { cluster, kind: Kind::PolicyReport, items, at: t(25) });
        events.push(EngineEvent::Relist { cluster, kind: Kind::ClusterPolicyReport, items: vec![], at: t(25) });
    }
    for kind in [Kind::PolicyReport, Kind::ClusterPolicyReport] {
        events.push(EngineEvent::NotInstalled { cluster: 1, kind });
        events.push(EngineEvent::NotInstalled { cluster: 0, kind });
    }
}

/// Velero on every cluster, at 2026-11-18 11:23:20 (t(1000)): the hub is fine; edge-eu-1
/// runs Velero with no schedule; production-eu-1's last hourly backup failed (its RPO
/// still holds) and it has restores, one running; production-us-1's storage is down;
/// staging-eu-1's daily schedule is paused and days late.
fn velero_objects(events: &mut Vec<EngineEvent>) {
    let ok_daily = || backup("daily-full", "2026-11-18T01:00:00Z", "Completed", 0, 0);
    type Objects = Vec<(ObjectKey, Summary)>;
    let per_cluster: [(usize, Objects, Objects, Objects, bool); 5] = [
        (
            0,
            vec![schedule("daily-full", "0 1 * * *", false), schedule("hourly-config", "0 * * * *", false)],
            vec![
                ok_daily(),
                backup("hourly-config", "2026-11-18T11:00:00Z", "Completed", 0, 0),
                backup("hourly-config", "2026-11-18T10:00:00Z", "Completed", 0, 0),
            ],
            vec![],
            true,
        ),
        (1, vec![], vec![], vec![], true),
        (
            2,
            vec![schedule("daily-full", "0 1 * * *", false), schedule("hourly-config", "0 * * * *", false)],
            vec![
                backup("daily-full", "2026-11-18T01:00:00Z", "Completed", 0, 2),
                backup("daily-full", "2026-11-17T01:00:00Z", "Completed", 0, 0),
                backup("hourly-config", "2026-11-18T11:00:00Z", "Failed", 1, 0),
                backup("hourly-config", "2026-11-18T10:00:00Z", "Completed", 0, 0),
                backup("hourly-config", "2026-11-18T09:00:00Z", "Failed", 1, 0),
            ],
            vec![
                restore(
                    "daily-full-20261117010000-20261118090000",
                    "daily-full-20261117010000",
                    "Completed",
                    "2026-11-18T09:00:00Z",
                    42,
                ),
                restore(
                    "daily-full-20261118010000-20261118112000",
                    "daily-full-20261118010000",
                    "InProgress",
                    "2026-11-18T11:20:00Z",
                    0,
                ),
            ],
            true,
        ),
        (
            3,
            vec![schedule("daily-full", "0 1 * * *", false), schedule("hourly-config", "0 * * * *", false)],
            vec![
                ok_daily(),
                backup("hourly-config", "2026-11-18T11:00:00Z", "InProgress", 0, 0),
                backup("hourly-config", "2026-11-18T10:00:00Z", "Completed", 0, 0),
            ],
            vec![],
            false,
        ),
        (
            4,
            vec![schedule("daily-full", "0 1 * * *", true), schedule("hourly-config", "0 * * * *", false)],
            vec![
                backup("daily-full", "2026-11-14T01:00:00Z", "Completed", 0, 0),
                backup("hourly-config", "2026-11-18T11:00:00Z", "Completed", 0, 0),
            ],
            vec![],
            true,
        ),
    ];
    for (cluster, schedules, backups, restores, available) in per_cluster {
        events.push(EngineEvent::Relist { cluster, kind: Kind::Schedule, items: schedules, at: t(30) });
        events.push(EngineEvent::Relist { cluster, kind: Kind::Backup, items: backups, at: t(30) });
        events.push(EngineEvent::Relist { cluster, kind: Kind::Restore, items: restores, at: t(30) });
        events.push(EngineEvent::Relist {
            cluster,
            kind: Kind::BackupStorageLocation,
            items: vec![storage(available)],
            at: t(30),
        });
    }
}

/// A fleet of five contexts and a registration no context reaches, at t(1000).
fn model() -> Model {
    let names = ["hub", "edge-eu-1", "production-eu-1", "production-us-1", "staging-eu-1"];
    let specs: Vec<ContextSpec> = names.iter().map(|n| common::spec(n)).collect();
    let settings = ModelSettings {
        vantage: "ops-laptop (where fleetdeck runs)".into(),
        writable: true,
        ..ModelSettings::default()
    };
    let mut m = Model::new(&specs, settings, t(0));
    let mut events = Vec::new();
    let versions = ["v1.33.4", "v1.33.2", "v1.33.2", "v1.32.8", "v1.32.8"];
    for (id, name) in names.iter().enumerate() {
        let uid = format!("{:08x}-1111-4222-a333-{:012x}", 0x5eed_0000_u32 + id as u32, id);
        let handshake = Handshake { took: Duration::from_millis(9 + id as u64), busy: false };
        events.push(EngineEvent::Connected {
            cluster: id,
            version: versions[id].into(),
            uid: Some(uid),
            handshake,
            at: t(10),
        });
        let mut nodes = vec![
            node(&format!("{name}-control-plane"), true, &["control-plane"]),
            node(&format!("{name}-worker-1"), true, &[]),
        ];
        if *name == "production-eu-1" {
            nodes.push(node(&format!("{name}-worker-2"), false, &[]));
        }
        events.push(EngineEvent::Relist { cluster: id, kind: Kind::Node, items: nodes, at: t(20) });
        let mut deployments = if id == 0 {
            vec![workload("flux-system", "kustomize-controller", 1), workload("flux-system", "source-controller", 1)]
        } else {
            vec![]
        };
        let velero_ready = if *name == "staging-eu-1" { 0 } else { 1 };
        deployments.push(workload("velero", "velero", velero_ready));
        events.push(EngineEvent::Relist { cluster: id, kind: Kind::Deployment, items: deployments, at: t(20) });
    }
    let hub_secrets = vec![
        registration("production-eu-1", Some("5eed0002-1111-4222-a333-000000000002")),
        registration("production-us-1", Some("5eed0003-1111-4222-a333-000000000003")),
        registration("staging-eu-1", Some("deadbeef-0000-4000-a000-000000000000")),
        registration("production-ap-1", None),
    ];
    hub_flux(&mut events);
    events.push(EngineEvent::Relist { cluster: 0, kind: Kind::SpokeSecret, items: hub_secrets, at: t(20) });
    reports(&mut events);
    velero_objects(&mut events);
    // Probes every 5 s; production-us-1 has been failing for the last 25 s.
    for step in 0..200 {
        let at = t(5 + step * 5);
        for (id, name) in names.iter().enumerate() {
            let outcome = match (*name, step) {
                ("production-us-1", s) if s >= 195 => Err(Failure::Unreachable),
                ("staging-eu-1", s) => Ok(Duration::from_micros(80_000 + (s as u64 % 7) * 9_000)),
                (_, s) => Ok(Duration::from_micros(1_500 + (s as u64 % 5) * 700 + id as u64 * 300)),
            };
            events.push(EngineEvent::Probe { cluster: id, sample: Sample::new(at, outcome) });
        }
    }
    events.push(EngineEvent::WatchFailed {
        cluster: 3,
        kind: Kind::Node,
        error: ErrorInfo::new(Failure::Unreachable, "watch: connection refused", t(990)),
    });
    let (key, summary) = node("edge-eu-1-worker-1", true, &[]);
    events.push(EngineEvent::Changes {
        cluster: 1,
        kind: Kind::Node,
        changes: vec![(key, Some(summary))],
        observed: Instant::now(),
        at: t(998),
    });
    for e in events {
        update(&mut m, Msg::Engine(e));
    }
    m
}

fn render(model: &Model, width: u16, height: u16) -> String {
    common::render(model, t(1000), width, height)
}

fn with(model: &Model, actions: &[Action]) -> Model {
    let mut m = model.clone();
    for a in actions {
        update(&mut m, Msg::Action(*a));
    }
    m
}

#[test]
fn health_pane() {
    let m = model();
    insta::assert_snapshot!("health_80x24", render(&m, 80, 24));
    insta::assert_snapshot!("health_160x48", render(&m, 160, 48));
    // The selected cluster's cause in full in the footer, where its row has room for a
    // word (at 120x40 the state cell carries it too).
    let m = with(&model(), &[Action::Down, Action::Down, Action::Down]);
    let screen = render(&m, 120, 40);
    let status = screen.lines().rev().filter(|l| !l.trim().is_empty()).nth(1).unwrap_or_default();
    assert_eq!(status.trim_end(), "production-us-1: watch: connection refused (10s ago)", "{screen}");
    assert!(screen.contains("Degraded 20s · refused"), "{screen}");
}

#[test]
fn latency_pane() {
    let m = with(&model(), &[Action::Pane(Pane::Latency)]);
    insta::assert_snapshot!("latency_80x24", render(&m, 80, 24));
    insta::assert_snapshot!("latency_160x48", render(&m, 160, 48));
}

#[test]
fn cluster_detail() {
    let m = with(&model(), &[Action::Down, Action::Down, Action::Open]);
    assert_eq!(m.ui.detail, Some(common::cluster_key(&m, "production-eu-1")));
    insta::assert_snapshot!("detail_80x24", render(&m, 80, 24));
    insta::assert_snapshot!("detail_160x48", render(&m, 160, 48));
}

#[test]
fn help_filter_and_a_small_terminal() {
    let m = with(&model(), &[Action::Help]);
    insta::assert_snapshot!("help_80x24", render(&m, 80, 24));
    let mut filtered = model();
    update(&mut filtered, Msg::Action(Action::Filter));
    for c in "prod".chars() {
        update(&mut filtered, Msg::FilterEdit(tui_input::InputRequest::InsertChar(c)));
    }
    insta::assert_snapshot!("filter_editing_80x24", render(&filtered, 80, 24));
    insta::assert_snapshot!("too_small", render(&model(), 50, 10));
}

#[test]
fn propagation_pane() {
    let m = with(&model(), &[Action::Pane(Pane::Propagation)]);
    let narrow = render(&m, 80, 24);
    assert!(narrow.contains("SYNC"), "80 columns collapse the matrix into a summary:\n{narrow}");
    insta::assert_snapshot!("propagation_80x24", narrow);
    let wide = render(&m, 200, 50);
    assert!(wide.contains("POLICIES") && wide.contains("CONFIG"), "200 columns show the matrix:\n{wide}");
    insta::assert_snapshot!("propagation_200x50", wide);
}

#[test]
fn propagation_detail() {
    // staging-eu-1: reconciling past the target, a failed health check, two violations.
    let m = with(&model(), &[Action::Pane(Pane::Propagation), Action::Bottom, Action::Up, Action::Open]);
    assert_eq!(m.ui.detail, Some(common::cluster_key(&m, "staging-eu-1")));
    insta::assert_snapshot!("propagation_detail_80x24", render(&m, 80, 24));
    insta::assert_snapshot!("propagation_detail_200x50", render(&m, 200, 50));
}

#[test]
fn backups_pane() {
    let m = with(&model(), &[Action::Pane(Pane::Backups)]);
    let narrow = render(&m, 80, 24);
    insta::assert_snapshot!("backups_80x24", narrow);
    let wide = render(&m, 200, 50);
    insta::assert_snapshot!("backups_200x50", wide);
    // Worst first: the late and storage-down schedules lead, the healthy ones close.
    let states: Vec<&str> = wide
        .lines()
        .skip_while(|l| !l.starts_with("CLUSTER"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.get(32..48).unwrap_or("").trim())
        .collect();
    assert!(states[0].starts_with("late"), "{states:?}");
    let first_ok = states.iter().position(|s| *s == "ok").unwrap();
    assert!(states[first_ok..].iter().all(|s| *s == "ok"), "{states:?}");
    assert!(wide.contains("storage down") && wide.contains("no schedule") && wide.contains("last failed"), "{wide}");
    assert!(wide.contains("3/5 clusters within RPO") || wide.contains("clusters within RPO"), "{wide}");
}

#[test]
fn backups_detail() {
    // production-eu-1's hourly schedule: a failed attempt after a good backup.
    let mut m = with(&model(), &[Action::Pane(Pane::Backups)]);
    let cluster = m.fleet.by_name("production-eu-1").unwrap();
    let schedule = Some(("velero".to_owned(), "hourly-config".to_owned()));
    let key = fleetdeck::derive::RowKey::Backup { cluster, schedule };
    while fleetdeck::app::update::selected(&mut m, Pane::Backups) != Some(key.clone()) {
        update(&mut m, Msg::Action(Action::Down));
    }
    let m = with(&m, &[Action::Open, Action::Down]);
    let narrow = render(&m, 80, 24);
    insta::assert_snapshot!("backups_detail_80x24", narrow);
    let wide = render(&m, 200, 50);
    assert!(wide.contains("› hourly-config-20261118100000"), "the second backup is selected:\n{wide}");
    assert!(wide.contains("410/640 items"), "the running restore's progress:\n{wide}");
    insta::assert_snapshot!("backups_detail_200x50", wide);
}

#[test]
fn missing_crds_are_said_once_and_calmly() {
    let mut m = with(&model(), &[Action::Pane(Pane::Propagation)]);
    for kind in [Kind::PolicyReport, Kind::ClusterPolicyReport] {
        update(&mut m, Msg::Engine(EngineEvent::NotInstalled { cluster: 3, kind }));
    }
    let screen = render(&m, 120, 30);
    // edge-eu-1 (a candidate) has no report CRDs either.
    assert_eq!(screen.matches("policy reports not installed on 2 clusters").count(), 1, "{screen}");
    assert_eq!(screen.matches("not installed").count(), 1, "said once:\n{screen}");
    for kind in [Kind::Kustomization, Kind::GitRepository, Kind::OciRepository] {
        update(&mut m, Msg::Engine(EngineEvent::NotInstalled { cluster: 0, kind }));
    }
    let screen = render(&m, 120, 30);
    assert!(screen.contains("Flux is not installed on the hub (context hub)"), "{screen}");
    assert!(!screen.contains("failed") && !screen.contains("error"), "calm, not an error:\n{screen}");
    insta::assert_snapshot!("propagation_without_flux_120x30", screen);
}

#[test]
fn copy_keys_put_the_name_or_a_kubectl_command_on_the_clipboard() {
    use fleetdeck::app::msg::Effect;
    let mut m = model();
    let copied = |m: &mut Model, a: Action| update(m, Msg::Action(a));
    assert_eq!(copied(&mut m, Action::Copy), vec![Effect::Copy("hub".into())]);
    assert_eq!(copied(&mut m, Action::CopyCommand), vec![Effect::Copy("kubectl --context hub get nodes".into())]);
    assert!(m.ui.notice.as_ref().is_some_and(|(text, _)| text.contains("copied the kubectl command")));
    update(&mut m, Msg::Action(Action::Pane(Pane::Propagation)));
    // A candidate the hub does not know: its own Kustomizations; a spoke: its namespace on the hub.
    assert_eq!(
        copied(&mut m, Action::CopyCommand),
        vec![Effect::Copy("kubectl --context edge-eu-1 get kustomizations.kustomize.toolkit.fluxcd.io -A".into())]
    );
    update(&mut m, Msg::Action(Action::Down));
    assert_eq!(
        copied(&mut m, Action::CopyCommand),
        vec![Effect::Copy(
            "kubectl --context hub get kustomizations.kustomize.toolkit.fluxcd.io -n production-eu-1".into()
        )]
    );
    update(&mut m, Msg::Action(Action::Pane(Pane::Backups)));
    // The worst row first: staging-eu-1's paused, late daily schedule.
    let command =
        "kubectl --context staging-eu-1 get backups.velero.io -n velero -l 'velero.io/schedule-name=daily-full'";
    assert_eq!(copied(&mut m, Action::CopyCommand), vec![Effect::Copy(command.into())]);
}

/// A context the kubeconfig cannot give a client for is counted as misconfigured in the
/// footer, not as unauthorized.
#[test]
fn a_misconfigured_context_is_counted_as_such() {
    let mut m = model();
    let error = ErrorInfo::new(
        Failure::Config,
        "kubeconfig: context edge-eu-1 names user \"ghost\", which is not defined",
        t(970),
    );
    update(&mut m, Msg::Engine(EngineEvent::ConnectFailed { cluster: 1, error }));
    update(&mut m, Msg::Tick(t(1000)));
    let screen = render(&m, 160, 48);
    assert!(screen.contains("Misconfigured · kubeconfig"), "{screen}");
    let footer = screen.lines().rev().filter(|l| !l.trim().is_empty()).nth(1).unwrap_or_default();
    assert!(footer.contains("1 misconfigured") && !footer.contains("unauthorized"), "{footer}");
}
