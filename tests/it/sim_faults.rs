//! Every fault the simulator can inject, as a client sees it.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{admin, eventually, live_fleet, status_code, still_fleet};
use fleetdeck::sim::{OutageMode, Scenario};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Api, DynamicObject, ListParams, PostParams, WatchEvent, WatchParams};
use kube::discovery::ApiResource;
use serde_json::json;

fn backups() -> ApiResource {
    ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("velero.io", "v1", "Backup"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_latency_delays_every_answer() {
    let fleet = still_fleet(1).await;
    let nodes: Api<Node> = Api::all(admin(&fleet, "staging-eu-1").await);
    nodes.list(&ListParams::default()).await.unwrap();
    fleet.require("staging-eu-1").unwrap().faults.update(|f| {
        f.latency = Duration::from_millis(300);
        f.jitter = Duration::from_millis(100);
    });
    let started = Instant::now();
    nodes.list(&ListParams::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300), "took {:?}", started.elapsed());
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_rate_answers_500() {
    let fleet = still_fleet(1).await;
    let nodes: Api<Node> = Api::all(admin(&fleet, "staging-eu-1").await);
    let cluster = fleet.require("staging-eu-1").unwrap();
    cluster.faults.update(|f| f.error_rate = 1.0);
    let err = nodes.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(status_code(&err), Some(500));
    if let kube::Error::Api(s) = &err {
        assert_eq!(s.reason, "InternalError");
    }
    cluster.faults.update(|f| f.error_rate = 0.0);
    assert!(nodes.list(&ListParams::default()).await.is_ok());
    fleet.stop().await;
}

fn is_refused(err: &kube::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = e.source();
    }
    format!("{err:?}").contains("Connection refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_outage_closes_the_port_and_recovers_on_the_same_port() {
    let fleet = still_fleet(1).await;
    let cluster = fleet.require("staging-eu-1").unwrap().clone();
    let nodes: Api<Node> = Api::all(admin(&fleet, "staging-eu-1").await);
    nodes.list(&ListParams::default()).await.unwrap();
    cluster.faults.update(|f| f.outage = Some(OutageMode::Refused));
    let refused = eventually(Duration::from_secs(5), || async {
        // A fresh client: the old one's pooled connection was cut too.
        let fresh: Api<Node> = Api::all(admin(&fleet, "staging-eu-1").await);
        match fresh.list(&ListParams::default()).await {
            Err(e) if is_refused(&e) => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(refused.is_some(), "connections are refused during the outage");
    cluster.faults.update(|f| f.outage = None);
    let back = eventually(Duration::from_secs(5), || async { nodes.list(&ListParams::default()).await.ok() }).await;
    assert!(back.is_some(), "the cluster answers again after the outage");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_outage_never_answers_until_it_ends() {
    let fleet = still_fleet(1).await;
    let cluster = fleet.require("staging-eu-1").unwrap().clone();
    let nodes: Api<Node> = Api::all(admin(&fleet, "staging-eu-1").await);
    nodes.list(&ListParams::default()).await.unwrap();
    cluster.faults.update(|f| f.outage = Some(OutageMode::Hanging));
    let hung = tokio::time::timeout(Duration::from_millis(800), nodes.list(&ListParams::default())).await;
    assert!(hung.is_err(), "no answer while hanging");
    let pending = {
        let nodes = nodes.clone();
        tokio::spawn(async move { nodes.list(&ListParams::default()).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished());
    cluster.faults.update(|f| f.outage = None);
    let answered =
        tokio::time::timeout(Duration::from_secs(5), pending).await.expect("answered after the hang").unwrap();
    assert!(answered.is_ok(), "the held request completes: {answered:?}");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_watches_end_the_stream() {
    let fleet = still_fleet(1).await;
    let cluster = fleet.require("staging-eu-1").unwrap().clone();
    let cms: Api<ConfigMap> = Api::namespaced(admin(&fleet, "staging-eu-1").await, "default");
    let mut once = cms.watch(&WatchParams::default().disable_bookmarks(), "0").await.unwrap().boxed();
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), once.next()).await {}
    cluster.faults.drop_watches();
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(event) = once.next().await {
            if event.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the watch stream ended when dropped");

    cluster.faults.update(|f| f.drop_watches_every = Some(Duration::from_millis(500)));
    let mut periodic = cms.watch(&WatchParams::default().disable_bookmarks(), "0").await.unwrap().boxed();
    let ended =
        tokio::time::timeout(Duration::from_secs(3), async { while let Some(Ok(_)) = periodic.next().await {} }).await;
    assert!(ended.is_ok(), "watches are cut periodically");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_storm_answers_410_to_open_and_new_watches() {
    let fleet = still_fleet(1).await;
    let cluster = fleet.require("staging-eu-1").unwrap().clone();
    let cms: Api<ConfigMap> = Api::namespaced(admin(&fleet, "staging-eu-1").await, "default");
    let rv = cms.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let mut open = cms.watch(&WatchParams::default().disable_bookmarks(), &rv).await.unwrap().boxed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.faults.update(|f| f.gone_storm = true);
    let first = tokio::time::timeout(Duration::from_secs(3), open.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&first, WatchEvent::Error(s) if s.code == 410), "{first:?}");
    let mut fresh = cms.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    let first = tokio::time::timeout(Duration::from_secs(3), fresh.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&first, WatchEvent::Error(s) if s.code == 410), "{first:?}");
    assert!(cms.list(&ListParams::default()).await.is_ok(), "lists still work: clients relist");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_answer_401_for_tokens_and_certificates() {
    let fleet = still_fleet(1).await;
    let hub_nodes: Api<Node> = Api::all(admin(&fleet, "hub").await);
    let spoke_nodes: Api<Node> = Api::all(admin(&fleet, "staging-eu-1").await);
    for cluster in fleet.clusters() {
        cluster.faults.update(|f| f.reject_credentials = true);
    }
    assert_eq!(
        status_code(&hub_nodes.list(&ListParams::default()).await.unwrap_err()),
        Some(401),
        "client certificate"
    );
    assert_eq!(status_code(&spoke_nodes.list(&ListParams::default()).await.unwrap_err()), Some(401), "bearer token");
    for cluster in fleet.clusters() {
        cluster.faults.update(|f| f.reject_credentials = false);
    }
    assert!(hub_nodes.list(&ListParams::default()).await.is_ok());
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanishing_crd_takes_its_kind_from_discovery_and_routes() {
    let fleet = still_fleet(1).await;
    let cluster = fleet.require("staging-eu-1").unwrap().clone();
    let client = admin(&fleet, "staging-eu-1").await;
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &backups());
    assert!(!api.list(&ListParams::default()).await.unwrap().items.is_empty());
    let mut watch = api.watch(&WatchParams::default().disable_bookmarks(), "0").await.unwrap().boxed();
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), watch.next()).await {}

    cluster.remove_crd("backups.velero.io").unwrap();
    assert_eq!(status_code(&api.list(&ListParams::default()).await.unwrap_err()), Some(404));
    let groups = kube::discovery::Discovery::new(client.clone()).run().await.unwrap();
    let velero = groups.get("velero.io").expect("the group stays for the other kinds");
    assert!(velero.recommended_resources().iter().all(|(r, _)| r.kind != "Backup"));
    let ended =
        tokio::time::timeout(Duration::from_secs(3), async { while let Some(Ok(_)) = watch.next().await {} }).await;
    assert!(ended.is_ok(), "open watches of the kind end");

    cluster.restore_crd("backups.velero.io").unwrap();
    let back = api.list(&ListParams::default()).await.unwrap();
    assert!(back.items.is_empty(), "the kind is back, its objects are not");
    fleet.stop().await;
}

fn fast_velero() -> Scenario {
    let mut s = Scenario::builtin("healthy");
    s.velero.backup_duration = fleetdeck::sim::scenario::Span::secs(1, 2);
    s.velero.restore_duration = fleetdeck::sim::scenario::Span::secs(1, 2);
    s.flux.revision_every = None;
    s.fleet.events_every = None;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_storage_fails_backups_and_marks_the_location() {
    let fleet = live_fleet(1, fast_velero()).await;
    let cluster: Arc<_> = fleet.require("staging-eu-1").unwrap().clone();
    cluster.set_velero_storage(false);
    let client = admin(&fleet, "staging-eu-1").await;
    let bsl = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("velero.io", "v1", "BackupStorageLocation"));
    let location = Api::<DynamicObject>::namespaced_with(client.clone(), "velero", &bsl).get("default").await.unwrap();
    assert_eq!(location.data["status"]["phase"], "Unavailable");
    let api: Api<DynamicObject> = Api::namespaced_with(client, "velero", &backups());
    let backup: DynamicObject = serde_json::from_value(json!({"apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": "manual", "namespace": "velero"}, "spec": {"storageLocation": "default", "ttl": "24h0m0s"}}))
    .unwrap();
    api.create(&PostParams::default(), &backup).await.unwrap();
    let failed = eventually(Duration::from_secs(10), || async {
        api.get("manual").await.ok().filter(|b| b.data["status"]["phase"] == "Failed")
    })
    .await
    .expect("the backup fails while storage is down");
    assert!(failed.data["status"]["failureReason"].as_str().unwrap().contains("unavailable"));
    fleet.stop().await;
}
