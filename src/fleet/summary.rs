//! The small summaries watched objects are folded into as they arrive. Nothing else of
//! an object is kept: no managedFields, no specs beyond what a pane shows, and never a
//! Secret's data (only the server URL read out of a kubeconfig Secret).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use serde_json::Value;

use crate::fields::{flag, int, text, time};

/// Namespace ("" for cluster-scoped objects) and name.
pub type ObjectKey = (String, String);

/// The key of an object.
pub fn key_of(object: &Value) -> ObjectKey {
    (text(object, "/metadata/namespace"), text(object, "/metadata/name"))
}

/// A Flux source, as a Kustomization's `spec.sourceRef` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SourceRef {
    /// `GitRepository`, `OCIRepository` (or another source kind, shown as is).
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl SourceRef {
    /// "GitRepository/flux-system/fleet-policies", as the flux CLI writes it.
    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// A condition's `status`: Kubernetes allows True, False and Unknown; a missing or
/// other value reads as Unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    Unknown,
}

impl ConditionStatus {
    pub fn parse(status: &str) -> Self {
        match status {
            "True" => Self::True,
            "False" => Self::False,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A status condition (`type`, `status`, `reason`, `message`, `lastTransitionTime`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: String,
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
    pub since: Option<Timestamp>,
}

fn conditions(v: &Value) -> Vec<Condition> {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| Condition {
                    type_: text(c, "/type"),
                    status: ConditionStatus::parse(&text(c, "/status")),
                    reason: text(c, "/reason"),
                    message: text(c, "/message"),
                    since: time(c, "/lastTransitionTime"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A node: its Ready condition and the others, as the detail view shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSummary {
    pub name: String,
    /// The Ready condition (Unknown: a node whose kubelet stopped reporting).
    pub ready: ConditionStatus,
    pub roles: Vec<String>,
    pub kubelet: String,
    pub unschedulable: bool,
    pub conditions: Vec<Condition>,
}

impl NodeSummary {
    pub fn fold(v: &Value) -> Self {
        let conditions = conditions(v);
        let ready = conditions.iter().find(|c| c.type_ == "Ready").map_or(ConditionStatus::Unknown, |c| c.status);
        let roles = v
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|l| l.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/")).map(str::to_owned).collect())
            .unwrap_or_default();
        Self {
            name: text(v, "/metadata/name"),
            ready,
            roles,
            kubelet: text(v, "/status/nodeInfo/kubeletVersion"),
            unschedulable: flag(v, "/spec/unschedulable"),
            conditions,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready == ConditionStatus::True
    }
}

/// A Deployment of a fleet component (Flux controllers, Velero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSummary {
    pub namespace: String,
    pub name: String,
    pub replicas: i64,
    pub ready: i64,
    /// The `Available=False` condition's transition, when it is so.
    pub unavailable_since: Option<Timestamp>,
}

impl WorkloadSummary {
    pub fn fold(v: &Value) -> Self {
        let unavailable_since = conditions(v)
            .into_iter()
            .find(|c| c.type_ == "Available" && c.status == ConditionStatus::False)
            .and_then(|c| c.since);
        Self {
            namespace: text(v, "/metadata/namespace"),
            name: text(v, "/metadata/name"),
            replicas: v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1),
            ready: int(v, "/status/readyReplicas"),
            unavailable_since,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready >= self.replicas && self.replicas > 0
    }

    /// It wants replicas and has fewer ready (one scaled to zero is not short).
    pub fn is_short(&self) -> bool {
        self.replicas > 0 && self.ready < self.replicas
    }
}

/// An annotation's value, when it is set.
fn annotation(v: &Value, key: &str) -> Option<String> {
    v.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A Flux Kustomization on the hub.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KustomizationSummary {
    pub namespace: String,
    pub name: String,
    /// It has a `spec.kubeConfig`: it applies to a remote cluster (a spoke), not the hub.
    pub remote: bool,
    /// `spec.kubeConfig.secretRef.name` (the secret-less `configMapRef` form has none).
    pub kubeconfig_secret: Option<String>,
    /// `spec.sourceRef`, its namespace defaulted to the object's.
    pub source: SourceRef,
    /// `spec.suspend`.
    pub suspended: bool,
    /// The `kustomize.toolkit.fluxcd.io/reconcile: disabled` annotation or label, which
    /// pauses the object as `spec.suspend` does.
    pub reconcile_disabled: bool,
    pub created: Option<Timestamp>,
    pub generation: i64,
    pub observed_generation: i64,
    pub ready: Option<Condition>,
    pub last_applied_revision: String,
    pub last_attempted_revision: String,
    /// When the last applied revision was first reconciled: its `status.history[]` entry's
    /// `firstReconciled`, else the Ready condition's transition when Ready is True.
    pub applied_at: Option<Timestamp>,
    pub requested_at: String,
    pub last_handled_reconcile_at: String,
    /// A rollback pinned it to a revision through a per-spoke copy of its source: the
    /// shared source it was pointed at before (`Kind/namespace/name`) and the revision.
    pub pinned: Option<Pin>,
    /// `fleetdeck.io/suspended-reason`: who suspended it and why.
    pub suspended_reason: String,
}

/// The annotations a rollback's pin and suspend leave on a Kustomization.
pub const PINNED_FROM: &str = "fleetdeck.io/pinned-from";
pub const PINNED_REVISION: &str = "fleetdeck.io/pinned-revision";
pub const SUSPENDED_REASON: &str = "fleetdeck.io/suspended-reason";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pin {
    /// The shared source, `Kind/namespace/name`.
    pub from: String,
    pub revision: String,
}

impl KustomizationSummary {
    pub fn fold(v: &Value) -> Self {
        let namespace = text(v, "/metadata/namespace");
        let source_namespace = match text(v, "/spec/sourceRef/namespace") {
            n if n.is_empty() => namespace.clone(),
            n => n,
        };
        let ready = conditions(v).into_iter().find(|c| c.type_ == "Ready");
        let last_applied_revision = text(v, "/status/lastAppliedRevision");
        let first_reconciled = v.pointer("/status/history").and_then(Value::as_array).and_then(|history| {
            history
                .iter()
                .find(|h| {
                    !last_applied_revision.is_empty()
                        && h.pointer("/metadata/revision").and_then(Value::as_str) == Some(&last_applied_revision)
                })
                .and_then(|h| time(h, "/firstReconciled"))
        });
        let ready_since = ready.as_ref().filter(|c| c.status == ConditionStatus::True).and_then(|c| c.since);
        let disabled = |section: &str| {
            v.pointer(&format!("/metadata/{section}/kustomize.toolkit.fluxcd.io~1reconcile")).and_then(Value::as_str)
                == Some("disabled")
        };
        Self {
            name: text(v, "/metadata/name"),
            remote: v.pointer("/spec/kubeConfig").is_some_and(|k| !k.is_null()),
            kubeconfig_secret: v.pointer("/spec/kubeConfig/secretRef/name").and_then(Value::as_str).map(str::to_owned),
            source: SourceRef {
                kind: text(v, "/spec/sourceRef/kind"),
                namespace: source_namespace,
                name: text(v, "/spec/sourceRef/name"),
            },
            suspended: flag(v, "/spec/suspend"),
            reconcile_disabled: disabled("annotations") || disabled("labels"),
            created: time(v, "/metadata/creationTimestamp"),
            generation: int(v, "/metadata/generation"),
            observed_generation: int(v, "/status/observedGeneration"),
            ready,
            applied_at: first_reconciled.or(ready_since),
            last_applied_revision,
            last_attempted_revision: text(v, "/status/lastAttemptedRevision"),
            requested_at: text(v, "/metadata/annotations/reconcile.fluxcd.io~1requestedAt"),
            last_handled_reconcile_at: text(v, "/status/lastHandledReconcileAt"),
            pinned: annotation(v, PINNED_FROM)
                .map(|from| Pin { from, revision: annotation(v, PINNED_REVISION).unwrap_or_default() }),
            suspended_reason: annotation(v, SUSPENDED_REASON).unwrap_or_default(),
            namespace,
        }
    }
}

/// What the hub records of a spoke in its kubeconfig Secret: identity annotations and the
/// server URL of the kubeconfig (its credentials are never kept).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpokeSecret {
    pub namespace: String,
    pub name: String,
    pub cluster_uid: Option<String>,
    pub ca_sha256: Option<String>,
    pub environment: Option<String>,
    pub registered_by: Option<String>,
    pub registered_at: Option<Timestamp>,
    pub server: Option<String>,
}

impl SpokeSecret {
    pub fn fold(v: &Value) -> Self {
        let annotation = |k: &str| {
            v.pointer(&format!("/metadata/annotations/{}", k.replace('/', "~1")))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let server = ["value", "value.yaml"].iter().find_map(|key| {
            let raw = STANDARD.decode(v.pointer(&format!("/data/{key}"))?.as_str()?).ok()?;
            let kubeconfig: Value = serde_saphyr::from_slice(&raw).ok()?;
            kubeconfig.pointer("/clusters/0/cluster/server")?.as_str().map(str::to_owned)
        });
        Self {
            namespace: text(v, "/metadata/namespace"),
            name: text(v, "/metadata/name"),
            cluster_uid: annotation("fleetdeck.io/cluster-uid"),
            ca_sha256: annotation("fleetdeck.io/ca-sha256"),
            environment: annotation("fleetdeck.io/environment"),
            registered_by: annotation("fleetdeck.io/registered-by"),
            registered_at: annotation("fleetdeck.io/registered-at").and_then(|t| t.parse().ok()),
            server,
        }
    }
}

/// A Flux source on the hub: the revision it serves and when it produced it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceSummary {
    /// Kind (`GitRepository` or `OCIRepository`), namespace and name.
    pub id: SourceRef,
    pub url: String,
    /// `status.artifact.revision`.
    pub revision: String,
    /// `status.artifact.lastUpdateTime`: when the hub produced the revision.
    pub produced_at: Option<Timestamp>,
    pub ready: Option<Condition>,
    pub suspended: bool,
}

impl SourceSummary {
    pub fn fold(v: &Value) -> Self {
        Self {
            id: SourceRef {
                kind: text(v, "/kind"),
                namespace: text(v, "/metadata/namespace"),
                name: text(v, "/metadata/name"),
            },
            url: text(v, "/spec/url"),
            revision: text(v, "/status/artifact/revision"),
            produced_at: time(v, "/status/artifact/lastUpdateTime"),
            ready: conditions(v).into_iter().find(|c| c.type_ == "Ready"),
            suspended: flag(v, "/spec/suspend"),
        }
    }
}

/// A policy finding's severity, as PolicyReport results carry it (`wgpolicyk8s.io`:
/// critical, high, medium, low, info); `Unset` when a result has none. Ordered worst
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
    /// No severity given: counted as at any threshold (the cautious reading).
    Unset,
}

impl Severity {
    pub const ALL: [Severity; 6] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info, Severity::Unset];

    pub fn parse(text: &str) -> Severity {
        match text.to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" => Severity::Low,
            "info" => Severity::Info,
            _ => Severity::Unset,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
            Severity::Unset => "unset",
        }
    }

    /// Whether a finding of this severity counts at `threshold` (its severity or worse;
    /// an unset one always does).
    pub fn counts_at(self, threshold: Severity) -> bool {
        self == Severity::Unset || self <= threshold
    }
}

/// One failing result of a policy report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResult {
    pub policy: String,
    pub rule: String,
    /// `fail` or `error`.
    pub result: String,
    pub severity: String,
    /// The policy's category ("Pod Security Standards (Baseline)", "Best Practices").
    pub category: String,
    pub message: String,
    /// "Kind namespace/name" of the first resource checked.
    pub resource: String,
}

/// A PolicyReport or ClusterPolicyReport: its counts and failing results (top-level
/// fields, not under status).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportSummary {
    pub namespace: String,
    pub name: String,
    pub pass: i64,
    pub fail: i64,
    pub warn: i64,
    pub error: i64,
    pub skip: i64,
    /// Results that failed or errored (at most `MAX_FAILING` kept).
    pub failing: Vec<PolicyResult>,
    /// Every failed result (not only those kept) by severity.
    pub fail_by_severity: BTreeMap<Severity, i64>,
    /// Every failed result by policy (policies are few; results are many).
    pub fail_by_policy: BTreeMap<String, i64>,
}

/// How many failing results a report summary keeps.
pub const MAX_FAILING: usize = 50;

impl ReportSummary {
    pub fn fold(v: &Value) -> Self {
        let mut fail_by_severity = BTreeMap::new();
        let mut fail_by_policy: BTreeMap<String, i64> = BTreeMap::new();
        for r in v.get("results").and_then(Value::as_array).into_iter().flatten() {
            if r.get("result").and_then(Value::as_str) == Some("fail") {
                *fail_by_severity.entry(Severity::parse(&text(r, "/severity"))).or_insert(0) += 1;
                let policy = r.get("policy").and_then(Value::as_str).unwrap_or("");
                match fail_by_policy.get_mut(policy) {
                    Some(n) => *n += 1,
                    None => _ = fail_by_policy.insert(policy.to_owned(), 1),
                }
            }
        }
        let failing = v
            .get("results")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .filter(|r| matches!(r.get("result").and_then(Value::as_str), Some("fail") | Some("error")))
                    .take(MAX_FAILING)
                    .map(|r| {
                        let res = r.pointer("/resources/0").cloned().unwrap_or(Value::Null);
                        let ns = text(&res, "/namespace");
                        let resource = match (text(&res, "/kind"), text(&res, "/name")) {
                            (k, n) if k.is_empty() && n.is_empty() => String::new(),
                            (k, n) if ns.is_empty() => format!("{k} {n}"),
                            (k, n) => format!("{k} {ns}/{n}"),
                        };
                        PolicyResult {
                            policy: text(r, "/policy"),
                            rule: text(r, "/rule"),
                            result: text(r, "/result"),
                            severity: text(r, "/severity"),
                            category: text(r, "/category"),
                            message: text(r, "/message"),
                            resource,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            namespace: text(v, "/metadata/namespace"),
            name: text(v, "/metadata/name"),
            pass: int(v, "/summary/pass"),
            fail: int(v, "/summary/fail"),
            warn: int(v, "/summary/warn"),
            error: int(v, "/summary/error"),
            skip: int(v, "/summary/skip"),
            failing,
            fail_by_severity,
            fail_by_policy,
        }
    }
}

/// Any summary, as the engine sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Summary {
    Node(NodeSummary),
    Workload(WorkloadSummary),
    Kustomization(KustomizationSummary),
    SpokeSecret(SpokeSecret),
    Source(SourceSummary),
    Report(ReportSummary),
    Backup(super::backup::BackupSummary),
    Schedule(super::backup::ScheduleSummary),
    Restore(super::backup::RestoreSummary),
    Storage(super::backup::StorageSummary),
    /// A core/v1 Event, when the audit timeline admits it; passed on to the timeline,
    /// not kept in the cluster's model.
    Event(Option<Box<super::event::EventSummary>>),
    /// A workflow run's record (`None`: a record that does not parse).
    Run(Option<std::sync::Arc<super::run::Run>>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes_fold_their_readiness_and_roles() {
        let node = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}, "managedFields": [{"big": "x"}]},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                "nodeInfo": {"kubeletVersion": "v1.33.4"}}});
        let s = NodeSummary::fold(&node);
        assert_eq!(s.ready, ConditionStatus::Unknown);
        assert!(!s.is_ready());
        assert_eq!(s.roles, ["control-plane"]);
        assert_eq!(s.conditions[1].reason, "NodeStatusUnknown");
        assert!(s.conditions[1].since.is_some());
        let bare = NodeSummary::fold(&json!({"metadata": {"name": "n2"}}));
        assert_eq!(bare.ready, ConditionStatus::Unknown, "odd shapes fold to unknown, not a panic");
    }

    #[test]
    fn kustomizations_fold_the_flux_status_paths() {
        let ks = json!({"metadata": {"namespace": "spoke-a", "name": "policies", "generation": 3,
                "annotations": {"reconcile.fluxcd.io/requestedAt": "t1"}},
            "spec": {"kubeConfig": {"secretRef": {"name": "cluster-kubeconfig"}}, "sourceRef": {"kind": "GitRepository", "name": "fleet", "namespace": "flux-system"}, "suspend": true},
            "status": {"observedGeneration": 2, "lastAppliedRevision": "main@sha1:a", "lastAttemptedRevision": "main@sha1:b", "lastHandledReconcileAt": "t0",
                "conditions": [{"type": "Ready", "status": "False", "reason": "HealthCheckFailed", "message": "timeout"}]}});
        let s = KustomizationSummary::fold(&ks);
        assert_eq!(s.kubeconfig_secret.as_deref(), Some("cluster-kubeconfig"));
        assert!(s.suspended);
        assert_eq!((s.generation, s.observed_generation), (3, 2));
        assert_eq!(s.ready.unwrap().reason, "HealthCheckFailed");
        assert_eq!(s.requested_at, "t1");
        let local = KustomizationSummary::fold(
            &json!({"metadata": {"namespace": "flux-system", "name": "x"}, "spec": {"sourceRef": {"kind": "GitRepository", "name": "r"}}}),
        );
        assert_eq!(local.kubeconfig_secret, None);
        assert_eq!(local.source.namespace, "flux-system", "the source defaults to the object's namespace");
    }

    #[test]
    fn sources_and_reports_fold_their_real_paths() {
        let git = json!({"kind": "GitRepository", "metadata": {"namespace": "flux-system", "name": "fleet"},
            "spec": {"url": "https://git.example.com/fleet.git"},
            "status": {"artifact": {"revision": "main@sha1:abc", "lastUpdateTime": "2026-01-01T00:00:00Z"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded"}]}});
        let s = SourceSummary::fold(&git);
        assert_eq!(s.revision, "main@sha1:abc");
        assert!(s.produced_at.is_some());
        assert_eq!(s.id.label(), "GitRepository/flux-system/fleet");
        let report = json!({"metadata": {"namespace": "payments", "name": "polr-ns-payments"},
            "summary": {"pass": 7, "fail": 1, "warn": 0, "error": 0, "skip": 0},
            "results": [{"policy": "require-labels", "rule": "check-team", "result": "fail", "severity": "medium", "category": "Best Practices", "message": "label team is required",
                "resources": [{"kind": "Deployment", "namespace": "payments", "name": "api"}]},
                {"policy": "disallow-privileged-containers", "rule": "privileged-containers", "result": "pass"}]});
        let r = ReportSummary::fold(&report);
        assert_eq!((r.pass, r.fail), (7, 1));
        assert_eq!(r.failing.len(), 1);
        assert_eq!(r.failing[0].resource, "Deployment payments/api");
        assert_eq!(r.fail_by_severity, BTreeMap::from([(Severity::Medium, 1)]));
        assert_eq!(r.failing[0].category, "Best Practices");
        assert_eq!(Severity::parse("HIGH"), Severity::High);
        assert_eq!(Severity::parse(""), Severity::Unset);
        assert!(Severity::Critical.counts_at(Severity::High) && !Severity::Low.counts_at(Severity::High));
        assert!(Severity::Unset.counts_at(Severity::Critical), "a finding without a severity always counts");
        let empty = ReportSummary::fold(&json!({"metadata": {"name": "x"}, "status": {"summary": {"fail": 9}}}));
        assert_eq!(empty.fail, 0, "the fields are top level; under status they are not read");
    }

    #[test]
    fn spoke_secrets_keep_the_server_and_never_the_token() {
        let kubeconfig = "clusters:\n- name: a\n  cluster:\n    server: https://10.0.0.1:6443\nusers:\n- name: u\n  user:\n    token: s3cr3t\n";
        let secret = json!({"metadata": {"namespace": "a", "name": "cluster-kubeconfig",
            "annotations": {"fleetdeck.io/cluster-uid": "uid-1", "fleetdeck.io/registered-at": "2026-01-01T00:00:00Z"}},
            "data": {"value": STANDARD.encode(kubeconfig)}});
        let s = SpokeSecret::fold(&secret);
        assert_eq!(s.server.as_deref(), Some("https://10.0.0.1:6443"));
        assert_eq!(s.cluster_uid.as_deref(), Some("uid-1"));
        assert!(!format!("{s:?}").contains("s3cr3t"));
        let garbage = SpokeSecret::fold(&json!({"metadata": {"name": "x"}, "data": {"value": "!!not base64"}}));
        assert_eq!(garbage.server, None);
    }
}
