//! The engine against the simulated fleet: every context connected at once, watched and
//! probed over one HTTP/2 connection each, folded into the model; faults seen there.

use crate::common;

use common::{contexts_of, fast, settings, states, until};

use std::sync::atomic::Ordering;
use std::time::Duration;

use fleetdeck::app::model::Model;
use fleetdeck::cluster::Engine;
use fleetdeck::fleet::cluster::State;
use fleetdeck::fleet::kind::Kind;
use fleetdeck::fleet::registry::Role;
use fleetdeck::sim::{Access, Fleet, OutageMode, Scenario, SimOptions};
use jiff::Timestamp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_context_goes_live_on_one_http2_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut scenario = Scenario::builtin("default");
    scenario.fleet.candidates = 1;
    let fleet = Fleet::start(SimOptions {
        spokes: Some(2),
        scenario,
        audit_dir: Some(dir.path().into()),
        behaviour: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let specs = contexts_of(&fleet, Access::Admin).await;
    let mut model = Model::new(&specs, settings(), Timestamp::now());
    let (engine, mut rx) = Engine::start(specs, fast());
    let live = until(&mut model, &mut rx, Duration::from_secs(15), |m| states(m).iter().all(|s| *s == "Live")).await;
    assert!(live, "every cluster Live: {:?}", states(&model));

    let by_name = |n: &str| &model.fleet.clusters()[model.fleet.by_name(n).unwrap()];
    assert_eq!(by_name("hub").version.as_deref(), Some("v1.33.4"));
    assert_eq!(by_name("hub").node_counts(), (3, 3));
    assert_eq!(by_name("staging-eu-1").uid.as_deref(), Some(fleet.require("staging-eu-1").unwrap().uid.as_str()));
    assert_eq!(by_name("hub").component("flux-system"), Some(true));
    assert_eq!(by_name("staging-eu-1").component("flux-system"), None, "spokes run no Flux");
    assert_eq!(by_name("staging-eu-1").component("velero"), Some(true));
    let roles: Vec<(String, Role)> = model
        .fleet
        .clusters()
        .iter()
        .enumerate()
        .map(|(i, c)| (c.context.clone(), model.fleet.role(i).role()))
        .collect();
    assert_eq!(
        roles,
        [
            ("hub".into(), Role::Hub),
            ("edge-eu-1".into(), Role::Candidate),
            ("production-eu-1".into(), Role::Spoke),
            ("staging-eu-1".into(), Role::Spoke)
        ]
    );

    // Let a few probes run, then check the connection count.
    until(&mut model, &mut rx, Duration::from_secs(1), |_| false).await;
    for cluster in fleet.clusters() {
        assert_eq!(cluster.stats.connections.load(Ordering::Relaxed), 1, "{}: one connection", cluster.name());
        assert_eq!(cluster.stats.http2_connections.load(Ordering::Relaxed), 1, "{}: HTTP/2", cluster.name());
    }
    let audit = std::fs::read_to_string(dir.path().join("hub.log")).unwrap();
    assert!(
        audit.contains(&format!("\"userAgent\":\"fleetdeck/{}\"", env!("CARGO_PKG_VERSION"))),
        "requests name fleetdeck"
    );
    engine.stop().await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_readyz_is_probed_at_livez_then_version() {
    use fleetdeck::fleet::probes::Endpoint;
    use fleetdeck::sim::NoHealth;
    let fleet = common::still_fleet(2).await;
    fleet.require("staging-eu-1").unwrap().faults.update(|f| f.no_health = Some(NoHealth::Readyz));
    fleet.require("production-eu-1").unwrap().faults.update(|f| f.no_health = Some(NoHealth::ReadyzAndLivez));
    let specs = contexts_of(&fleet, Access::Admin).await;
    let mut model = Model::new(&specs, settings(), Timestamp::now());
    let (engine, mut rx) = Engine::start(specs, fast());
    let probed =
        |m: &Model| m.fleet.clusters().iter().all(|c| c.probes.samples().filter(|s| s.outcome.is_ok()).count() >= 3);
    let live =
        until(&mut model, &mut rx, Duration::from_secs(15), |m| states(m).iter().all(|s| *s == "Live") && probed(m))
            .await;
    assert!(live, "a missing /readyz does not make a cluster fail: {:?}", states(&model));
    let endpoint = |n: &str| model.fleet.clusters()[model.fleet.by_name(n).unwrap()].probe_endpoint;
    assert_eq!(endpoint("hub"), Endpoint::Readyz);
    assert_eq!(endpoint("staging-eu-1"), Endpoint::Livez);
    assert_eq!(endpoint("production-eu-1"), Endpoint::Version);
    engine.stop().await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_seen_degraded_then_unreachable_then_live_again() {
    let fleet = common::still_fleet(1).await;
    let specs = contexts_of(&fleet, Access::Admin).await;
    let mut model = Model::new(&specs, settings(), Timestamp::now());
    let (engine, mut rx) = Engine::start(specs, fast());
    assert!(until(&mut model, &mut rx, Duration::from_secs(15), |m| states(m).iter().all(|s| *s == "Live")).await);
    let spoke = fleet.require("staging-eu-1").unwrap().clone();
    spoke.faults.update(|f| f.outage = Some(OutageMode::Refused));
    let idx = model.fleet.by_name("staging-eu-1").unwrap();
    let degraded = until(&mut model, &mut rx, Duration::from_secs(5), |m| states(m)[idx] == "Degraded").await;
    assert!(degraded, "{:?}", states(&model));
    assert_eq!(states(&model)[0], "Live", "the hub is not affected");
    let unreachable = until(&mut model, &mut rx, Duration::from_secs(6), |m| states(m)[idx] == "Unreachable").await;
    assert!(unreachable, "{:?}", states(&model));
    match model.fleet.clusters()[idx].state(model.now, model.fleet.settings.thresholds) {
        State::Unreachable { error, .. } => assert!(error.failure.is_connectivity(), "{error:?}"),
        other => panic!("{other:?}"),
    }
    let since = |m: &Model| match m.fleet.clusters()[idx].state(m.now, m.fleet.settings.thresholds) {
        State::Unreachable { since, .. } | State::Degraded { since, .. } => Some(since),
        _ => None,
    };
    let outage_began = since(&model);
    // Still out: the watches retry and fail again, the outage's start does not move.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = until(&mut model, &mut rx, Duration::from_millis(100), |_| false).await;
    assert_eq!(since(&model), outage_began, "the outage counts from its start");
    spoke.faults.update(|f| f.outage = None);
    // The watches were backing off (several seconds by now); the first good probe ends
    // the wait, so the cluster is Live about a probe interval (200 ms here) after it
    // answers again.
    let back = until(&mut model, &mut rx, Duration::from_millis(2500), |m| states(m)[idx] == "Live").await;
    assert!(back, "Live within a probe interval or so of answering again: {:?}", states(&model));
    engine.stop().await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_a_missing_crd_and_a_read_only_user() {
    let fleet = common::still_fleet(1).await;
    let specs = contexts_of(&fleet, Access::ReadOnly).await;
    let mut model = Model::new(&specs, settings(), Timestamp::now());
    let (engine, mut rx) = Engine::start(specs, fast());
    // The read-only user may not read Secrets: the cluster is still Live.
    assert!(
        until(&mut model, &mut rx, Duration::from_secs(15), |m| states(m).iter().all(|s| *s == "Live")).await,
        "{:?}",
        states(&model)
    );
    let roles: Vec<Role> = (0..2).map(|i| model.fleet.role(i).role()).collect();
    assert_eq!(roles, [Role::Hub, Role::Spoke], "joined by name without the Secrets");

    fleet.hub().remove_crd("kustomizations.kustomize.toolkit.fluxcd.io").unwrap();
    let calm = until(&mut model, &mut rx, Duration::from_secs(10), |m| {
        m.fleet.clusters()[0].missing_kinds().contains(&Kind::Kustomization)
    })
    .await;
    assert!(calm, "the kind is marked not installed");
    assert_eq!(states(&model)[0], "Live", "a missing CRD is not an error");

    fleet.require("staging-eu-1").unwrap().faults.update(|f| f.reject_credentials = true);
    let unauthorized = until(&mut model, &mut rx, Duration::from_secs(5), |m| states(m)[1] == "Unauthorized").await;
    assert!(unauthorized, "{:?}", states(&model));
    engine.stop().await;
    fleet.stop().await;
}
