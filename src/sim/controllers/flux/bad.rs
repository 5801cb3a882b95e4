//! The scenario's bad revision, as a spoke lives it: once applied, the application
//! Deployments' pod templates crash-loop (nothing ready; a Velero restore of the
//! Deployments puts them back), Kyverno reports violations on them, and the API answers
//! slower. A good revision applied afterwards takes the violations and the latency away;
//! the broken Deployments stay broken until they are restored.

use serde_json::{Value, json};

use crate::api::strategy::BROKEN;
use crate::api::{Caller, write};
use crate::cluster::Cluster;
use crate::controllers::reports::bad_revision_report;
use crate::resource::GroupResource;
use crate::scenario::{Scenario, matches_any};

/// Where a bad revision breaks workloads.
const APPLICATION_NAMESPACES: [&str; 2] = ["payments", "storefront"];

/// The spoke applied `revision`; `bad` says whether it is the scenario's bad one.
pub fn applied(spoke: &Cluster, scenario: &Scenario, revision: &str, bad: bool) {
    let reached = scenario.flux.bad_on.is_empty() || matches_any(&scenario.flux.bad_on, spoke.name());
    let mut st = spoke.lock();
    match (bad && reached, st.bad_revision.clone()) {
        (true, None) => {
            let before = spoke.faults.current().latency;
            st.bad_revision = Some((revision.to_owned(), before));
            spoke.faults.update(|f| f.latency = before + scenario.flux.bad_latency);
            let caller = Caller::system("kustomize-controller");
            let Some(rt) = st.registry.lookup("apps", "v1", "deployments").cloned() else { return };
            for ns in APPLICATION_NAMESPACES {
                let names: Vec<String> = st
                    .store
                    .list(&GroupResource::new("apps", "deployments"), Some(ns), None)
                    .map(|(k, _)| k.1.clone())
                    .collect();
                for name in names {
                    let _ = write::modify_internal(&mut st, &caller, &rt, ns, &name, "", |d| {
                        d["spec"]["template"]["metadata"]["annotations"][BROKEN] = json!(revision);
                    });
                }
                let report = bad_revision_report(&st, ns, revision);
                if let Some(rt) = st.registry.lookup("wgpolicyk8s.io", "v1alpha2", "policyreports").cloned() {
                    let _ = write::create(&mut st, &Caller::system("kyverno-reports-controller"), &rt, ns, report);
                }
            }
            tracing::info!(cluster = spoke.name(), revision, "the bad revision reached the spoke");
        }
        (false, Some((_, latency))) => {
            st.bad_revision = None;
            spoke.faults.update(|f| f.latency = latency);
            if let Some(rt) = st.registry.lookup("wgpolicyk8s.io", "v1alpha2", "policyreports").cloned() {
                for ns in APPLICATION_NAMESPACES {
                    let _ = write::delete(
                        &mut st,
                        &Caller::system("kyverno-reports-controller"),
                        &rt,
                        ns,
                        "polr-bad-revision",
                        &write::DeleteOptions::default(),
                    );
                }
            }
            tracing::info!(cluster = spoke.name(), revision, "a good revision replaced the bad one");
        }
        _ => {}
    }
}

/// The artifact source-controller gives a source fleetdeck (or anyone) created with its
/// `spec.ref` fixed: `spec.ref.commit` (Git; the branch names it, as Flux's revision
/// does) or `spec.ref.digest` (OCI). `None` for a source without a fixed ref.
pub fn pinned_revision(kind: &str, source: &Value) -> Option<String> {
    let r = source.pointer("/spec/ref")?;
    match kind {
        "GitRepository" => {
            let commit = r.get("commit")?.as_str()?;
            Some(match r.get("branch").and_then(Value::as_str) {
                Some(branch) => format!("{branch}@sha1:{commit}"),
                None => format!("sha1:{commit}"),
            })
        }
        "OCIRepository" => {
            let digest = r.get("digest")?.as_str()?;
            let tag = r.get("tag").and_then(Value::as_str).unwrap_or("latest");
            Some(format!("{tag}@{digest}"))
        }
        _ => None,
    }
}
