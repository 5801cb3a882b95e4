//! What a migration's inventory reads of a cluster: namespaces, the three workload
//! kinds, CRDs, nodes, Flux and Velero, policy report totals.

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;

use super::{not_served, resource};
use crate::cluster::runbook::Runner;
use crate::fields::{int, text};
use crate::fleet::run::Run;
use crate::workflow::migrate::{Inventory, Node, PolicyTotals, VELERO_NAMESPACE, Workload};

impl Runner {
    /// Every object of a resource, cluster-wide; `Ok(None)` when it is not served.
    pub(super) async fn list_all(&self, context: &str, ar: &ApiResource) -> Result<Option<Vec<Value>>, String> {
        let client = self.writer.client(context).await?;
        let api: Api<DynamicObject> = Api::all_with(client, ar);
        match tokio::time::timeout(self.settings.request_timeout, api.list(&ListParams::default())).await {
            Err(_) => Err(format!("listing {} on {context} timed out", ar.plural)),
            Ok(Err(e)) if not_served(&e) => Ok(None),
            Ok(Err(e)) => {
                Err(format!("cannot list {} on {context}: {}", ar.plural, crate::cluster::errors::classify(&e).1))
            }
            Ok(Ok(list)) => {
                Ok(Some(list.items.iter().map(|o| serde_json::to_value(o).unwrap_or(Value::Null)).collect()))
            }
        }
    }

    /// Every Deployment, StatefulSet and DaemonSet of `context` with its replicas, ready
    /// count and images; a kind the API does not serve is named in `gaps`.
    pub(super) async fn workloads_of(&self, context: &str, gaps: &mut Vec<String>) -> Result<Vec<Workload>, String> {
        let mut workloads = Vec::new();
        for (kind, plural, desired, ready) in [
            ("Deployment", "deployments", "/spec/replicas", "/status/readyReplicas"),
            ("StatefulSet", "statefulsets", "/spec/replicas", "/status/readyReplicas"),
            ("DaemonSet", "daemonsets", "/status/desiredNumberScheduled", "/status/numberReady"),
        ] {
            match self.list_all(context, &resource("apps", "v1", kind, plural)).await? {
                None => gaps.push(format!("{kind}s: not served by the API")),
                Some(items) => workloads.extend(items.iter().map(|o| {
                    Workload {
                        kind: kind.into(),
                        namespace: text(o, "/metadata/namespace"),
                        name: text(o, "/metadata/name"),
                        replicas: int(o, desired),
                        ready: int(o, ready),
                        images: o
                            .pointer("/spec/template/spec/containers")
                            .and_then(Value::as_array)
                            .map(|c| c.iter().map(|c| text(c, "/image")).collect())
                            .unwrap_or_default(),
                    }
                })),
            }
        }
        Ok(workloads)
    }

    /// The cluster's state, as the inventory documents it.
    pub(super) async fn inventory(&self, run: &Run) -> Result<Inventory, String> {
        let context = run.context.as_str();
        if context.is_empty() {
            return Err("no local context reaches the cluster: it cannot be documented".into());
        }
        let mut gaps = Vec::new();
        let names = |items: &[Value]| -> Vec<String> {
            let mut n: Vec<String> = items.iter().map(|o| text(o, "/metadata/name")).collect();
            n.sort();
            n
        };
        let namespaces = self
            .list_all(context, &resource("", "v1", "Namespace", "namespaces"))
            .await?
            .map(|l| names(&l))
            .unwrap_or_default();
        let mut workloads = self.workloads_of(context, &mut gaps).await?;
        workloads.sort_by(|a, b| (&a.namespace, &a.name, &a.kind).cmp(&(&b.namespace, &b.name, &b.kind)));
        let crd = resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions");
        let crds = match self.list_all(context, &crd).await {
            Ok(Some(l)) => names(&l),
            Ok(None) => Vec::new(),
            Err(e) => {
                gaps.push(format!("CRDs: {e}"));
                Vec::new()
            }
        };
        let nodes = self
            .list_all(context, &resource("", "v1", "Node", "nodes"))
            .await?
            .unwrap_or_default()
            .iter()
            .map(|n| Node {
                name: text(n, "/metadata/name"),
                version: text(n, "/status/nodeInfo/kubeletVersion"),
                ready: n
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| c.iter().any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True")),
            })
            .collect();
        let flux = workloads
            .iter()
            .filter(|w| w.namespace == "flux-system" && w.name.ends_with("-controller"))
            .map(|w| format!("{}/{}", w.namespace, w.name))
            .collect();
        let velero = crds.iter().any(|c| c == "backups.velero.io") && namespaces.iter().any(|n| n == VELERO_NAMESPACE);
        let policy = self.policy_totals(context).await.unwrap_or_else(|e| {
            gaps.push(format!("policy reports: {e}"));
            None
        });
        Ok(Inventory {
            cluster: run.cluster.clone(),
            taken_at: jiff::Timestamp::now(),
            namespaces,
            workloads,
            crds,
            nodes,
            flux,
            velero,
            policy,
            gaps,
        })
    }

    /// The policy reports' result totals; `None` when PolicyReports are not served.
    pub(super) async fn policy_totals(&self, context: &str) -> Result<Option<PolicyTotals>, String> {
        let mut totals: Option<PolicyTotals> = None;
        for (kind, plural) in [("PolicyReport", "policyreports"), ("ClusterPolicyReport", "clusterpolicyreports")] {
            let Some(items) = self.list_all(context, &resource("wgpolicyk8s.io", "v1alpha2", kind, plural)).await?
            else {
                continue;
            };
            let t = totals.get_or_insert_with(PolicyTotals::default);
            for r in &items {
                t.pass += int(r, "/summary/pass");
                t.fail += int(r, "/summary/fail");
                t.warn += int(r, "/summary/warn");
                t.error += int(r, "/summary/error");
                t.skip += int(r, "/summary/skip");
            }
        }
        Ok(totals)
    }
}
