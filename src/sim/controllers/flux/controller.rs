//! kustomize-controller: a queue of jobs (publish, start, finish) per Kustomization on the
//! hub, fed by the hub's change feed, applying each revision onto its spoke with the
//! scenario's delays and failures, and answering suspend and reconcile requests.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use rand::Rng;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    KUSTOMIZE_GROUP, REQUESTED_AT, SOURCE_GROUP, apply_on_spoke, condition, conditions_of, hex, publish, set_condition,
    source_revision, spoke_delay,
};
use crate::api::{Caller, write};
use crate::clock::rfc3339;
use crate::cluster::Cluster;
use crate::controllers::ChangeFeed;
use crate::controllers::events::{Note, record_about};
use crate::fault::OutageMode;
use crate::object::text;
use crate::resource::GroupResource;
use crate::scenario::Scenario;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Job {
    /// A source moves to a new revision.
    Publish { kind: String, name: String },
    /// `fleet-policies` moves to the scenario's bad revision.
    PublishBad,
    /// kustomize-controller picks up a Kustomization (Ready=Unknown).
    Start { ns: String, name: String },
    /// kustomize-controller finishes a reconciliation.
    Finish { ns: String, name: String },
}

struct Controller {
    hub: Arc<Cluster>,
    /// Spokes by their API server URL (how the kubeconfig Secret names them).
    spokes: HashMap<String, Arc<Cluster>>,
    scenario: Arc<Scenario>,
    queue: BinaryHeap<Reverse<(Instant, Job)>>,
    /// What each Kustomization last asked for: (generation, requestedAt, suspended).
    seen: HashMap<(String, String), (i64, String, bool)>,
    /// When each running reconciliation started.
    started: HashMap<(String, String), Instant>,
    /// The artifact revision each source was last seen at.
    source_revisions: HashMap<(String, String), String>,
    /// The spoke each Kustomization last applied onto (for pruning when it is deleted).
    applied_to: HashMap<(String, String), Arc<Cluster>>,
    /// The scenario's bad revisions, once published.
    bad: HashSet<String>,
}

fn ks_gr() -> GroupResource {
    GroupResource::new(KUSTOMIZE_GROUP, "kustomizations")
}

/// Why a spoke cannot be reached through its kubeconfig, or `None` when it can.
fn unreachable_reason(spoke: &Cluster) -> Option<(String, Duration)> {
    let faults = spoke.faults.current();
    let host = spoke.info.server.trim_start_matches("https://");
    match faults.outage {
        Some(OutageMode::Refused) => Some((
            format!(
                "failed to get server groups: Get \"{}/api?timeout=32s\": dial tcp {host}: connect: connection refused",
                spoke.info.server
            ),
            Duration::ZERO,
        )),
        Some(OutageMode::Hanging) => Some((
            format!(
                "failed to get server groups: Get \"{}/api?timeout=32s\": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)",
                spoke.info.server
            ),
            Duration::from_secs(32),
        )),
        None if faults.reject_credentials => Some((
            "failed to get server groups: the server has asked for the client to provide credentials".to_owned(),
            Duration::ZERO,
        )),
        None => None,
    }
}

/// Why the spoke's API server refuses the kubeconfig's token, as kustomize-controller
/// reports it: unknown (Unauthorized), or not allowed to apply what the Kustomization
/// holds (Forbidden on the first object).
fn credentials_refused(spoke: &Cluster, token: &str, ks_name: &str) -> Option<String> {
    let mut st = spoke.lock();
    let header = format!("Bearer {token}");
    let Ok(user) = st.authn.authenticate(Some(&header), None, std::time::SystemTime::now()) else {
        return Some(
            "failed to get server groups: the server has asked for the client to provide credentials".to_owned(),
        );
    };
    let (kind, ns, name) = if ks_name == "policies" {
        ("ConfigMap", crate::api::strategy::POLICY_CONFIGMAP.0, crate::api::strategy::POLICY_CONFIGMAP.1)
    } else {
        ("ConfigMap", "fleet-system", "platform-config")
    };
    let attrs = crate::auth::Attributes::resource("patch", "", "configmaps", ns, name);
    if st.authorize(&user, &attrs).allowed {
        return None;
    }
    Some(format!(
        "{kind}/{ns}/{name} dry-run failed (Forbidden): configmaps \"{name}\" is forbidden: User \"{}\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"{ns}\"",
        user.username
    ))
}

fn failure_message(reason: &str) -> String {
    match reason {
        "HealthCheckFailed" => "Health check failed after 3m0s: timeout waiting for: [Deployment/payments/api status: 'InProgress']".to_owned(),
        "BuildFailed" => "kustomize build failed: accumulating resources: accumulation err='accumulating resources from './overlays': evalsymlink failure on '/tmp/kustomization-1234/overlays' : lstat /tmp/kustomization-1234/overlays: no such file or directory'".to_owned(),
        "ArtifactFailed" => "Source artifact not found, retrying in 30s".to_owned(),
        "DependencyNotReady" => "dependency 'flux-system/infrastructure' is not ready".to_owned(),
        _ => "ConfigMap/fleet-system/platform-config dry-run failed: admission webhook \"validate.kyverno.svc-fail\" denied the request: resource ConfigMap/fleet-system/platform-config was blocked due to the following policies".to_owned(),
    }
}

impl Controller {
    fn schedule(&mut self, after: Duration, job: Job) {
        self.queue.push(Reverse((Instant::now() + after, job)));
    }

    fn spoke_delay(&self, spoke: &str) -> Duration {
        spoke_delay(&self.scenario, spoke)
    }

    /// Starts the Kustomizations that follow a source whose artifact changed; a new
    /// source with its ref fixed to a commit or digest gets that artifact first.
    fn on_source(&mut self, kind: &str, ns: &str, name: &str, source: &Value) {
        let revision = text(source, "/status/artifact/revision");
        if revision.is_empty()
            && let Some(pinned) = super::bad::pinned_revision(kind, source)
        {
            let plural = if kind == "GitRepository" { "gitrepositories" } else { "ocirepositories" };
            let mut st = self.hub.lock();
            let Some(rt) = st.registry.lookup(SOURCE_GROUP, "v1", plural).cloned() else { return };
            let generation = source.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
            let status = super::source_status(kind, ns, name, &pinned, &rfc3339(Timestamp::now()), generation);
            let _ =
                write::modify_internal(&mut st, &Caller::system("source-controller"), &rt, ns, name, "status", |s| {
                    s["status"] = status;
                });
            // The status change comes back through the feed and starts the followers.
            return;
        }
        let key = (format!("{kind}/{ns}"), name.to_owned());
        if self.source_revisions.insert(key, revision.clone()).is_none_or(|before| before == revision) {
            return;
        }
        let followers: Vec<(String, String)> = {
            let st = self.hub.lock();
            st.store
                .list(&ks_gr(), None, None)
                .map(|(k, o)| (k, o.value()))
                .filter(|(k, ks)| {
                    let source_ns = match text(ks, "/spec/sourceRef/namespace") {
                        n if n.is_empty() => k.0.clone(),
                        n => n,
                    };
                    text(ks, "/spec/sourceRef/kind") == kind
                        && text(ks, "/spec/sourceRef/name") == name
                        && source_ns == ns
                })
                .filter(|(_, ks)| ks.pointer("/spec/suspend") != Some(&json!(true)))
                .map(|(k, _)| k.clone())
                .collect()
        };
        for (ks_ns, ks_name) in followers {
            self.start_soon(&ks_ns, &ks_name);
        }
    }

    /// kustomize-controller notices a Kustomization within a second or two.
    fn start_soon(&mut self, ns: &str, name: &str) {
        let notice = Duration::from_millis(rand::rng().random_range(300..1500));
        self.schedule(notice, Job::Start { ns: ns.to_owned(), name: name.to_owned() });
    }

    fn start(&mut self, ns: &str, name: &str) {
        let key = (ns.to_owned(), name.to_owned());
        if self.started.contains_key(&key) {
            return;
        }
        let mut st = self.hub.lock();
        let Some(rt) = st.registry.preferred(&ks_gr()).cloned() else { return };
        let Some(ks) = st.store.get(&ks_gr(), ns, name).map(|o| o.value()) else { return };
        if ks.pointer("/spec/suspend") == Some(&json!(true)) {
            return;
        }
        let revision = source_revision(&st, &ks).unwrap_or_default();
        let generation = ks.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        let at = rfc3339(Timestamp::now());
        let _ =
            write::modify_internal(&mut st, &Caller::system("kustomize-controller"), &rt, ns, name, "status", |k| {
                let mut conditions = conditions_of(k);
                set_condition(
                    &mut conditions,
                    condition(
                        "Reconciling",
                        "True",
                        "Progressing",
                        &format!("Fetching manifests for revision {revision} with a timeout of 3m0s"),
                        &at,
                        generation,
                    ),
                );
                set_condition(
                    &mut conditions,
                    condition("Ready", "Unknown", "Progressing", "Reconciliation in progress", &at, generation),
                );
                k["status"]["conditions"] = json!(conditions);
            });
        drop(st);
        self.started.insert(key, Instant::now());
        let delay = if ns == "flux-system" { Duration::from_secs(2) } else { self.spoke_delay(ns) };
        self.schedule(delay, Job::Finish { ns: ns.to_owned(), name: name.to_owned() });
    }

    fn finish(&mut self, ns: &str, name: &str) {
        let key = (ns.to_owned(), name.to_owned());
        let began = self.started.remove(&key).unwrap_or_else(Instant::now);
        let mut st = self.hub.lock();
        let Some(rt) = st.registry.preferred(&ks_gr()).cloned() else { return };
        let Some(ks) = st.store.get(&ks_gr(), ns, name).map(|o| o.value()) else { return };
        if ks.pointer("/spec/suspend") == Some(&json!(true)) {
            return;
        }
        let revision = source_revision(&st, &ks).unwrap_or_default();
        let generation = ks.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        let requested = ks
            .pointer(&format!("/metadata/annotations/{}", REQUESTED_AT.replace('/', "~1")))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let elapsed = format!("{:.1}s", began.elapsed().as_secs_f64());
        // Where does it apply? The hub itself, or the spoke its kubeconfig Secret names.
        let outcome: Result<Option<Arc<Cluster>>, (String, String)> = if ks.pointer("/spec/kubeConfig").is_none() {
            Ok(None)
        } else {
            let secret_name = text(&ks, "/spec/kubeConfig/secretRef/name");
            let key_name = match text(&ks, "/spec/kubeConfig/secretRef/key") {
                k if k.is_empty() => "value".to_owned(),
                k => k,
            };
            let kubeconfig = st
                .store
                .get(&GroupResource::new("", "secrets"), ns, &secret_name)
                .map(|o| o.value())
                .ok_or_else(|| ("ReconciliationFailed".to_owned(), format!("Secret \"{secret_name}\" not found")))
                .and_then(|secret| {
                    secret
                        .pointer(&format!("/data/{key_name}"))
                        .and_then(Value::as_str)
                        .and_then(|v| STANDARD.decode(v).ok())
                        .and_then(|raw| serde_saphyr::from_slice::<Value>(&raw).ok())
                        .filter(|kc| kc.pointer("/clusters/0/cluster/server").is_some())
                        .ok_or_else(|| ("ReconciliationFailed".to_owned(), format!("KubeConfig secret '{ns}/{secret_name}' does not contain a '{key_name}' key with a kubeconfig")))
                });
            kubeconfig.and_then(|kc| {
                let server = text(&kc, "/clusters/0/cluster/server");
                let spoke = self.spokes.get(&server).cloned().ok_or_else(|| {
                    ("ReconciliationFailed".to_owned(), format!("failed to get server groups: Get \"{server}/api?timeout=32s\": dial tcp: connect: connection refused"))
                })?;
                credentials_refused(&spoke, &text(&kc, "/users/0/user/token"), name)
                    .map_or(Ok(Some(spoke)), |m| Err(("ReconciliationFailed".to_owned(), m)))
            })
        };
        let failure = match &outcome {
            Err(e) => Some(e.clone()),
            Ok(Some(spoke)) => {
                unreachable_reason(spoke).map(|(m, _)| ("ReconciliationFailed".to_owned(), m)).or_else(|| {
                    self.scenario
                        .flux
                        .failing
                        .iter()
                        .find(|f| {
                            crate::scenario::glob_match(&f.spoke, spoke.name())
                                && f.kustomization.as_deref().is_none_or(|k| k == name)
                        })
                        .map(|f| (f.reason.clone(), failure_message(&f.reason)))
                })
            }
            Ok(None) => None,
        };
        let at = rfc3339(Timestamp::now());
        let caller = Caller::system("kustomize-controller");
        match failure {
            Some((reason, message)) => {
                let _ = write::modify_internal(&mut st, &caller, &rt, ns, name, "status", |k| {
                    let mut conditions = conditions_of(k);
                    set_condition(&mut conditions, condition("Ready", "False", &reason, &message, &at, generation));
                    if let Some(r) = conditions.iter().position(|c| c["type"] == "Reconciling") {
                        conditions.remove(r);
                    }
                    k["status"]["conditions"] = json!(conditions);
                    k["status"]["lastAttemptedRevision"] = json!(revision);
                    k["status"]["observedGeneration"] = json!(generation);
                    if let Some(r) = &requested {
                        k["status"]["lastHandledReconcileAt"] = json!(r);
                    }
                });
                record_about(&mut st, "kustomize-controller", &ks_gr(), ns, name, Note::warning(&reason, &message));
                drop(st);
                // retryInterval: the controller tries again until the spoke is back.
                self.schedule(
                    self.scenario.flux.retry_interval,
                    Job::Start { ns: ns.to_owned(), name: name.to_owned() },
                );
            }
            None => {
                let inventory = match &outcome {
                    Ok(Some(spoke)) => {
                        self.applied_to.insert((ns.to_owned(), name.to_owned()), spoke.clone());
                        let inventory = apply_on_spoke(&mut spoke.lock(), name, ns, &revision);
                        // The policies Kustomization follows fleet-policies (or a copy of it
                        // pinned to one of its revisions): its revision is good or bad.
                        if name == "policies" {
                            super::bad::applied(spoke, &self.scenario, &revision, self.bad.contains(&revision));
                        }
                        inventory
                    }
                    _ => vec![],
                };
                let _ = write::modify_internal(&mut st, &caller, &rt, ns, name, "status", |k| {
                    let mut conditions: Vec<Value> =
                        conditions_of(k).into_iter().filter(|c| c["type"] != "Reconciling").collect();
                    set_condition(
                        &mut conditions,
                        condition(
                            "Ready",
                            "True",
                            "ReconciliationSucceeded",
                            &format!("Applied revision: {revision}"),
                            &at,
                            generation,
                        ),
                    );
                    set_condition(
                        &mut conditions,
                        condition("Healthy", "True", "Succeeded", "Health check passed in 1.04s", &at, generation),
                    );
                    k["status"]["conditions"] = json!(conditions);
                    k["status"]["lastAppliedRevision"] = json!(revision);
                    k["status"]["lastAttemptedRevision"] = json!(revision);
                    k["status"]["observedGeneration"] = json!(generation);
                    if !inventory.is_empty() {
                        k["status"]["inventory"] = json!({"entries": inventory});
                    }
                    if let Some(r) = &requested {
                        k["status"]["lastHandledReconcileAt"] = json!(r);
                    }
                    let mut history =
                        k.pointer("/status/history").and_then(Value::as_array).cloned().unwrap_or_default();
                    match history.first_mut().filter(|h| h.pointer("/metadata/revision") == Some(&json!(revision))) {
                        Some(h) => {
                            let total = h["totalReconciliations"].as_i64().unwrap_or(1);
                            h["totalReconciliations"] = json!(total + 1);
                            h["lastReconciled"] = json!(at);
                            h["lastReconciledDuration"] = json!(elapsed);
                        }
                        None => {
                            history.insert(0, json!({"digest": format!("sha256:{}", hex(64)), "firstReconciled": at, "lastReconciled": at,
                                "lastReconciledDuration": elapsed, "lastReconciledStatus": "ReconciliationSucceeded", "totalReconciliations": 1,
                                "metadata": {"revision": revision}}));
                            history.truncate(5);
                        }
                    }
                    k["status"]["history"] = json!(history);
                });
                record_about(
                    &mut st,
                    "kustomize-controller",
                    &ks_gr(),
                    ns,
                    name,
                    Note::normal(
                        "ReconciliationSucceeded",
                        &format!("Reconciliation finished in {elapsed}, next run in 10m0s"),
                    ),
                );
            }
        }
    }

    /// A deleted Kustomization with `spec.prune: true` garbage-collects what it applied
    /// (Flux's finalizer); with `prune: false` its objects stay on the spoke.
    fn on_deleted(&mut self, ns: &str, name: &str, last: &Value) {
        let Some(spoke) = self.applied_to.remove(&(ns.to_owned(), name.to_owned())) else { return };
        if last.pointer("/spec/prune") != Some(&json!(true)) {
            return;
        }
        let mut st = spoke.lock();
        let environment = st.info.environment.clone();
        let caller = Caller::system("kustomize-controller");
        for (_, object) in super::spoke_objects(name, ns, "", &environment) {
            let (kind, ons, oname) =
                (text(&object, "/kind"), text(&object, "/metadata/namespace"), text(&object, "/metadata/name"));
            let plural = format!("{}s", kind.to_lowercase());
            let Some(rt) = st.registry.lookup("", "v1", &plural).cloned() else { continue };
            let _ = write::delete(&mut st, &caller, &rt, &ons, &oname, &write::DeleteOptions::default());
        }
    }

    /// Reacts to Kustomizations that were created, edited, resumed or asked to
    /// reconcile by a client.
    fn on_kustomization(&mut self, ns: &str, name: &str, ks: Option<&Value>) {
        let key = (ns.to_owned(), name.to_owned());
        let Some(ks) = ks else {
            self.seen.remove(&key);
            return;
        };
        if ks.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let generation = ks.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        let requested = ks
            .pointer(&format!("/metadata/annotations/{}", REQUESTED_AT.replace('/', "~1")))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let suspended = ks.pointer("/spec/suspend") == Some(&json!(true));
        let now = (generation, requested.clone(), suspended);
        let before = self.seen.insert(key, now.clone());
        let act = match before {
            None => ks.pointer("/status/observedGeneration").and_then(Value::as_i64) != Some(generation),
            Some((g, r, s)) => g != generation || (r != requested && !requested.is_empty()) || (s && !suspended),
        };
        if act && !suspended {
            self.start_soon(ns, name);
        }
    }
}

/// Flux on the hub, ready to run: its state is read (and its change feed opened) when it
/// is made, so nothing written after the fleet starts is missed.
pub struct Flux {
    controller: Controller,
    feed: ChangeFeed,
}

impl Flux {
    pub fn new(hub: Arc<Cluster>, spokes: Vec<Arc<Cluster>>, scenario: Arc<Scenario>) -> Self {
        let feed = ChangeFeed::new(&hub);
        let mut c = Controller {
            hub: hub.clone(),
            spokes: spokes.into_iter().map(|s| (s.info.server.clone(), s)).collect(),
            scenario,
            queue: BinaryHeap::new(),
            seen: HashMap::new(),
            started: HashMap::new(),
            source_revisions: HashMap::new(),
            applied_to: HashMap::new(),
            bad: HashSet::new(),
        };
        let st = hub.lock();
        let existing: Vec<(String, String, Value)> =
            st.store.list(&ks_gr(), None, None).map(|(k, o)| (k.0.clone(), k.1.clone(), o.value())).collect();
        let mut sources = Vec::new();
        for (plural, kind) in [("gitrepositories", "GitRepository"), ("ocirepositories", "OCIRepository")] {
            for (k, o) in st.store.list(&GroupResource::new(SOURCE_GROUP, plural), None, None) {
                sources.push(((format!("{kind}/{}", k.0), k.1.clone()), text(&o.value(), "/status/artifact/revision")));
            }
        }
        drop(st);
        c.source_revisions.extend(sources);
        for (ns, name, ks) in existing {
            c.on_kustomization(&ns, &name, Some(&ks));
        }
        Self { controller: c, feed }
    }

    /// Runs until shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        let Flux { controller: mut c, mut feed } = self;
        let hub = c.hub.clone();
        let scenario = c.scenario.clone();
        if let Some(every) = scenario.flux.revision_every {
            c.schedule(every, Job::Publish { kind: "GitRepository".into(), name: "fleet-policies".into() });
            c.schedule(
                every + every / 2,
                Job::Publish { kind: "OCIRepository".into(), name: "platform-config".into() },
            );
            c.schedule(every * 3, Job::Publish { kind: "GitRepository".into(), name: "flux-system".into() });
        }
        if let Some(after) = scenario.flux.bad_revision_after {
            c.schedule(after, Job::PublishBad);
        }
        loop {
            let next = c.queue.peek().map(|Reverse((at, _))| *at);
            let far = Instant::now() + Duration::from_secs(86_400);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(next.unwrap_or(far)), if next.is_some() => {
                    let Some(Reverse((_, job))) = c.queue.pop() else { continue };
                    match job {
                        Job::Publish { kind, name } => {
                            publish(&hub, &kind, &name);
                            if let Some(every) = scenario.flux.revision_every {
                                let period = if name == "flux-system" { every * 3 } else if kind == "OCIRepository" { every + every / 2 } else { every };
                                c.schedule(period, Job::Publish { kind, name });
                            }
                        }
                        Job::PublishBad => {
                            if let Some(revision) = publish(&hub, "GitRepository", "fleet-policies") {
                                tracing::info!(%revision, "the scenario's bad revision is published");
                                c.bad.insert(revision);
                            }
                        }
                        Job::Start { ns, name } => c.start(&ns, &name),
                        Job::Finish { ns, name } => c.finish(&ns, &name),
                    }
                }
                changes = feed.wait(&hub, |ch| ch.gr.group == KUSTOMIZE_GROUP || ch.gr.group == SOURCE_GROUP) => {
                    for change in changes {
                        let value = (change.kind != crate::store::ChangeKind::Deleted).then(|| change.object.value());
                        match (change.gr.group.as_str(), value.as_ref()) {
                            (KUSTOMIZE_GROUP, None) => {
                                c.on_kustomization(&change.namespace, &change.name, None);
                                c.on_deleted(&change.namespace, &change.name, &change.object.value());
                            }
                            (KUSTOMIZE_GROUP, value) => c.on_kustomization(&change.namespace, &change.name, value),
                            (_, Some(source)) => {
                                let kind = text(source, "/kind");
                                c.on_source(&kind, &change.namespace, &change.name, source);
                            }
                            (_, None) => {}
                        }
                    }
                }
            }
        }
    }
}
