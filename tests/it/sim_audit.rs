//! The simulator's API audit log and the scenario fault timeline.

use crate::common;

use std::time::Duration;

use common::{admin, eventually};
use fleetdeck::sim::{Fleet, OutageMode, Scenario, SimOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_audited_with_bodies_for_writes() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(SimOptions {
        spokes: Some(1),
        audit_dir: Some(dir.path().to_owned()),
        behaviour: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = admin(&fleet, "staging-eu-1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.list(&ListParams::default()).await.unwrap();
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "audited"}, "data": {"k": "v"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "hush"}, "stringData": {"password": "hunter2"}})).unwrap();
    Api::<Secret>::namespaced(client, "default").create(&PostParams::default(), &secret).await.unwrap();

    let log = dir.path().join("staging-eu-1.log");
    let events = eventually(Duration::from_secs(5), || async {
        let events = lines(&log);
        events.iter().any(|e| e["objectRef"]["name"] == "hush").then_some(events)
    })
    .await
    .expect("the audit log has the requests");
    let list = events.iter().find(|e| e["verb"] == "list" && e["objectRef"]["resource"] == "configmaps").unwrap();
    assert_eq!(list["level"], "Metadata");
    assert_eq!(list["stage"], "ResponseComplete");
    assert_eq!(list["apiVersion"], "audit.k8s.io/v1");
    assert!(list.get("requestObject").is_none());
    let create = events.iter().find(|e| e["verb"] == "create" && e["objectRef"]["name"] == "audited").unwrap();
    assert_eq!(create["level"], "RequestResponse");
    assert_eq!(create["responseStatus"]["code"], 201);
    assert_eq!(create["user"]["username"], "fleet-admin");
    assert_eq!(create["requestObject"]["data"]["k"], "v");
    assert_eq!(create["objectRef"]["namespace"], "default");
    assert!(
        create["auditID"].is_string()
            && create["requestReceivedTimestamp"].is_string()
            && create["sourceIPs"][0] == "127.0.0.1"
    );
    let secret = events.iter().find(|e| e["objectRef"]["name"] == "hush").unwrap();
    assert_eq!(secret["level"], "Metadata", "secrets are audited without their content");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("hunter2"));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_faults_switch_on_and_off_on_schedule() {
    let text = r#"
        [flux]
        revision_every = "1h"
        [[fault]]
        cluster = "staging-*"
        at = "300ms"
        for = "700ms"
        outage = "refused"
        [[fault]]
        cluster = "hub"
        at = "200ms"
        latency = "50ms"
    "#;
    let scenario = Scenario::parse(text, "test").unwrap();
    let fleet = Fleet::start(SimOptions { spokes: Some(2), scenario, ..Default::default() }).await.unwrap();
    let staging = fleet.require("staging-eu-1").unwrap().clone();
    let production = fleet.require("production-eu-1").unwrap().clone();
    let down = eventually(Duration::from_secs(3), || async {
        (staging.faults.current().outage == Some(OutageMode::Refused)).then_some(())
    })
    .await;
    assert!(down.is_some(), "the outage starts");
    assert!(production.faults.current().is_healthy(), "only matching clusters");
    let up = eventually(Duration::from_secs(3), || async { staging.faults.current().is_healthy().then_some(()) }).await;
    assert!(up.is_some(), "the outage ends");
    assert_eq!(fleet.hub().faults.current().latency, Duration::from_millis(50), "a fault without `for` stays");
    fleet.stop().await;
}
