//! What the checks and waits of the registration workflows read, judged by
//! `workflow::register`. Reads only.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Runner;
use crate::fields::text;
use crate::fleet::run::{Evidence, MANAGED_BY, MANAGER, ObjectRef, RUN_NAMESPACE, Run, StepSpec, Verdict};
use crate::workflow::migrate::Reading;
use crate::workflow::register::{
    self, KUBECONFIG_SECRET, UID_ANNOTATION, dns_label, evidence, identity, list_fact, render, server_reach,
    sources_of, spoke_facts, verdict_of, version_skew,
};

/// A check's verdict, evidence and facts.
pub type Checked = (Verdict, Vec<Evidence>, BTreeMap<String, String>);

fn failed(text: String) -> Checked {
    (Verdict::Fail, vec![evidence(Verdict::Fail, text)], BTreeMap::new())
}

fn judged(evidence: Vec<Evidence>, facts: BTreeMap<String, String>) -> Checked {
    (verdict_of(&evidence), evidence, facts)
}

/// The names only this machine resolves (`/etc/hosts`).
fn local_names() -> Vec<String> {
    std::fs::read_to_string("/etc/hosts")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.split_whitespace().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// PEM of DER certificates, as a kubeconfig's `certificate-authority-data` holds it.
fn pem(ders: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for der in ders {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = STANDARD.encode(der);
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn secrets() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Secret"), "secrets")
}

impl Runner {
    async fn client(&self, context: &str) -> Result<kube::Client, String> {
        self.writer.client(context).await
    }

    /// Whether the context's credentials may `verb` a resource (`kubectl auth can-i`).
    async fn can(&self, context: &str, (verb, group, resource, namespace, name): Need<'_>) -> Result<bool, String> {
        let client = self.client(context).await?;
        crate::cluster::access::can(&client, (verb, group, resource), namespace, name, self.settings.request_timeout)
            .await
            .map_err(|e| e.message)
    }

    /// One evidence line per need: may or may not.
    async fn access(&self, needs: &[(String, Need<'_>)]) -> Vec<Evidence> {
        let mut out = Vec::new();
        for (context, need) in needs {
            let (verb, group, resource, namespace, name) = *need;
            let what = if group.is_empty() { resource.to_owned() } else { format!("{resource}.{group}") };
            let what = if name.is_empty() { what } else { format!("{what} {name}") };
            let place = if namespace.is_empty() { "cluster-wide".to_owned() } else { format!("in {namespace}") };
            out.push(match self.can(context, *need).await {
                Ok(true) => evidence(Verdict::Pass, format!("{context}: may {verb} {what} {place}")),
                Ok(false) => evidence(Verdict::Fail, format!("{context}: may not {verb} {what} {place}")),
                Err(e) => evidence(Verdict::Fail, format!("{context}: cannot ask whether it may {verb} {what}: {e}")),
            });
        }
        out
    }

    async fn version(&self, context: &str) -> Result<String, String> {
        let client = self.client(context).await?;
        match tokio::time::timeout(self.settings.request_timeout, client.apiserver_version()).await {
            Ok(Ok(info)) => Ok(info.git_version),
            Ok(Err(e)) => Err(crate::cluster::errors::classify(&e).1),
            Err(_) => Err(format!("no answer within {} s", self.settings.request_timeout.as_secs())),
        }
    }

    pub(super) async fn get(&self, context: &str, object: &ObjectRef) -> Result<Option<Value>, String> {
        self.read(context, object).await.map_err(|e| e.describe())
    }

    async fn kube_system_uid(&self, context: &str) -> Result<String, String> {
        let ns = ObjectRef::new("v1", "Namespace", "namespaces", "", "kube-system");
        let found = self.get(context, &ns).await?.ok_or("it has no kube-system namespace")?;
        Ok(text(&found, "/metadata/uid"))
    }

    /// Every hub registration: its namespace and recorded UID.
    async fn registrations(&self, hub: &str) -> Result<Vec<(String, String)>, String> {
        let api: Api<DynamicObject> = Api::all_with(self.client(hub).await?, &secrets());
        let params = ListParams::default().fields(&format!("metadata.name={KUBECONFIG_SECRET}"));
        let list = tokio::time::timeout(self.settings.request_timeout, api.list_metadata(&params))
            .await
            .map_err(|_| "listing the hub's kubeconfig Secrets timed out".to_owned())?
            .map_err(|e| crate::cluster::errors::classify(&e).1)?;
        Ok(list
            .items
            .into_iter()
            .map(|s| {
                let uid = s.metadata.annotations.and_then(|a| a.get(UID_ANNOTATION).cloned()).unwrap_or_default();
                (s.metadata.namespace.unwrap_or_default(), uid)
            })
            .collect())
    }

    /// Runs a check of `run`.
    pub(super) async fn check(&self, run: &Run, check: &str) -> Checked {
        let (spoke, context, hub) = (run.cluster.as_str(), run.context.as_str(), run.hub.as_str());
        let reg = &self.settings.register;
        match check {
            "spoke-answers" => {
                let version = match self.version(context).await {
                    Ok(v) => v,
                    Err(e) => return failed(format!("{context} does not answer: {e}")),
                };
                let hub_version = match self.version(hub).await {
                    Ok(v) => v,
                    Err(e) => return failed(format!("the hub ({hub}) does not answer: {e}")),
                };
                let server = self.writer.server_of(context);
                let lines = vec![version_skew(&version, &hub_version), server_reach(&server, &local_names())];
                judged(lines, spoke_facts(&version, &server, spoke))
            }
            "identity" => {
                let uid = match self.kube_system_uid(context).await {
                    Ok(uid) => uid,
                    Err(e) => return failed(format!("cannot read {context}'s identity: {e}")),
                };
                let registered = match self.registrations(hub).await {
                    Ok(r) => r,
                    Err(e) => return failed(format!("cannot read the hub's registrations: {e}")),
                };
                let mut lines = vec![identity(spoke, &uid, &registered)];
                let mut facts = BTreeMap::from([("uid".to_owned(), uid)]);
                match self.writer.ca_of(context) {
                    Some(ders) if !ders.is_empty() => {
                        let sha = hex(&Sha256::digest(&ders[0]));
                        lines.push(evidence(Verdict::Pass, format!("the kubeconfig trusts the CA sha256:{sha}")));
                        facts.insert("ca_sha256".into(), sha);
                        facts.insert("ca_data".into(), STANDARD.encode(pem(&ders)));
                    }
                    _ => match crate::cluster::chain::of(&self.writer.server_of(context), self.settings.request_timeout)
                        .await
                    {
                        // A server whose certificate a CA the system trusts signed: the
                        // hub's kubeconfig trusts the system's CAs too.
                        Ok(chain) => {
                            let sha = hex(&Sha256::digest(chain.last().map(Vec::as_slice).unwrap_or_default()));
                            lines.push(evidence(
                                Verdict::Warn,
                                format!("the kubeconfig of {context} names no CA: recorded the server's chain (its last certificate sha256:{sha}); the hub's kubeconfig trusts the system's CAs"),
                            ));
                            facts.insert("ca_sha256".into(), sha);
                            facts.insert("ca_data".into(), String::new());
                        }
                        Err(e) => lines.push(evidence(
                            Verdict::Fail,
                            format!(
                                "the kubeconfig of {context} names no CA, and the server's chain cannot be read: {e}"
                            ),
                        )),
                    },
                }
                judged(lines, facts)
            }
            "name-free" => {
                if let Err(e) = dns_label(spoke) {
                    return failed(e);
                }
                let ns = ObjectRef::new("v1", "Namespace", "namespaces", "", spoke);
                match self.get(hub, &ns).await {
                    Ok(None) => judged(
                        vec![evidence(Verdict::Pass, format!("no namespace {spoke} on the hub"))],
                        BTreeMap::new(),
                    ),
                    Ok(Some(_)) => failed(format!("the hub has a namespace {spoke} already: the name is taken")),
                    Err(e) => failed(format!("cannot read the hub's namespaces: {e}")),
                }
            }
            "hub-flux" => {
                let mut lines = Vec::new();
                let controller =
                    ObjectRef::new("apps/v1", "Deployment", "deployments", "flux-system", "kustomize-controller");
                match self.get(hub, &controller).await {
                    Ok(Some(d)) if crate::fields::int(&d, "/status/readyReplicas") > 0 => {
                        lines.push(evidence(Verdict::Pass, "kustomize-controller is running on the hub"))
                    }
                    Ok(Some(_)) => {
                        lines.push(evidence(Verdict::Fail, "kustomize-controller on the hub has no ready replica"))
                    }
                    Ok(None) => lines
                        .push(evidence(Verdict::Fail, "the hub runs no Flux (no flux-system/kustomize-controller)")),
                    Err(e) => lines.push(evidence(Verdict::Fail, format!("cannot read the hub's Flux: {e}"))),
                }
                match render(&reg.templates, spoke, &register::environment_of(spoke)) {
                    Err(e) => lines.push(evidence(Verdict::Fail, e)),
                    Ok(rendered) => {
                        for (kind, ns, name) in sources_of(&rendered) {
                            let plural = crate::fleet::run::plural_of(&kind);
                            let source = ObjectRef::new("source.toolkit.fluxcd.io/v1", &kind, &plural, &ns, &name);
                            lines.push(match self.get(hub, &source).await {
                                Ok(Some(s)) => {
                                    let revision = text(&s, "/status/artifact/revision");
                                    evidence(Verdict::Pass, format!("{kind} {ns}/{name} is at {revision}"))
                                }
                                Ok(None) => evidence(
                                    Verdict::Fail,
                                    format!("the templates name {kind} {ns}/{name}, which the hub does not have"),
                                ),
                                Err(e) => evidence(Verdict::Fail, format!("cannot read {kind} {ns}/{name}: {e}")),
                            });
                        }
                    }
                }
                judged(lines, BTreeMap::new())
            }
            "access-register" => {
                let ns = reg.namespace.as_str();
                let rbac = "rbac.authorization.k8s.io";
                let needs: Vec<(String, Need<'_>)> = vec![
                    (context.into(), ("create", "", "serviceaccounts", ns, "")),
                    (context.into(), ("create", rbac, "clusterrolebindings", "", "")),
                    (context.into(), ("bind", rbac, "clusterroles", "", reg.role.as_str())),
                    (context.into(), ("create", "", "secrets", ns, "")),
                    (context.into(), ("get", "", "secrets", ns, "")),
                    (hub.into(), ("create", "", "namespaces", "", "")),
                    (hub.into(), ("create", "", "secrets", spoke, "")),
                    (hub.into(), ("create", "kustomize.toolkit.fluxcd.io", "kustomizations", spoke, "")),
                    (hub.into(), ("create", "", "configmaps", RUN_NAMESPACE, "")),
                    (hub.into(), ("update", "", "configmaps", RUN_NAMESPACE, "")),
                ];
                judged(self.access(&needs).await, BTreeMap::new())
            }
            "registered" => self.registered(run).await,
            "access-unregister" => {
                let mut needs: Vec<(String, Need<'_>)> = vec![
                    (hub.into(), ("patch", "kustomize.toolkit.fluxcd.io", "kustomizations", spoke, "")),
                    (hub.into(), ("delete", "kustomize.toolkit.fluxcd.io", "kustomizations", spoke, "")),
                    (hub.into(), ("delete", "", "secrets", spoke, "")),
                    (hub.into(), ("delete", "", "namespaces", "", "")),
                ];
                let spoke_objects: Vec<ObjectRef> =
                    run.facts.get("spoke_objects").and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default();
                let owned: Vec<(String, String)> =
                    spoke_objects.iter().map(|o| (o.plural.clone(), o.namespace.clone())).collect();
                let group_of =
                    |plural: &str| if plural == "clusterrolebindings" { "rbac.authorization.k8s.io" } else { "" };
                for (plural, ns) in &owned {
                    needs.push((context.into(), ("delete", group_of(plural), plural.as_str(), ns.as_str(), "")));
                }
                judged(self.access(&needs).await, BTreeMap::new())
            }
            "deployments" => match self.workloads(context).await {
                Ok(list) => {
                    let namespaces: BTreeSet<&str> =
                        list.iter().map(|(k, _)| k.split('/').next().unwrap_or_default()).collect();
                    let line = evidence(
                        Verdict::Pass,
                        format!("{} Deployments in {} namespaces", list.len(), namespaces.len()),
                    );
                    judged(
                        vec![line],
                        BTreeMap::from([("workloads".to_owned(), serde_json::to_string(&list).unwrap_or_default())]),
                    )
                }
                Err(e) => failed(e),
            },
            "untouched" => {
                let before: Vec<(String, String)> =
                    run.facts.get("workloads").and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default();
                match self.workloads(context).await {
                    Ok(now) => {
                        let missing: Vec<&str> =
                            before.iter().filter(|b| !now.contains(b)).map(|(k, _)| k.as_str()).collect();
                        if missing.is_empty() {
                            judged(
                                vec![evidence(
                                    Verdict::Pass,
                                    format!("all {} Deployments are as they were", before.len()),
                                )],
                                BTreeMap::new(),
                            )
                        } else {
                            failed(format!("{} Deployments changed or went: {}", missing.len(), missing.join(", ")))
                        }
                    }
                    Err(e) => failed(e),
                }
            }
            other => self.migration_check(run, other).await,
        }
    }

    /// Every Deployment of a context, as namespace/name and UID.
    async fn workloads(&self, context: &str) -> Result<Vec<(String, String)>, String> {
        if context.is_empty() {
            return Err("no local context reaches the spoke: its workloads cannot be read".into());
        }
        let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "Deployment"), "deployments");
        let api: Api<DynamicObject> = Api::all_with(self.client(context).await?, &ar);
        let list = tokio::time::timeout(self.settings.request_timeout, api.list_metadata(&ListParams::default()))
            .await
            .map_err(|_| format!("listing {context}'s Deployments timed out"))?
            .map_err(|e| format!("cannot list {context}'s Deployments: {}", crate::cluster::errors::classify(&e).1))?;
        let mut out: Vec<(String, String)> = list
            .items
            .into_iter()
            .map(|d| {
                let m = d.metadata;
                (
                    format!("{}/{}", m.namespace.unwrap_or_default(), m.name.unwrap_or_default()),
                    m.uid.unwrap_or_default(),
                )
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The unregistration's first check: what the hub and the spoke hold of it.
    async fn registered(&self, run: &Run) -> Checked {
        let (spoke, context, hub) = (run.cluster.as_str(), run.context.as_str(), run.hub.as_str());
        let secret = ObjectRef::new("v1", "Secret", "secrets", spoke, KUBECONFIG_SECRET);
        let found = match self.get(hub, &secret).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return failed(format!("the hub has no {spoke}/{KUBECONFIG_SECRET}: {spoke} is not registered"));
            }
            Err(e) => return failed(format!("cannot read the hub's registration of {spoke}: {e}")),
        };
        let mut lines = vec![evidence(Verdict::Pass, format!("the hub holds {spoke}/{KUBECONFIG_SECRET}"))];
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
            "kustomizations",
        );
        let kustomizations: Vec<ObjectRef> = match self.client(hub).await {
            Ok(client) => {
                let api: Api<DynamicObject> = Api::namespaced_with(client, spoke, &ar);
                match api.list_metadata(&ListParams::default()).await {
                    Ok(list) => list
                        .items
                        .into_iter()
                        .map(|k| {
                            ObjectRef::new(
                                "kustomize.toolkit.fluxcd.io/v1",
                                "Kustomization",
                                "kustomizations",
                                spoke,
                                &k.metadata.name.unwrap_or_default(),
                            )
                        })
                        .collect(),
                    Err(e) => {
                        return failed(format!(
                            "cannot list the Kustomizations in {spoke}: {}",
                            crate::cluster::errors::classify(&e).1
                        ));
                    }
                }
            }
            Err(e) => return failed(e),
        };
        let names: Vec<&str> = kustomizations.iter().map(|k| k.name.as_str()).collect();
        lines.push(evidence(Verdict::Pass, format!("{} Kustomizations: {}", names.len(), names.join(", "))));
        let hub_objects = vec![secret, ObjectRef::new("v1", "Namespace", "namespaces", "", spoke)];
        let mut facts = BTreeMap::from([
            ("kustomizations".to_owned(), list_fact(&kustomizations)),
            ("hub_objects".to_owned(), list_fact(&hub_objects)),
            ("uid".to_owned(), text(&found, &format!("/metadata/annotations/{}", UID_ANNOTATION.replace('/', "~1")))),
        ]);
        let reg = &self.settings.register;
        let mut spoke_objects = Vec::new();
        if context.is_empty() {
            lines.push(evidence(Verdict::Warn, "no local context reaches the spoke: the hub's access on it stays"));
        } else {
            let sa = reg.service_account.as_str();
            let candidates = [
                ObjectRef::new("v1", "Secret", "secrets", &reg.namespace, &format!("{sa}-token")),
                ObjectRef::new(
                    "rbac.authorization.k8s.io/v1",
                    "ClusterRoleBinding",
                    "clusterrolebindings",
                    "",
                    &format!("{sa}-{}", reg.role),
                ),
                ObjectRef::new("v1", "ServiceAccount", "serviceaccounts", &reg.namespace, sa),
            ];
            for object in candidates {
                match self.get(context, &object).await {
                    Ok(Some(o))
                        if text(&o, &format!("/metadata/labels/{}", MANAGED_BY.replace('/', "~1"))) == MANAGER =>
                    {
                        spoke_objects.push(object)
                    }
                    Ok(Some(_)) => lines.push(evidence(
                        Verdict::Warn,
                        format!("{} on {context} was not created by fleetdeck: left in place", object.label()),
                    )),
                    Ok(None) => {}
                    Err(e) => {
                        lines.push(evidence(Verdict::Warn, format!("cannot read {} on {context}: {e}", object.label())))
                    }
                }
            }
        }
        facts.insert("spoke_objects".into(), list_fact(&spoke_objects));
        judged(lines, facts)
    }

    /// The Kustomizations the run created on the hub: (name, Ready, last applied
    /// revision, the source's revision, seconds from creation to Ready).
    /// (A read that fails says why, as the wait on it shows it: see `unread`.)
    pub(super) async fn kustomization_states(&self, run: &Run) -> Result<Vec<KustomizationState>, Reading> {
        let hub = run.hub.as_str();
        let created: Vec<ObjectRef> = run
            .steps
            .iter()
            .filter_map(|s| match &s.spec {
                StepSpec::ChangeSet { writes, .. } => Some(writes),
                _ => None,
            })
            .flatten()
            .filter(|w| w.object.kind == "Kustomization" && w.verb == crate::fleet::run::Verb::Create)
            .map(|w| w.object.clone())
            .collect();
        let mut states = Vec::new();
        for k in &created {
            let object = match self.read(hub, k).await {
                Ok(Some(o)) => o,
                Ok(None) => return Err(Reading::Pending(format!("{} is gone from the hub", k.label()))),
                Err(e) => return Err(unread(e, &k.label())),
            };
            let source = ObjectRef::source_of(&object);
            let source_revision = self
                .get(hub, &source)
                .await
                .ok()
                .flatten()
                .map(|s| text(&s, "/status/artifact/revision"))
                .unwrap_or_default();
            let ready = object
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("Ready")).cloned());
            let is_ready = ready.as_ref().is_some_and(|c| text(c, "/status") == "True");
            let took = ready.as_ref().and_then(|c| {
                let at = crate::fields::time(c, "/lastTransitionTime")?;
                let created = crate::fields::time(&object, "/metadata/creationTimestamp")?;
                Some(at.duration_since(created).as_secs_f64().max(0.0))
            });
            states.push((
                k.name.clone(),
                is_ready,
                text(&object, "/status/lastAppliedRevision"),
                source_revision,
                took,
            ));
        }
        Ok(states)
    }

    /// Reads a wait's condition once: what it shows, and whether it holds.
    pub(super) async fn condition(&self, run: &Run, condition: &str) -> Reading {
        match condition {
            "kustomizations-ready" => match self.kustomization_states(run).await {
                Ok(states) => match register::kustomizations_ready(&states) {
                    (text, true) => Reading::Held(text),
                    (text, false) => Reading::Pending(text),
                },
                Err(reading) => reading,
            },
            "backup-completed" => self.backup_completed(run).await,
            other => self.joining(run, other).await,
        }
    }

    /// Whether the hub joins the spoke (`joined`) or holds nothing of it (`unjoined`).
    async fn joining(&self, run: &Run, condition: &str) -> Reading {
        let (spoke, context, hub) = (run.cluster.as_str(), run.context.as_str(), run.hub.as_str());
        let secret = ObjectRef::new("v1", "Secret", "secrets", spoke, KUBECONFIG_SECRET);
        let uid_of = |s: &Value| text(s, &format!("/metadata/annotations/{}", UID_ANNOTATION.replace('/', "~1")));
        match condition {
            "joined" => {
                let uid = run.facts.get("uid").cloned().unwrap_or_default();
                let recorded = match self.read(hub, &secret).await {
                    Ok(Some(s)) => uid_of(&s),
                    Ok(None) => return Reading::Pending(format!("the hub has no {spoke}/{KUBECONFIG_SECRET}")),
                    Err(e) => return unread(e, &format!("{spoke}/{KUBECONFIG_SECRET}")),
                };
                let ns = ObjectRef::new("v1", "Namespace", "namespaces", "", "kube-system");
                match self.read(context, &ns).await {
                    Ok(Some(n)) if text(&n, "/metadata/uid") == uid && recorded == uid => Reading::Held(format!(
                        "{KUBECONFIG_SECRET} names UID {uid}, {context}'s kube-system UID: fleetdeck joins it as the spoke {spoke}"
                    )),
                    Ok(Some(n)) => Reading::Pending(format!(
                        "{KUBECONFIG_SECRET} names UID {recorded:?}, {context} has {}",
                        text(&n, "/metadata/uid")
                    )),
                    Ok(None) => Reading::Pending(format!("{context} has no kube-system namespace")),
                    Err(e) => unread(e, &format!("{context}'s identity")),
                }
            }
            "unjoined" => {
                let ns = ObjectRef::new("v1", "Namespace", "namespaces", "", spoke);
                match (self.read(hub, &secret).await, self.read(hub, &ns).await) {
                    (Ok(None), Ok(None)) => Reading::Held(format!("the hub holds no {spoke}: a candidate again")),
                    (Ok(None), Ok(Some(_))) => {
                        Reading::Pending(format!("the hub's namespace {spoke} is being deleted"))
                    }
                    (Ok(Some(_)), _) => Reading::Pending(format!("the hub still holds {spoke}/{KUBECONFIG_SECRET}")),
                    (Err(e), _) | (_, Err(e)) => unread(e, "the hub"),
                }
            }
            other => self.rollback_condition(run, other).await,
        }
    }
}

/// Why a condition could not be read: a cluster that does not answer pauses the wait
/// (its time away does not count against the timeout); any other error is shown as the
/// wait's progress.
pub(super) fn unread(e: crate::fleet::run::WriteError, what: &str) -> Reading {
    use crate::fleet::run::WriteError;
    let text = format!("cannot read {what}: {}", e.describe());
    match e {
        WriteError::Unreachable { .. } | WriteError::Timeout { .. } => Reading::Paused(text),
        _ => Reading::Pending(text),
    }
}

/// A Kustomization the run created, as a wait and the connectivity check read it:
/// (name, Ready, last applied revision, its source's revision, seconds to Ready).
pub type KustomizationState = (String, bool, String, String, Option<f64>);

/// What a check asks the API: (verb, group, resource, namespace, name).
pub type Need<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);
