//! Objects shaped like the real Flux, Kyverno, Velero and core objects, folded as the
//! engine folds them, at fixed times: what the snapshot tests build their models from.

use fleetdeck::fleet::backup::{BackupSummary, RestoreSummary, ScheduleSummary, StorageSummary};
use fleetdeck::fleet::kind::Kind;
use fleetdeck::fleet::summary::{
    Condition, ConditionStatus, KustomizationSummary, NodeSummary, ObjectKey, ReportSummary, SourceSummary,
    SpokeSecret, Summary, WorkloadSummary,
};
use jiff::Timestamp;
use serde_json::json;

pub fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + s).unwrap()
}

pub fn node(name: &str, ready: bool, roles: &[&str]) -> (ObjectKey, Summary) {
    let mut conditions = vec![Condition {
        type_: "MemoryPressure".into(),
        status: ConditionStatus::False,
        reason: "KubeletHasSufficientMemory".into(),
        message: String::new(),
        since: Some(t(0)),
    }];
    conditions.push(if ready {
        Condition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            reason: "KubeletReady".into(),
            message: String::new(),
            since: Some(t(0)),
        }
    } else {
        Condition {
            type_: "Ready".into(),
            status: ConditionStatus::Unknown,
            reason: "NodeStatusUnknown".into(),
            message: "Kubelet stopped posting node status.".into(),
            since: Some(t(900)),
        }
    });
    let n = NodeSummary {
        name: name.into(),
        ready: if ready { ConditionStatus::True } else { ConditionStatus::Unknown },
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        kubelet: "v1.33.4".into(),
        unschedulable: false,
        conditions,
    };
    (("".into(), name.into()), Summary::Node(n))
}

pub fn workload(ns: &str, name: &str, ready: i64) -> (ObjectKey, Summary) {
    (
        (ns.into(), name.into()),
        Summary::Workload(WorkloadSummary {
            namespace: ns.into(),
            name: name.into(),
            replicas: 1,
            ready,
            unavailable_since: None,
        }),
    )
}

pub fn rfc(s: i64) -> String {
    t(s).to_string()
}

/// A Flux source as the hub serves it, its artifact at `revision` produced at `at`.
pub fn source(kind: &str, name: &str, revision: &str, at: i64) -> Summary {
    Summary::Source(SourceSummary::fold(&json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": kind,
        "metadata": {"namespace": "flux-system", "name": name, "generation": 1},
        "spec": {"interval": "1m0s", "url": format!("https://git.example.com/platform/{name}.git")},
        "status": {"observedGeneration": 1,
            "artifact": {"revision": revision, "lastUpdateTime": rfc(at), "digest": "sha256:5e1f", "size": 41234,
                "path": format!("{}/flux-system/{name}/x.tar.gz", kind.to_lowercase())},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "lastTransitionTime": rfc(at),
                "message": format!("stored artifact for revision '{revision}'")}]}})))
}

/// How a spoke's Kustomization stands in the fixture.
pub enum Ks<'a> {
    /// Ready at `revision` since second `ready`.
    Ready(&'a str, i64),
    /// Ready=False with `reason`, still at `applied`.
    Failed(&'a str, &'a str, &'a str),
    /// Reconciling towards the source, still at `applied`.
    Reconciling(&'a str),
    Suspended(&'a str, i64),
}

/// A Kustomization on the hub, shaped like kustomize-controller writes it.
pub fn kustomization(ns: &str, name: &str, source_kind: &str, source: &str, state: Ks, remote: bool) -> Summary {
    let (applied, ready, suspend) = match state {
        Ks::Ready(rev, at) => (
            rev,
            json!({"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                "message": format!("Applied revision: {rev}"), "lastTransitionTime": rfc(at)}),
            false,
        ),
        Ks::Failed(rev, reason, message) => (
            rev,
            json!({"type": "Ready", "status": "False", "reason": reason, "message": message, "lastTransitionTime": rfc(960)}),
            false,
        ),
        Ks::Reconciling(rev) => (
            rev,
            json!({"type": "Ready", "status": "Unknown", "reason": "Progressing",
                "message": "Reconciliation in progress", "lastTransitionTime": rfc(990)}),
            false,
        ),
        Ks::Suspended(rev, at) => (
            rev,
            json!({"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                "message": format!("Applied revision: {rev}"), "lastTransitionTime": rfc(at)}),
            true,
        ),
    };
    // When the applied revision was first reconciled: when it became Ready, or for one
    // that is failing or reconciling now, long before.
    let first_reconciled =
        if ready["status"] == "True" { ready["lastTransitionTime"].clone() } else { json!(rfc(309)) };
    let mut spec = json!({"interval": "10m0s", "path": format!("./{name}"), "prune": true, "suspend": suspend,
        "sourceRef": {"kind": source_kind, "name": source, "namespace": "flux-system"}});
    if remote {
        spec["kubeConfig"] = json!({"secretRef": {"name": "cluster-kubeconfig", "key": "value"}});
    }
    Summary::Kustomization(KustomizationSummary::fold(&json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"namespace": ns, "name": name, "generation": 1, "creationTimestamp": rfc(-90_000)},
        "spec": spec,
        "status": {"observedGeneration": 1, "lastAppliedRevision": applied, "lastAttemptedRevision": applied,
            "conditions": [ready],
            "history": [{"digest": "sha256:77", "firstReconciled": first_reconciled, "lastReconciled": first_reconciled,
                "lastReconciledDuration": "2.2s", "lastReconciledStatus": "ReconciliationSucceeded",
                "totalReconciliations": 3, "metadata": {"revision": applied}}]}})))
}

/// A Kyverno PolicyReport with `failing` of its results failing.
pub fn report(ns: &str, failing: &[(&str, &str, &str, &str)], passing: i64) -> (ObjectKey, Summary) {
    let mut results: Vec<serde_json::Value> = failing
        .iter()
        .map(|(policy, rule, name, message)| {
            json!({"policy": policy, "rule": rule, "result": "fail", "severity": "medium", "scored": true,
                "source": "kyverno", "message": message, "timestamp": {"seconds": 1_795_000_000, "nanos": 0},
                "resources": [{"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": name}]})
        })
        .collect();
    results
        .push(json!({"policy": "disallow-privileged-containers", "rule": "privileged-containers", "result": "pass"}));
    let name = format!("polr-ns-{ns}");
    let summary = json!({"pass": passing, "fail": failing.len(), "warn": 0, "error": 0, "skip": 1});
    let v = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"namespace": ns, "name": name}, "summary": summary, "results": results});
    ((ns.into(), name), Summary::Report(ReportSummary::fold(&v)))
}

pub const R1: &str = "main@sha1:1d8c578920a582a81fcd9ba15e6029dd5cc8c74e";
pub const R2: &str = "main@sha1:8222bd7c0e7ee7a3ded6c12519a30399aa953da2";
pub const OCI: &str = "v1.4.7@sha256:ed0c06ec967c0fa63633fb8af19304a44938abdd405a4705cc91a8a6";

/// A Velero object of `kind` folded as the engine folds it.
pub fn velero(kind: Kind, v: serde_json::Value) -> (ObjectKey, Summary) {
    let key =
        (v["metadata"]["namespace"].as_str().unwrap().to_owned(), v["metadata"]["name"].as_str().unwrap().to_owned());
    let summary = match kind {
        Kind::Backup => Summary::Backup(BackupSummary::fold(&v)),
        Kind::Schedule => Summary::Schedule(ScheduleSummary::fold(&v)),
        Kind::Restore => Summary::Restore(RestoreSummary::fold(&v)),
        _ => Summary::Storage(StorageSummary::fold(&v)),
    };
    (key, summary)
}

pub fn schedule(name: &str, cron: &str, paused: bool) -> (ObjectKey, Summary) {
    velero(
        Kind::Schedule,
        json!({"apiVersion": "velero.io/v1", "kind": "Schedule",
            "metadata": {"name": name, "namespace": "velero", "creationTimestamp": "2026-10-01T00:00:00Z"},
            "spec": {"schedule": cron, "paused": paused, "useOwnerReferencesInBackup": false,
                "template": {"ttl": "720h0m0s", "storageLocation": "default"}},
            "status": {"phase": "Enabled", "lastBackup": "2026-11-18T11:00:00Z"}}),
    )
}

/// A backup of `schedule` started at `started` (RFC 3339), as Velero writes it.
pub fn backup(schedule: &str, started: &str, phase: &str, errors: i64, warnings: i64) -> (ObjectKey, Summary) {
    let start: Timestamp = started.parse().unwrap();
    let name = format!("{schedule}-{}", start.strftime("%Y%m%d%H%M%S"));
    let total = 640;
    let mut status = json!({"phase": phase, "version": 1, "formatVersion": "1.1.0", "startTimestamp": started,
        "expiration": (start + jiff::SignedDuration::from_hours(720)).to_string(),
        "progress": {"totalItems": total, "itemsBackedUp": if phase == "InProgress" { 256 } else { total }},
        "errors": errors, "warnings": warnings});
    if phase != "InProgress" {
        status["completionTimestamp"] = json!((start + jiff::SignedDuration::from_secs(47)).to_string());
    }
    if phase == "Failed" {
        status["failureReason"] = json!("timed out waiting for all PodVolumeBackups to complete");
    }
    velero(
        Kind::Backup,
        json!({"apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": name, "namespace": "velero", "creationTimestamp": started,
                "labels": {"velero.io/schedule-name": schedule, "velero.io/storage-location": "default"}},
            "spec": {"storageLocation": "default", "ttl": "720h0m0s"}, "status": status}),
    )
}

pub fn storage(available: bool) -> (ObjectKey, Summary) {
    let mut status = json!({"phase": "Available", "lastValidationTime": rfc(940), "lastSyncedTime": rfc(940)});
    if !available {
        status["phase"] = json!("Unavailable");
        status["message"] = json!(
            "BackupStorageLocation \"default\" is unavailable: rpc error: code = Unknown desc = operation error S3: ListObjectsV2, https response error StatusCode: 503"
        );
    }
    velero(
        Kind::BackupStorageLocation,
        json!({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": "default", "namespace": "velero"},
            "spec": {"provider": "aws", "default": true, "objectStorage": {"bucket": "fleet-backups"}}, "status": status}),
    )
}

pub fn restore(name: &str, backup: &str, phase: &str, started: &str, took: i64) -> (ObjectKey, Summary) {
    let start: Timestamp = started.parse().unwrap();
    let mut status = json!({"phase": phase, "startTimestamp": started,
        "progress": {"totalItems": 640, "itemsRestored": if phase == "InProgress" { 410 } else { 640 }}});
    if phase == "Completed" {
        status["completionTimestamp"] = json!((start + jiff::SignedDuration::from_secs(took)).to_string());
        status["warnings"] = json!(2);
        status["errors"] = json!(0);
    }
    velero(
        Kind::Restore,
        json!({"apiVersion": "velero.io/v1", "kind": "Restore",
            "metadata": {"name": name, "namespace": "velero", "creationTimestamp": started},
            "spec": {"backupName": backup, "includedNamespaces": ["*"]}, "status": status}),
    )
}

pub fn registration(spoke: &str, uid: Option<&str>) -> (ObjectKey, Summary) {
    let secret = SpokeSecret {
        namespace: spoke.into(),
        name: "cluster-kubeconfig".into(),
        cluster_uid: uid.map(str::to_owned),
        ..Default::default()
    };
    ((spoke.into(), "cluster-kubeconfig".into()), Summary::SpokeSecret(secret))
}
