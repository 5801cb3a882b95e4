//! Flux on the hub: source-controller publishing new revisions of the fleet's sources,
//! and kustomize-controller applying them onto each spoke through the kubeconfig in the
//! spoke's `cluster-kubeconfig` Secret, with per-spoke delays, real failure reasons, an
//! unreachable spoke failing until it is back, suspend honoured, and reconcile requests
//! (`reconcile.fluxcd.io/requestedAt`) answered.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use color_eyre::eyre::{Result, eyre};
use jiff::Timestamp;
use rand::Rng;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ChangeFeed;
use super::events::{Note, record_about};
use crate::api::strategy::{POLICY_CONFIGMAP, PRIVILEGED_POLICY};
use crate::api::{Caller, write};
use crate::clock::rfc3339;
use crate::cluster::Cluster;
use crate::fault::OutageMode;
use crate::object::text;
use crate::resource::GroupResource;
use crate::scenario::{Scenario, matches_any};
use crate::seed::{self, put};
use crate::state::ClusterState;

pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
pub const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
pub const KUBECONFIG_SECRET: &str = "cluster-kubeconfig";
/// The service account on each spoke whose token the hub's Flux uses.
pub const HUB_SA: (&str, &str) = ("fleet-system", "fleet-hub");

/// What the hub needs to know of a spoke to register it.
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: String,
    pub server: String,
    pub ca_pem: String,
    pub ca_sha256: String,
    pub uid: String,
    pub environment: String,
    pub token: String,
}

impl Registration {
    /// Reads the hub's service-account token from a seeded spoke.
    pub fn of(spoke: &Arc<Cluster>) -> Result<Self> {
        let st = spoke.lock();
        let secret = st
            .store
            .get(&GroupResource::new("", "secrets"), HUB_SA.0, &format!("{}-token", HUB_SA.1))
            .map(|o| o.value())
            .ok_or_else(|| eyre!("{} has no hub token secret", spoke.name()))?;
        let token = secret
            .pointer("/data/token")
            .and_then(Value::as_str)
            .and_then(|t| STANDARD.decode(t).ok())
            .and_then(|t| String::from_utf8(t).ok())
            .ok_or_else(|| eyre!("{}: the token controller did not fill the hub token", spoke.name()))?;
        Ok(Self {
            name: spoke.info.name.clone(),
            server: spoke.info.server.clone(),
            ca_pem: spoke.info.ca_pem.to_string(),
            ca_sha256: spoke.pki.ca_sha256.clone(),
            uid: spoke.uid.clone(),
            environment: spoke.info.environment.clone(),
            token,
        })
    }
}

fn hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| format!("{:x}", rng.random_range(0..16u8))).collect()
}

/// A new Git revision (`main@sha1:<40 hex>`).
pub fn git_revision() -> String {
    format!("main@sha1:{}", hex(40))
}

/// A new OCI revision (`v1.4.<n>@sha256:<64 hex>`).
pub fn oci_revision(previous: Option<&str>) -> String {
    let patch = previous
        .and_then(|p| p.split('@').next())
        .and_then(|tag| tag.rsplit('.').next())
        .and_then(|n| n.parse::<u32>().ok())
        .map_or(7, |n| n + 1);
    format!("v1.4.{patch}@sha256:{}", hex(64))
}

/// How long a spoke takes to apply a revision: its own place in the scenario's range
/// (slow spokes in `slow_delay`, past the 30 s target).
fn spoke_delay(scenario: &Scenario, spoke: &str) -> Duration {
    if matches_any(&scenario.flux.slow, spoke) {
        scenario.flux.slow_delay.sample_for(spoke)
    } else {
        scenario.flux.reconcile_delay.sample_for(spoke)
    }
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, at: &str, generation: i64) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": at, "observedGeneration": generation})
}

/// Replaces (or adds) a condition, keeping its transition time when the status is
/// unchanged, as Flux's condition helpers do.
fn set_condition(conditions: &mut Vec<Value>, new: Value) {
    match conditions.iter_mut().find(|c| c["type"] == new["type"]) {
        Some(existing) => {
            let same_status = existing["status"] == new["status"];
            let at = existing["lastTransitionTime"].clone();
            *existing = new;
            if same_status {
                existing["lastTransitionTime"] = at;
            }
        }
        None => conditions.push(new),
    }
}

fn conditions_of(obj: &Value) -> Vec<Value> {
    obj.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// A source's status with an artifact at `revision`, produced at `at`.
pub fn source_status(kind: &str, ns: &str, name: &str, revision: &str, at: &str, generation: i64) -> Value {
    let short = revision.rsplit(':').next().unwrap_or(revision);
    let dir = kind.to_lowercase();
    let path = format!("{dir}/{ns}/{name}/{short}.tar.gz");
    let message = format!("stored artifact for revision '{revision}'");
    json!({
        "observedGeneration": generation,
        "conditions": [
            condition("Ready", "True", "Succeeded", &message, at, generation),
            condition("ArtifactInStorage", "True", "Succeeded", &message, at, generation),
        ],
        "artifact": {
            "revision": revision,
            "digest": format!("sha256:{}", hex(64)),
            "lastUpdateTime": at,
            "path": path,
            "url": format!("http://source-controller.flux-system.svc.cluster.local./{path}"),
            "size": rand::rng().random_range(20_000..90_000),
        },
        "url": format!("http://source-controller.flux-system.svc.cluster.local./{dir}/{ns}/{name}/latest.tar.gz"),
    })
}

fn git_repository(ns: &str, name: &str, url: &str) -> Value {
    json!({"apiVersion": format!("{SOURCE_GROUP}/v1"), "kind": "GitRepository",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"url": url, "interval": "1m0s", "timeout": "60s", "ref": {"branch": "main"}, "secretRef": {"name": format!("{name}-auth")}}})
}

fn oci_repository(ns: &str, name: &str, url: &str) -> Value {
    json!({"apiVersion": format!("{SOURCE_GROUP}/v1"), "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"url": url, "interval": "5m0s", "timeout": "60s", "provider": "generic", "ref": {"semver": ">=1.4.0"}}})
}

/// The objects a spoke Kustomization applies onto its spoke, as (inventory id, object).
fn spoke_objects(ks_name: &str, spoke_ns: &str, revision: &str, environment: &str) -> Vec<(String, Value)> {
    let labels =
        json!({"kustomize.toolkit.fluxcd.io/name": ks_name, "kustomize.toolkit.fluxcd.io/namespace": spoke_ns});
    match ks_name {
        "policies" => vec![(
            format!("{}_{}__ConfigMap", POLICY_CONFIGMAP.0, POLICY_CONFIGMAP.1),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": POLICY_CONFIGMAP.1, "namespace": POLICY_CONFIGMAP.0, "labels": labels},
                "data": {"revision": revision, "enforce": format!("{PRIVILEGED_POLICY},disallow-host-namespaces"), "audit": "require-labels,restrict-image-registries", "environment": environment}}),
        )],
        _ => vec![(
            "fleet-system_platform-config__ConfigMap".to_owned(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "platform-config", "namespace": "fleet-system", "labels": labels},
                "data": {"revision": revision, "environment": environment, "logLevel": "info"}}),
        )],
    }
}

/// Applies a Kustomization's objects onto the spoke's store.
fn apply_on_spoke(spoke: &mut ClusterState, ks_name: &str, spoke_ns: &str, revision: &str) -> Vec<Value> {
    let environment = spoke.info.environment.clone();
    let mut inventory = Vec::new();
    for (id, object) in spoke_objects(ks_name, spoke_ns, revision, &environment) {
        if put(spoke, "kustomize-controller", object).is_ok() {
            inventory.push(json!({"id": id, "v": "v1"}));
        }
    }
    inventory
}

/// Seeds the spoke side of the fleet's Kustomizations at the starting revisions.
pub fn seed_spoke(st: &mut ClusterState, revisions: &Revisions) -> Result<()> {
    let ns = st.info.name.clone();
    apply_on_spoke(st, "policies", &ns, &revisions.policies);
    apply_on_spoke(st, "config", &ns, &revisions.config);
    Ok(())
}

/// The revisions the fleet's sources start at.
#[derive(Debug, Clone)]
pub struct Revisions {
    pub hub: String,
    pub policies: String,
    pub config: String,
}

impl Revisions {
    pub fn new() -> Self {
        Self { hub: git_revision(), policies: git_revision(), config: oci_revision(None) }
    }
}

impl Default for Revisions {
    fn default() -> Self {
        Self::new()
    }
}

fn kustomization(
    ns: &str,
    name: &str,
    source_kind: &str,
    source_name: &str,
    path: &str,
    remote: bool,
    suspend: bool,
) -> Value {
    let mut ks = json!({"apiVersion": format!("{KUSTOMIZE_GROUP}/v1"), "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"interval": "10m0s", "retryInterval": "30s", "timeout": "3m0s", "path": path, "prune": true, "wait": remote,
            "sourceRef": {"kind": source_kind, "name": source_name, "namespace": "flux-system"}}});
    if remote {
        ks["metadata"]["labels"] = json!({"fleetdeck.io/spoke": ns, "app.kubernetes.io/managed-by": "fleetdeck"});
        ks["spec"]["kubeConfig"] = json!({"secretRef": {"name": KUBECONFIG_SECRET, "key": "value"}});
    }
    if suspend {
        ks["spec"]["suspend"] = json!(true);
    }
    ks
}

fn ready_status(revision: &str, at: &str, generation: i64, inventory: Vec<Value>, duration: &str) -> Value {
    json!({
        "observedGeneration": generation,
        "lastAppliedRevision": revision,
        "lastAttemptedRevision": revision,
        "conditions": [
            condition("Ready", "True", "ReconciliationSucceeded", &format!("Applied revision: {revision}"), at, generation),
            condition("Healthy", "True", "Succeeded", "Health check passed in 1.04s", at, generation),
        ],
        "inventory": {"entries": inventory},
        "history": [{"digest": format!("sha256:{}", hex(64)), "firstReconciled": at, "lastReconciled": at,
            "lastReconciledDuration": duration, "lastReconciledStatus": "ReconciliationSucceeded", "totalReconciliations": 1,
            "metadata": {"revision": revision}}],
    })
}

/// Seeds Flux on the hub: controllers, sources at `revisions`, its own Kustomizations,
/// and per registered spoke a namespace, the kubeconfig Secret and two Kustomizations,
/// all Ready at the starting revisions.
pub fn seed_hub(
    st: &mut ClusterState,
    scenario: &Scenario,
    spokes: &[Registration],
    revisions: &Revisions,
) -> Result<()> {
    seed::put_manifest(st, "kubectl", seed::FLUX_CRDS)?;
    for controller in ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"] {
        put(
            st,
            "flux",
            seed::deployment(
                "flux-system",
                controller,
                &format!("ghcr.io/fluxcd/{controller}:v1.4.0"),
                1,
                json!({"app.kubernetes.io/part-of": "flux"}),
            ),
        )?;
    }
    let started = Timestamp::now() - jiff::SignedDuration::from_secs(rand::rng().random_range(300..1800));
    let at = rfc3339(started);
    let sources = [
        git_repository("flux-system", "flux-system", "ssh://git@git.example.com/platform/fleet-hub.git"),
        git_repository("flux-system", "fleet-policies", "https://git.example.com/platform/fleet-policies.git"),
        oci_repository("flux-system", "platform-config", "oci://registry.example.com/platform/config"),
    ];
    for (mut source, revision) in sources.into_iter().zip([&revisions.hub, &revisions.policies, &revisions.config]) {
        let kind = source["kind"].as_str().unwrap_or_default().to_owned();
        let name = source["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        source["status"] = source_status(&kind, "flux-system", &name, revision, &at, 1);
        put(st, "source-controller", source)?;
    }
    for (name, path) in [("flux-system", "./clusters/hub"), ("infrastructure", "./infrastructure/hub")] {
        let mut ks = kustomization("flux-system", name, "GitRepository", "flux-system", path, false, false);
        let ready = rfc3339(started + jiff::SignedDuration::from_millis(rand::rng().random_range(1500..2500)));
        ks["status"] = ready_status(&revisions.hub, &ready, 1, vec![], "1.8s");
        put(st, "kustomize-controller", ks)?;
    }
    for spoke in spokes {
        register(st, spoke, scenario, revisions, started)?;
    }
    Ok(())
}

/// Registers a spoke on the hub as fleetdeck does: namespace, kubeconfig Secret with the
/// identity annotations (absent for spokes the scenario says were registered by hand),
/// and the spoke's Kustomizations, Ready at the `revisions` (produced at `produced`)
/// after the spoke's usual reconciliation delay.
pub fn register(
    st: &mut ClusterState,
    spoke: &Registration,
    scenario: &Scenario,
    revisions: &Revisions,
    produced: Timestamp,
) -> Result<()> {
    let at = &rfc3339(produced);
    let by_hand = matches_any(&scenario.flux.unannotated, &spoke.name);
    let mut ns_labels = json!({"fleetdeck.io/spoke": spoke.name, "fleetdeck.io/environment": spoke.environment});
    if !by_hand {
        ns_labels["app.kubernetes.io/managed-by"] = json!("fleetdeck");
    }
    seed::ensure_namespace(st, &spoke.name, ns_labels)?;
    let kubeconfig = seed::token_kubeconfig(&spoke.name, &spoke.server, &spoke.ca_pem, "fleet-hub", &spoke.token);
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": KUBECONFIG_SECRET, "namespace": spoke.name},
        "data": {"value": STANDARD.encode(kubeconfig)}});
    if !by_hand {
        secret["metadata"]["labels"] =
            json!({"app.kubernetes.io/managed-by": "fleetdeck", "fleetdeck.io/spoke": spoke.name});
        secret["metadata"]["annotations"] = json!({
            "fleetdeck.io/cluster-uid": spoke.uid,
            "fleetdeck.io/ca-sha256": spoke.ca_sha256,
            "fleetdeck.io/environment": spoke.environment,
            "fleetdeck.io/registered-by": seed::ADMIN_USER,
            "fleetdeck.io/registered-at": at,
        });
    }
    put(st, "fleetdeck", secret)?;
    let suspended = matches_any(&scenario.flux.suspended, &spoke.name);
    let specs = [
        (
            "policies",
            "GitRepository",
            "fleet-policies",
            format!("./policies/{}", spoke.environment),
            &revisions.policies,
        ),
        ("config", "OCIRepository", "platform-config", format!("./{}", spoke.environment), &revisions.config),
    ];
    for (name, kind, source, path, revision) in specs {
        let mut ks = kustomization(&spoke.name, name, kind, source, &path, true, suspended);
        let inventory: Vec<Value> = spoke_objects(name, &spoke.name, revision, &spoke.environment)
            .into_iter()
            .map(|(id, _)| json!({"id": id, "v": "v1"}))
            .collect();
        let delay = spoke_delay(scenario, &spoke.name);
        let ready = rfc3339(produced + jiff::SignedDuration::try_from(delay).unwrap_or_default());
        let took = format!("{:.1}s", delay.as_secs_f64());
        ks["status"] = ready_status(revision, &ready, 1, inventory, &took);
        put(st, "kustomize-controller", ks)?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Job {
    /// A source moves to a new revision.
    Publish { kind: String, name: String },
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

    /// Starts the Kustomizations that follow a source whose artifact changed.
    fn on_source(&mut self, kind: &str, ns: &str, name: &str, source: &Value) {
        let revision = text(source, "/status/artifact/revision");
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
            let server = st
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
                        .and_then(|kc| kc.pointer("/clusters/0/cluster/server").and_then(Value::as_str).map(str::to_owned))
                        .ok_or_else(|| ("ReconciliationFailed".to_owned(), format!("KubeConfig secret '{ns}/{secret_name}' does not contain a '{key_name}' key with a kubeconfig")))
                });
            server.and_then(|server| {
                self.spokes.get(&server).cloned().map(Some).ok_or_else(|| {
                    ("ReconciliationFailed".to_owned(), format!("failed to get server groups: Get \"{server}/api?timeout=32s\": dial tcp: connect: connection refused"))
                })
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
                    Ok(Some(spoke)) => apply_on_spoke(&mut spoke.lock(), name, ns, &revision),
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

    /// Reacts to Kustomizations that were created, edited, resumed or asked to
    /// reconcile by a client.
    fn on_kustomization(&mut self, ns: &str, name: &str, ks: Option<&Value>) {
        let key = (ns.to_owned(), name.to_owned());
        let Some(ks) = ks else {
            self.seen.remove(&key);
            return;
        };
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

/// source-controller fetches a new commit (or tag) of a source: its artifact moves to a
/// new revision, and the Kustomizations that follow it start reconciling. Returns the
/// new revision, or `None` when the source does not exist or is suspended.
pub fn publish(hub: &Cluster, kind: &str, name: &str) -> Option<String> {
    let plural = if kind == "GitRepository" { "gitrepositories" } else { "ocirepositories" };
    let mut st = hub.lock();
    let rt = st.registry.lookup(SOURCE_GROUP, "v1", plural).cloned()?;
    let source = st.store.get(&rt.group_resource(), "flux-system", name).map(|o| o.value())?;
    if source.pointer("/spec/suspend") == Some(&json!(true)) {
        return None;
    }
    let previous = text(&source, "/status/artifact/revision");
    let revision = if kind == "GitRepository" { git_revision() } else { oci_revision(Some(&previous)) };
    let generation = source.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    let at = rfc3339(Timestamp::now());
    let status = source_status(kind, "flux-system", name, &revision, &at, generation);
    write::modify_internal(&mut st, &Caller::system("source-controller"), &rt, "flux-system", name, "status", |s| {
        s["status"] = status;
    })
    .ok()?;
    let short = revision.split('@').next_back().unwrap_or(&revision).to_owned();
    record_about(
        &mut st,
        "source-controller",
        &rt.group_resource(),
        "flux-system",
        name,
        Note::normal("NewArtifact", &format!("stored artifact for commit '{short}'")),
    );
    Some(revision)
}

fn source_revision(st: &ClusterState, ks: &Value) -> Option<String> {
    let kind = text(ks, "/spec/sourceRef/kind");
    let plural = match kind.as_str() {
        "GitRepository" => "gitrepositories",
        "OCIRepository" => "ocirepositories",
        _ => return None,
    };
    let ns = match text(ks, "/spec/sourceRef/namespace") {
        n if n.is_empty() => text(ks, "/metadata/namespace"),
        n => n,
    };
    let source =
        st.store.get(&GroupResource::new(SOURCE_GROUP, plural), &ns, &text(ks, "/spec/sourceRef/name"))?.value();
    source.pointer("/status/artifact/revision").and_then(Value::as_str).map(str::to_owned)
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
                        Job::Start { ns, name } => c.start(&ns, &name),
                        Job::Finish { ns, name } => c.finish(&ns, &name),
                    }
                }
                changes = feed.wait(&hub, |ch| ch.gr.group == KUSTOMIZE_GROUP || ch.gr.group == SOURCE_GROUP) => {
                    for change in changes {
                        let value = (change.kind != crate::store::ChangeKind::Deleted).then(|| change.object.value());
                        match (change.gr.group.as_str(), value.as_ref()) {
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
