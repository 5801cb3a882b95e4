//! Flux on the hub: source-controller publishing new revisions of the fleet's sources,
//! and kustomize-controller applying them onto each spoke through the kubeconfig in the
//! spoke's `cluster-kubeconfig` Secret, with per-spoke delays, real failure reasons, an
//! unreachable spoke failing until it is back, suspend honoured, and reconcile requests
//! (`reconcile.fluxcd.io/requestedAt`) answered.
//!
//! This module holds the objects Flux works with, the seeded fleet and source-controller;
//! [`controller`] is kustomize-controller's loop.

mod bad;
mod controller;

pub use controller::Flux;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use color_eyre::eyre::{Result, eyre};
use jiff::Timestamp;
use rand::Rng;
use serde_json::{Value, json};

use super::events::{Note, record_about};
use crate::api::strategy::{DIGEST_POLICY, HOST_PATH_POLICY, POLICY_CONFIGMAP, PRIVILEGED_POLICY};
use crate::api::{Caller, write};
use crate::clock::rfc3339;
use crate::cluster::Cluster;
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
                "data": {"revision": revision, "enforce": format!("{PRIVILEGED_POLICY},{HOST_PATH_POLICY},{DIGEST_POLICY},disallow-host-namespaces"), "audit": "require-labels,restrict-image-registries", "environment": environment}}),
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
