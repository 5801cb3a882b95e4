//! How each watched kind is read from the API: its resource, scope and selectors, and
//! the fold of an object into its summary.

use kube::api::{ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use serde_json::Value;

use crate::fleet::backup::{BackupSummary, RestoreSummary, ScheduleSummary, StorageSummary};
use crate::fleet::event::EventSummary;
use crate::fleet::kind::Kind;
use crate::fleet::summary::{
    KustomizationSummary, NodeSummary, ObjectKey, ReportSummary, SourceSummary, SpokeSecret, Summary, WorkloadSummary,
};
use crate::journal::event::{EVENT_REASON_PREFIX, JOURNAL_ANNOTATION};

/// Where and how a kind is watched.
pub struct Resource {
    pub api: ApiResource,
    /// Watch this namespace only (all namespaces when `None`, or cluster-scoped).
    pub namespace: Option<&'static str>,
    pub field_selector: Option<&'static str>,
    pub label_selector: Option<&'static str>,
}

pub fn resource(kind: Kind) -> Resource {
    // Every namespace (or cluster-scoped), no field selector.
    let all = |g: &str, v: &str, k: &str, plural: &str| Resource {
        api: ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, k), plural),
        namespace: None,
        field_selector: None,
        label_selector: None,
    };
    match kind {
        Kind::Node => all("", "v1", "Node", "nodes"),
        Kind::Deployment => all("apps", "v1", "Deployment", "deployments"),
        Kind::Kustomization => all("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations"),
        Kind::SpokeSecret => {
            Resource { field_selector: Some("metadata.name=cluster-kubeconfig"), ..all("", "v1", "Secret", "secrets") }
        }
        Kind::GitRepository => all("source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories"),
        Kind::OciRepository => all("source.toolkit.fluxcd.io", "v1", "OCIRepository", "ocirepositories"),
        Kind::PolicyReport => all("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports"),
        Kind::ClusterPolicyReport => all("wgpolicyk8s.io", "v1alpha2", "ClusterPolicyReport", "clusterpolicyreports"),
        Kind::Backup => all("velero.io", "v1", "Backup", "backups"),
        Kind::Schedule => all("velero.io", "v1", "Schedule", "schedules"),
        Kind::Restore => all("velero.io", "v1", "Restore", "restores"),
        Kind::BackupStorageLocation => all("velero.io", "v1", "BackupStorageLocation", "backupstoragelocations"),
        Kind::Event => all("", "v1", "Event", "events"),
        Kind::Run => Resource {
            namespace: Some(crate::fleet::run::RUN_NAMESPACE),
            label_selector: Some("app.kubernetes.io/managed-by=fleetdeck,fleetdeck.io/run"),
            ..all("", "v1", "ConfigMap", "configmaps")
        },
    }
}

/// The object as JSON (metadata and the rest), for the folds.
fn to_value(object: &DynamicObject) -> Value {
    let mut v = object.data.clone();
    if !v.is_object() {
        v = Value::Object(Default::default());
    }
    v["metadata"] = serde_json::to_value(&object.metadata).unwrap_or(Value::Null);
    v
}

/// Folds a watched object into its key and summary.
pub fn fold(kind: Kind, object: &DynamicObject) -> (ObjectKey, Summary) {
    let key = (object.metadata.namespace.clone().unwrap_or_default(), object.metadata.name.clone().unwrap_or_default());
    let v = to_value(object);
    let summary = match kind {
        Kind::Node => Summary::Node(NodeSummary::fold(&v)),
        Kind::Deployment => Summary::Workload(WorkloadSummary::fold(&v)),
        Kind::Kustomization => Summary::Kustomization(KustomizationSummary::fold(&v)),
        Kind::SpokeSecret => Summary::SpokeSecret(SpokeSecret::fold(&v)),
        Kind::GitRepository | Kind::OciRepository => {
            let mut v = v;
            v["kind"] = serde_json::json!(crate::fleet::cluster::source_kind(kind));
            Summary::Source(SourceSummary::fold(&v))
        }
        Kind::PolicyReport | Kind::ClusterPolicyReport => Summary::Report(ReportSummary::fold(&v)),
        Kind::Backup => Summary::Backup(BackupSummary::fold(&v)),
        Kind::Schedule => Summary::Schedule(ScheduleSummary::fold(&v)),
        Kind::Restore => Summary::Restore(RestoreSummary::fold(&v)),
        Kind::BackupStorageLocation => Summary::Storage(StorageSummary::fold(&v)),
        Kind::Event => {
            let event = EventSummary::fold(&v, JOURNAL_ANNOTATION);
            Summary::Event(event.admitted(EVENT_REASON_PREFIX).then(|| Box::new(event)))
        }
        Kind::Run => match crate::fleet::run::Run::from_configmap(&v) {
            Ok(run) => Summary::Run(Some(std::sync::Arc::new(run))),
            Err(e) => {
                tracing::warn!(error = %e, "a run record that does not parse");
                Summary::Run(None)
            }
        },
    };
    (key, summary)
}
