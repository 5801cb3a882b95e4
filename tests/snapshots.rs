//! The panes as drawn: TestBackend snapshots at 80x24 and 160x48 with a fixed clock and a
//! model built from recorded engine events.

use std::time::{Duration, Instant};

use fleetdeck::app::model::{Model, ModelSettings};
use fleetdeck::app::msg::{Action, Msg, Pane};
use fleetdeck::app::update::update;
use fleetdeck::cluster::{ContextSpec, EngineEvent};
use fleetdeck::fleet::failure::{ErrorInfo, Failure};
use fleetdeck::fleet::kind::Kind;
use fleetdeck::fleet::probes::Sample;
use fleetdeck::fleet::summary::{
    Condition, KustomizationSummary, NodeSummary, ObjectKey, SpokeSecret, Summary, WorkloadSummary,
};
use fleetdeck::input::Keymap;
use fleetdeck::ui::{Screen, Theme};
use fleetdeck::view::screen;
use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + s).unwrap()
}

fn spec(name: &str) -> ContextSpec {
    ContextSpec {
        name: name.into(),
        server: format!("https://{name}.example:6443"),
        is_hub: name == "hub",
        config: Err("snapshot".into()),
    }
}

fn node(name: &str, ready: bool, roles: &[&str]) -> (ObjectKey, Summary) {
    let mut conditions = vec![Condition {
        type_: "MemoryPressure".into(),
        status: "False".into(),
        reason: "KubeletHasSufficientMemory".into(),
        message: String::new(),
        since: Some(t(0)),
    }];
    conditions.push(if ready {
        Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "KubeletReady".into(),
            message: String::new(),
            since: Some(t(0)),
        }
    } else {
        Condition {
            type_: "Ready".into(),
            status: "Unknown".into(),
            reason: "NodeStatusUnknown".into(),
            message: "Kubelet stopped posting node status.".into(),
            since: Some(t(900)),
        }
    });
    let n = NodeSummary {
        name: name.into(),
        ready: if ready { "True" } else { "Unknown" }.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        kubelet: "v1.33.4".into(),
        unschedulable: false,
        conditions,
    };
    (("".into(), name.into()), Summary::Node(n))
}

fn workload(ns: &str, name: &str, ready: i64) -> (ObjectKey, Summary) {
    (
        (ns.into(), name.into()),
        Summary::Workload(WorkloadSummary { namespace: ns.into(), name: name.into(), replicas: 1, ready }),
    )
}

fn registration(spoke: &str, uid: Option<&str>) -> Vec<(Kind, ObjectKey, Summary)> {
    let ks = |name: &str| KustomizationSummary {
        namespace: spoke.into(),
        name: name.into(),
        kubeconfig_secret: Some("cluster-kubeconfig".into()),
        source_kind: "GitRepository".into(),
        source_name: "fleet-policies".into(),
        source_namespace: "flux-system".into(),
        ..Default::default()
    };
    let secret = SpokeSecret {
        namespace: spoke.into(),
        name: "cluster-kubeconfig".into(),
        cluster_uid: uid.map(str::to_owned),
        ..Default::default()
    };
    vec![
        (Kind::Kustomization, (spoke.into(), "policies".into()), Summary::Kustomization(ks("policies"))),
        (Kind::SpokeSecret, (spoke.into(), "cluster-kubeconfig".into()), Summary::SpokeSecret(secret)),
    ]
}

/// A fleet of five contexts and a registration no context reaches, at t(1000).
fn model() -> Model {
    let names = ["hub", "edge-eu-1", "production-eu-1", "production-us-1", "staging-eu-1"];
    let specs: Vec<ContextSpec> = names.iter().map(|n| spec(n)).collect();
    let settings = ModelSettings { vantage: "ops-laptop (where fleetdeck runs)".into(), ..ModelSettings::default() };
    let mut m = Model::new(&specs, settings, t(0));
    let mut events = Vec::new();
    let versions = ["v1.33.4", "v1.33.2", "v1.33.2", "v1.32.8", "v1.32.8"];
    for (id, name) in names.iter().enumerate() {
        let uid = format!("{:08x}-1111-4222-a333-{:012x}", 0x5eed_0000_u32 + id as u32, id);
        events.push(EngineEvent::Connected { cluster: id, version: versions[id].into(), uid: Some(uid), at: t(10) });
        let mut nodes = vec![
            node(&format!("{name}-control-plane"), true, &["control-plane"]),
            node(&format!("{name}-worker-1"), true, &[]),
        ];
        if *name == "production-eu-1" {
            nodes.push(node(&format!("{name}-worker-2"), false, &[]));
        }
        events.push(EngineEvent::Relist { cluster: id, kind: Kind::Node, items: nodes, at: t(20) });
        let flux = if id == 0 {
            vec![workload("flux-system", "kustomize-controller", 1), workload("flux-system", "source-controller", 1)]
        } else {
            vec![]
        };
        events.push(EngineEvent::Relist { cluster: id, kind: Kind::FluxWorkload, items: flux, at: t(20) });
        let velero_ready = if *name == "staging-eu-1" { 0 } else { 1 };
        events.push(EngineEvent::Relist {
            cluster: id,
            kind: Kind::VeleroWorkload,
            items: vec![workload("velero", "velero", velero_ready)],
            at: t(20),
        });
    }
    let mut hub_ks = Vec::new();
    let mut hub_secrets = Vec::new();
    for (spoke, uid) in [
        ("production-eu-1", Some("5eed0002-1111-4222-a333-000000000002")),
        ("production-us-1", Some("5eed0003-1111-4222-a333-000000000003")),
        ("staging-eu-1", Some("deadbeef-0000-4000-a000-000000000000")),
        ("production-ap-1", None),
    ] {
        for (kind, key, summary) in registration(spoke, uid) {
            if kind == Kind::Kustomization { hub_ks.push((key, summary)) } else { hub_secrets.push((key, summary)) }
        }
    }
    events.push(EngineEvent::Relist { cluster: 0, kind: Kind::Kustomization, items: hub_ks, at: t(20) });
    events.push(EngineEvent::Relist { cluster: 0, kind: Kind::SpokeSecret, items: hub_secrets, at: t(20) });
    // Probes every 5 s; production-us-1 has been failing for the last 25 s.
    for step in 0..200 {
        let at = t(5 + step * 5);
        for (id, name) in names.iter().enumerate() {
            let outcome = match (*name, step) {
                ("production-us-1", s) if s >= 195 => Err(Failure::Unreachable),
                ("staging-eu-1", s) => Ok(Duration::from_micros(80_000 + (s as u64 % 7) * 9_000)),
                (_, s) => Ok(Duration::from_micros(1_500 + (s as u64 % 5) * 700 + id as u64 * 300)),
            };
            events.push(EngineEvent::Probe { cluster: id, sample: Sample { at, outcome } });
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
    let config = fleetdeck::config::Config::load_from(None, None).unwrap();
    let keymap = Keymap::new(&config.keys).unwrap();
    let theme = Theme::plain();
    let vm = screen(model, keymap.hints(), t(1000), width, height);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| f.render_widget(Screen { vm: &vm, theme: &theme }, f.area())).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..height {
        let line: String = (0..width).map(|x| buffer[(x, y)].symbol().to_owned()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
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
    assert_eq!(m.ui.detail.as_deref(), Some("production-eu-1"));
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
