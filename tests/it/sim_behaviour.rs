//! The simulated controllers: Flux propagating revisions to spokes, failing while a spoke
//! is down and recovering, suspend and reconcile requests; Velero schedules, backups and
//! restores; events.

use crate::common;

use std::time::Duration;

use common::{admin, eventually, live_fleet, quick};
use fleetdeck::sim::{Fleet, OutageMode};
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

fn ks() -> ApiResource {
    ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"))
}

fn ready(k: &DynamicObject) -> (String, String) {
    let c = k.data["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or(Value::Null);
    (c["status"].as_str().unwrap_or_default().to_owned(), c["reason"].as_str().unwrap_or_default().to_owned())
}

async fn policies_of(fleet: &Fleet, spoke: &str) -> Api<DynamicObject> {
    Api::namespaced_with(admin(fleet, "hub").await, spoke, &ks())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_revision_propagates_to_every_spoke() {
    let fleet = live_fleet(2, quick()).await;
    let revision = fleet.publish_revision("GitRepository", "fleet-policies").unwrap();
    for spoke in ["staging-eu-1", "production-eu-1"] {
        let api = policies_of(&fleet, spoke).await;
        let applied = eventually(Duration::from_secs(10), || async {
            let k = api.get("policies").await.ok()?;
            (k.data["status"]["lastAppliedRevision"] == json!(revision) && ready(&k).0 == "True").then_some(k)
        })
        .await
        .unwrap_or_else(|| panic!("{spoke} applied {revision}"));
        let at = applied.data["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()["lastTransitionTime"]
            .clone();
        assert!(at.is_string());
        let cms: Api<ConfigMap> = Api::namespaced(admin(&fleet, spoke).await, "kyverno");
        let applied_cm = cms.get("fleet-policies").await.unwrap();
        assert_eq!(applied_cm.data.unwrap()["revision"], revision, "the spoke got the objects");
    }
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_spoke_fails_with_a_reason_then_recovers() {
    let fleet = live_fleet(1, quick()).await;
    let spoke = fleet.require("staging-eu-1").unwrap().clone();
    spoke.faults.update(|f| f.outage = Some(OutageMode::Refused));
    let revision = fleet.publish_revision("GitRepository", "fleet-policies").unwrap();
    let api = policies_of(&fleet, "staging-eu-1").await;
    let failed = eventually(Duration::from_secs(10), || async {
        let k = api.get("policies").await.ok()?;
        (ready(&k) == ("False".into(), "ReconciliationFailed".into())).then_some(k)
    })
    .await
    .expect("fails while the spoke is down");
    assert!(failed.data["status"]["conditions"].to_string().contains("connection refused"));
    assert_eq!(failed.data["status"]["lastAttemptedRevision"], json!(revision));
    assert_ne!(failed.data["status"]["lastAppliedRevision"], json!(revision));
    spoke.faults.update(|f| f.outage = None);
    let recovered = eventually(Duration::from_secs(10), || async {
        let k = api.get("policies").await.ok()?;
        (k.data["status"]["lastAppliedRevision"] == json!(revision)).then_some(k)
    })
    .await;
    assert!(recovered.is_some(), "the retry applies it once the spoke is back");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_is_honoured_and_resume_and_reconcile_requests_apply() {
    let fleet = live_fleet(1, quick()).await;
    let api = policies_of(&fleet, "staging-eu-1").await;
    api.patch("policies", &PatchParams::default(), &Patch::Merge(json!({"spec": {"suspend": true}}))).await.unwrap();
    let revision = fleet.publish_revision("GitRepository", "fleet-policies").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let k = api.get("policies").await.unwrap();
    assert_ne!(k.data["status"]["lastAppliedRevision"], json!(revision), "a suspended Kustomization does not apply");
    api.patch("policies", &PatchParams::default(), &Patch::Merge(json!({"spec": {"suspend": false}}))).await.unwrap();
    let resumed = eventually(Duration::from_secs(10), || async {
        let k = api.get("policies").await.ok()?;
        (k.data["status"]["lastAppliedRevision"] == json!(revision)).then_some(())
    })
    .await;
    assert!(resumed.is_some(), "resume applies the pending revision");

    let requested = "2026-11-24T12:00:00.000000001Z";
    api.patch(
        "policies",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": requested}}})),
    )
    .await
    .unwrap();
    let handled = eventually(Duration::from_secs(10), || async {
        let k = api.get("policies").await.ok()?;
        (k.data["status"]["lastHandledReconcileAt"] == json!(requested)).then_some(())
    })
    .await;
    assert!(handled.is_some(), "the reconcile request is answered with lastHandledReconcileAt");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_run_through_their_phases_and_restores_complete() {
    let fleet = live_fleet(1, quick()).await;
    let client = admin(&fleet, "staging-eu-1").await;
    let gvk = |k: &str| ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("velero.io", "v1", k));
    let schedules: Api<DynamicObject> = Api::namespaced_with(client.clone(), "velero", &gvk("Schedule"));
    let schedule = schedules.get("daily-full").await.unwrap();
    let at = jiff::Timestamp::now();
    let backup = fleetdeck::sim::backup_from_schedule(&serde_json::to_value(&schedule).unwrap(), at, "v1.33.4");
    let name = backup["metadata"]["name"].as_str().unwrap().to_owned();
    let backups: Api<DynamicObject> = Api::namespaced_with(client.clone(), "velero", &gvk("Backup"));
    backups.create(&PostParams::default(), &serde_json::from_value(backup).unwrap()).await.unwrap();
    let mut phases: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let done = loop {
        let b = backups.get(&name).await.unwrap();
        let phase = b.data["status"]["phase"].as_str().unwrap_or_default().to_owned();
        if phases.last() != Some(&phase) {
            phases.push(phase.clone());
        }
        if phase == "Completed" {
            break b;
        }
        assert!(tokio::time::Instant::now() < deadline, "the backup completes: {phases:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(phases.contains(&"InProgress".to_owned()), "{phases:?}");
    assert!(done.data["status"]["completionTimestamp"].is_string());
    assert_eq!(done.metadata.labels.unwrap()["velero.io/schedule-name"], "daily-full");

    let restores: Api<DynamicObject> = Api::namespaced_with(client, "velero", &gvk("Restore"));
    let restore = json!({"apiVersion": "velero.io/v1", "kind": "Restore", "metadata": {"name": "r1", "namespace": "velero"}, "spec": {"backupName": name}});
    restores.create(&PostParams::default(), &serde_json::from_value(restore).unwrap()).await.unwrap();
    let restored = eventually(Duration::from_secs(15), || async {
        restores.get("r1").await.ok().filter(|r| r.data["status"]["phase"] == "Completed")
    })
    .await
    .expect("the restore completes");
    assert_eq!(restored.data["status"]["progress"]["itemsRestored"], restored.data["status"]["progress"]["totalItems"]);
    let missing = json!({"apiVersion": "velero.io/v1", "kind": "Restore", "metadata": {"name": "r2", "namespace": "velero"}, "spec": {"backupName": "nope"}});
    restores.create(&PostParams::default(), &serde_json::from_value(missing).unwrap()).await.unwrap();
    let invalid = eventually(Duration::from_secs(10), || async {
        restores.get("r2").await.ok().filter(|r| r.data["status"]["phase"] == "FailedValidation")
    })
    .await;
    assert!(invalid.is_some(), "a restore of a missing backup fails validation");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_holds_its_namespaces_objects_and_a_restore_puts_them_back() {
    use k8s_openapi::api::apps::v1::Deployment;
    let fleet = live_fleet(1, quick()).await;
    let client = admin(&fleet, "staging-eu-1").await;
    let gvk = |k: &str| ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk("velero.io", "v1", k));
    let backups: Api<DynamicObject> = Api::namespaced_with(client.clone(), "velero", &gvk("Backup"));
    let backup = json!({"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "b1", "namespace": "velero"},
        "spec": {"includedNamespaces": ["payments"], "ttl": "720h0m0s", "storageLocation": "default"}});
    backups.create(&PostParams::default(), &serde_json::from_value(backup).unwrap()).await.unwrap();
    let done = eventually(Duration::from_secs(15), || async {
        backups.get("b1").await.ok().filter(|b| b.data["status"]["phase"] == "Completed")
    })
    .await
    .expect("the backup completes");
    let items = done.data["status"]["progress"]["totalItems"].as_i64().unwrap();
    assert!((4..100).contains(&items), "the payments namespace's objects, counted: {items}");
    // One Deployment deleted, another scaled, after the backup.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "payments");
    deployments.delete("api", &Default::default()).await.unwrap();
    let scale = json!({"spec": {"replicas": 5}});
    deployments.patch("worker", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&scale)).await.unwrap();
    let restores: Api<DynamicObject> = Api::namespaced_with(client, "velero", &gvk("Restore"));
    let restore = |name: &str, policy: &str| {
        serde_json::from_value::<DynamicObject>(json!({"apiVersion": "velero.io/v1", "kind": "Restore",
            "metadata": {"name": name, "namespace": "velero"},
            "spec": {"backupName": "b1", "existingResourcePolicy": policy}}))
        .unwrap()
    };
    let completed = |name: &'static str| {
        let restores = restores.clone();
        async move {
            eventually(Duration::from_secs(15), || async {
                restores.get(name).await.ok().filter(|r| r.data["status"]["phase"] == "Completed")
            })
            .await
            .expect("the restore completes")
        }
    };
    // The default policy: what is missing comes back, what exists is left, with a warning.
    restores.create(&PostParams::default(), &restore("r-none", "none")).await.unwrap();
    let none = completed("r-none").await;
    assert!(none.data["status"]["warnings"].as_i64().unwrap() >= 1, "{:?}", none.data["status"]);
    assert_eq!(deployments.get("api").await.unwrap().spec.unwrap().replicas, Some(3), "api is back");
    assert_eq!(deployments.get("worker").await.unwrap().spec.unwrap().replicas, Some(5), "worker is left as it is");
    // `update`: what exists is put back as it was backed up.
    restores.create(&PostParams::default(), &restore("r-update", "update")).await.unwrap();
    completed("r-update").await;
    assert_eq!(deployments.get("worker").await.unwrap().spec.unwrap().replicas, Some(2), "worker as backed up");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_emit_events() {
    let fleet = live_fleet(1, quick()).await;
    fleet.publish_revision("GitRepository", "fleet-policies").unwrap();
    let events: Api<Event> = Api::namespaced(admin(&fleet, "hub").await, "staging-eu-1");
    let found = eventually(Duration::from_secs(10), || async {
        let list = events.list(&ListParams::default().fields("reason=ReconciliationSucceeded")).await.ok()?;
        list.items.into_iter().find(|e| e.involved_object.kind.as_deref() == Some("Kustomization"))
    })
    .await
    .expect("kustomize-controller records its reconciliations");
    assert_eq!(found.source.unwrap().component.as_deref(), Some("kustomize-controller"));
    fleet.stop().await;
}

/// The simulator's policy reports carry severities; findings only on the clusters the
/// scenario names (staging), most medium or low, the high one only on staging-us-1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_findings_carry_severities_and_the_high_one_stays_put() {
    use kube::api::{Api, ApiResource, DynamicObject, ListParams};
    let fleet = common::still_fleet(3).await;
    let ar = ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport"),
        "policyreports",
    );
    let mut high_fails = Vec::new();
    let mut failing = std::collections::BTreeSet::new();
    for spoke in ["staging-eu-1", "production-eu-1", "staging-us-1"] {
        let reports: Api<DynamicObject> = Api::all_with(common::admin(&fleet, spoke).await, &ar);
        for report in reports.list(&ListParams::default()).await.unwrap() {
            for r in report.data["results"].as_array().unwrap() {
                let severity = r["severity"].as_str().unwrap_or_default();
                assert!(["critical", "high", "medium", "low", "info"].contains(&severity), "{r}");
                if severity == "high" && r["result"] == "fail" {
                    high_fails.push(spoke);
                }
                if r["result"] == "fail" {
                    failing.insert(spoke);
                }
            }
        }
    }
    high_fails.dedup();
    assert_eq!(high_fails, ["staging-us-1"], "the high finding only where the scenario puts it");
    assert!(!failing.contains("production-eu-1"), "production carries no findings in the default scenario");
    assert!(failing.contains("staging-eu-1"), "staging does: {failing:?}");
    fleet.stop().await;
}

/// The hub's kubeconfig Secret for the candidate, holding `token`.
fn kubeconfig_secret(fleet: &Fleet, token: &str) -> Value {
    let doc = fleet.kubeconfig(fleetdeck::sim::Access::Admin);
    let cluster = doc["clusters"].as_array().unwrap().iter().find(|c| c["name"] == "edge-eu-1").unwrap();
    let kubeconfig = json!({"apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "edge-eu-1", "cluster": cluster["cluster"]}],
        "users": [{"name": "hub", "user": {"token": token}}],
        "contexts": [{"name": "edge-eu-1", "context": {"cluster": "edge-eu-1", "user": "hub"}}], "current-context": "edge-eu-1"});
    use base64::Engine;
    let value = base64::engine::general_purpose::STANDARD.encode(kubeconfig.to_string());
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cluster-kubeconfig", "namespace": "edge-eu-1"}, "data": {"value": value}})
}

fn token_of(fleet: &Fleet, user: &str) -> String {
    let doc = fleet.kubeconfig(fleetdeck::sim::Access::Admin);
    let u =
        doc["users"].as_array().unwrap().iter().find(|u| u["name"] == user).unwrap_or_else(|| panic!("no user {user}"));
    u["user"]["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_applies_with_the_kubeconfig_token_and_reports_why_it_cannot() {
    let mut scenario = quick();
    scenario.fleet.candidates = 1;
    let fleet = live_fleet(1, scenario).await;
    let hub = admin(&fleet, "hub").await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(hub.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": "edge-eu-1"}})).unwrap();
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    let secrets: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "edge-eu-1", &ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()));
    let view_only = kubeconfig_secret(&fleet, &token_of(&fleet, "edge-eu-1-readonly"));
    secrets.create(&PostParams::default(), &serde_json::from_value(view_only).unwrap()).await.unwrap();
    let kustomizations: Api<DynamicObject> = Api::namespaced_with(hub.clone(), "edge-eu-1", &ks());
    let k = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "policies", "namespace": "edge-eu-1"},
        "spec": {"interval": "10m", "path": "./policies/edge", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "fleet-policies", "namespace": "flux-system"},
            "kubeConfig": {"secretRef": {"name": "cluster-kubeconfig"}}}});
    kustomizations.create(&PostParams::default(), &serde_json::from_value(k).unwrap()).await.unwrap();
    let failed_with = |needle: &'static str| {
        let kustomizations = kustomizations.clone();
        async move {
            eventually(Duration::from_secs(15), || {
                let kustomizations = kustomizations.clone();
                async move {
                    let k = kustomizations.get("policies").await.ok()?;
                    let c = k.data["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Ready")?.clone();
                    let message = c["message"].as_str().unwrap_or_default().to_owned();
                    (c["status"] == "False" && message.contains(needle)).then_some(message)
                }
            })
            .await
        }
    };
    let forbidden = failed_with("(Forbidden)").await.expect("a view-only token is refused on the first apply");
    assert!(forbidden.contains("cannot patch resource \"configmaps\""), "{forbidden}");
    let unknown = kubeconfig_secret(&fleet, "not-a-token");
    secrets
        .replace("cluster-kubeconfig", &PostParams::default(), &serde_json::from_value(unknown).unwrap())
        .await
        .unwrap();
    failed_with("provide credentials").await.expect("an unknown token is Unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_kustomization_prunes_what_it_applied_unless_pruning_is_off() {
    let fleet = live_fleet(2, quick()).await;
    let hub = admin(&fleet, "hub").await;
    let config_of = |spoke: &'static str| {
        let fleet = &fleet;
        async move { Api::<ConfigMap>::namespaced(admin(fleet, spoke).await, "fleet-system") }
    };
    for (spoke, prune) in [("staging-eu-1", true), ("production-eu-1", false)] {
        let ks: Api<DynamicObject> = Api::namespaced_with(hub.clone(), spoke, &ks());
        ks.patch("config", &PatchParams::default(), &Patch::Merge(json!({"spec": {"prune": prune}}))).await.unwrap();
        // Flux applied it once after the fleet started (so it knows where it applies).
        ks.patch(
            "config",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}})),
        )
        .await
        .unwrap();
        let handled = eventually(Duration::from_secs(10), || {
            let ks = ks.clone();
            async move { ks.get("config").await.ok().filter(|k| k.data["status"]["lastHandledReconcileAt"] == "now") }
        });
        handled.await.expect("reconciled");
        ks.delete("config", &Default::default()).await.unwrap();
        let cms = config_of(spoke).await;
        let gone = eventually(Duration::from_secs(5), || {
            let cms = cms.clone();
            async move { cms.get_opt("platform-config").await.ok().filter(Option::is_none).map(|_| ()) }
        });
        if prune {
            gone.await.expect("pruned with the Kustomization");
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert!(cms.get_opt("platform-config").await.unwrap().is_some(), "prune: false leaves it");
        }
    }
}
