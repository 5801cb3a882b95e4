//! The engine against the simulated fleet: every context connected at once, watched and
//! probed over one HTTP/2 connection each, folded into the model; faults seen there.

use crate::common;

use common::{contexts_of, fast, settings, states, until};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
async fn a_server_without_http2_is_watched_over_http1() {
    let fleet = common::still_fleet(1).await;
    let spoke = fleet.require("staging-eu-1").unwrap().clone();
    spoke.faults.update(|f| f.http1_only = true);
    let specs = contexts_of(&fleet, Access::Admin).await;
    let mut model = Model::new(&specs, settings(), Timestamp::now());
    let (engine, mut rx) = Engine::start(specs, fast());
    assert!(until(&mut model, &mut rx, Duration::from_secs(15), |m| states(m).iter().all(|s| *s == "Live")).await);
    let idx = model.fleet.by_name("staging-eu-1").unwrap();
    assert_eq!(model.fleet.clusters()[idx].node_counts(), (3, 3), "listed over HTTP/1.1");
    // A change reaches the model through the watch, on a connection of its own.
    spoke.set_velero_storage(false);
    let unavailable = |m: &mut Model| m.fleet.clusters()[idx].storage.values().any(|s| s.phase == "Unavailable");
    assert!(until(&mut model, &mut rx, Duration::from_secs(10), unavailable).await, "the watch's change");
    let (all, http2) =
        (spoke.stats.connections.load(Ordering::Relaxed), spoke.stats.http2_connections.load(Ordering::Relaxed));
    assert_eq!(http2, 0, "no HTTP/2 where the server does not offer it");
    assert!(all > 1, "HTTP/1.1 takes a connection a watch ({all})");
    let hub = fleet.require("hub").unwrap();
    assert_eq!(hub.stats.http2_connections.load(Ordering::Relaxed), 1, "the others stay on HTTP/2");
    engine.stop().await;
    fleet.stop().await;
}

/// A TCP relay to `to` that can freeze: bytes stop moving both ways, the sockets stay
/// open, as when a network path silently drops everything. Counts the connections.
async fn relay(to: std::net::SocketAddr) -> (String, tokio::sync::watch::Sender<bool>, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let (frozen, watch) = tokio::sync::watch::channel(false);
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            let (mut client, mut server) = (client, tokio::net::TcpStream::connect(to).await.unwrap());
            let (mut frozen, mut thawed) = (watch.clone(), watch.clone());
            tokio::spawn(async move {
                let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                tokio::select! {
                    _ = copy => {}
                    _ = async { frozen.wait_for(|f| *f).await.is_ok() } => {
                        // Hold both sockets, moving nothing, until thawed.
                        let _ = thawed.wait_for(|f| !*f).await.is_ok();
                    }
                }
            });
        }
    });
    (url, frozen, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_does_not_answer_a_ping_is_closed_and_replaced() {
    use fleetdeck::cluster::transport::PING_TIMEOUT;
    use http_body_util::BodyExt;
    let fleet = common::still_fleet(0).await;
    let hub = fleet.require("hub").unwrap();
    let address = hub.info.server.trim_start_matches("https://").parse().unwrap();
    let (url, frozen, accepted) = relay(address).await;
    let mut config = common::config(&fleet, "hub", Access::Admin).await;
    config.cluster_url = url.parse().unwrap();
    let mut http = fleetdeck::cluster::client::build(config, Duration::from_secs(5), None).unwrap();
    assert_eq!(http.get("/readyz").await.unwrap().0, 200);
    let watch = http::Request::get("/api/v1/nodes?watch=true").body(kube::client::Body::empty()).unwrap();
    let mut watch = http.send(watch).await.unwrap().into_body();

    // The path goes silent: a request times out, the connection is suspected, its ping
    // goes unanswered and the connection is closed, which ends the watch on it.
    frozen.send_replace(true);
    assert!(tokio::time::timeout(Duration::from_millis(300), http.get("/readyz")).await.is_err());
    http.suspect();
    let ended = tokio::time::timeout(PING_TIMEOUT + Duration::from_secs(5), async {
        loop {
            match watch.frame().await {
                Some(Ok(_)) => continue,
                other => break other.is_none() || other.is_some_and(|f| f.is_err()),
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true), "the watch ends once the ping goes unanswered");
    frozen.send_replace(false);
    assert_eq!(http.get("/readyz").await.unwrap().0, 200, "the next request connects again");
    assert_eq!(accepted.load(Ordering::Relaxed), 2);
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_carries_its_time_on_the_wire() {
    let fleet = common::still_fleet(0).await;
    let hub = fleet.require("hub").unwrap();
    let config = common::config(&fleet, "hub", Access::Admin).await;
    let mut http = fleetdeck::cluster::client::build(config, Duration::from_secs(5), None).unwrap();
    assert_eq!(http.get("/readyz").await.unwrap().0, 200, "connected");
    hub.faults.update(|f| f.latency = Duration::from_millis(40));
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let (status, _, wire) = http.get("/readyz").await.unwrap();
        let took = started.elapsed();
        let wire = wire.expect("an HTTP/2 answer knows its time on the wire");
        assert_eq!(status, 200);
        assert!(wire >= Duration::from_millis(40) && wire <= took, "{wire:?} on the wire, {took:?} in all");
    }
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
