//! Registration (a candidate context becomes a spoke of the hub) and its inverse, as
//! runs of the runbook engine: the steps, the judgments of what the preflight checks
//! read, and the change sets planned from what they found. What fleetdeck creates
//! follows the Flux hub-and-spoke layout, with the token recipe of `argocd cluster add`:
//!
//! - on the spoke: a ServiceAccount for the hub, a ClusterRoleBinding to a role (default
//!   `cluster-admin`, as Flux applies Namespaces and RBAC), and a
//!   `kubernetes.io/service-account-token` Secret the token controller fills;
//! - on the hub: the spoke's Namespace, the `cluster-kubeconfig` Secret (key `value`: a
//!   kubeconfig of the spoke's server, CA and that token, with the identity annotations)
//!   and the spoke's Kustomizations rendered from templates.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fleet::run::{
    Evidence, Fill, MANAGED_BY, MANAGER, ObjectRef, PlannedWrite, RUN_LABEL, Run, SPOKE_LABEL, Settle, Step, StepSpec,
    Verb, Verdict,
};

/// The Secret on the hub that holds a spoke's kubeconfig.
pub const KUBECONFIG_SECRET: &str = "cluster-kubeconfig";
/// The identity annotations on that Secret.
pub const UID_ANNOTATION: &str = "fleetdeck.io/cluster-uid";
pub const CA_ANNOTATION: &str = "fleetdeck.io/ca-sha256";
pub const ENVIRONMENT_ANNOTATION: &str = "fleetdeck.io/environment";
pub const REGISTERED_BY_ANNOTATION: &str = "fleetdeck.io/registered-by";
pub const REGISTERED_AT_ANNOTATION: &str = "fleetdeck.io/registered-at";

/// The embedded Kustomization templates (file name, text).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("policies.yaml", include_str!("../../assets/templates/registration/policies.yaml")),
    ("config.yaml", include_str!("../../assets/templates/registration/config.yaml")),
];

/// How spokes are registered (`[registration]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The hub's ServiceAccount on the spoke, and its namespace.
    pub service_account: String,
    pub namespace: String,
    /// The ClusterRole it is bound to.
    pub role: String,
    /// How long the token controller may take to fill the token.
    pub token_timeout: Duration,
    /// How long the verification waits (Kustomizations Ready, the row joined).
    pub verify_timeout: Duration,
    /// The Kustomization templates (file name, text).
    pub templates: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            service_account: "fleetdeck-hub".into(),
            namespace: "kube-system".into(),
            role: "cluster-admin".into(),
            token_timeout: Duration::from_secs(30),
            verify_timeout: Duration::from_secs(300),
            templates: TEMPLATES.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect(),
        }
    }
}

fn check(name: &str, check: &str) -> Step {
    Step::new(name, StepSpec::Check { check: check.into() })
}

/// The steps of a registration of `spoke`.
pub fn register_steps(spoke: &str, settings: &Settings) -> Vec<Step> {
    let verify = settings.verify_timeout.as_secs();
    vec![
        check("the spoke answers, its version is within one minor of the hub's", "spoke-answers"),
        check("its identity is not registered under another name; CA recorded", "identity"),
        check("the name is a DNS label not taken on the hub", "name-free"),
        check("the hub runs Flux with the sources the templates name", "hub-flux"),
        check("the credentials may create what the plan needs", "access-register"),
        Step::new(
            "create the hub's access on the spoke and the spoke on the hub",
            StepSpec::ChangeSet { plan: "register".into(), confirm: spoke.into(), writes: vec![] },
        ),
        Step::new(
            "every new Kustomization Ready at its source's revision",
            StepSpec::Wait { condition: "kustomizations-ready".into(), timeout_secs: verify },
        ),
        Step::new(
            "the hub's Secret names the spoke's UID: joined as a spoke",
            StepSpec::Wait { condition: "joined".into(), timeout_secs: verify },
        ),
    ]
}

/// The steps of an unregistration of `spoke`.
pub fn unregister_steps(spoke: &str, settings: &Settings) -> Vec<Step> {
    vec![
        check("the spoke is registered on the hub", "registered"),
        check("the credentials may remove what registration created", "access-unregister"),
        check("the spoke's workloads, as they are now", "deployments"),
        Step::new(
            "stop pruning, then remove the spoke from the hub and the hub's access",
            StepSpec::ChangeSet { plan: "unregister".into(), confirm: spoke.into(), writes: vec![] },
        ),
        Step::new(
            "the hub no longer names the spoke: a candidate again",
            StepSpec::Wait { condition: "unjoined".into(), timeout_secs: settings.verify_timeout.as_secs() },
        ),
        check("the spoke's workloads are untouched", "untouched"),
    ]
}

/// An evidence line.
pub fn evidence(verdict: Verdict, text: impl Into<String>) -> Evidence {
    Evidence { verdict, text: text.into() }
}

/// The worst verdict of some evidence (pass when there is none).
pub fn verdict_of(evidence: &[Evidence]) -> Verdict {
    if evidence.iter().any(|e| e.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if evidence.iter().any(|e| e.verdict == Verdict::Warn) {
        Verdict::Warn
    } else {
        Verdict::Pass
    }
}

/// "v1.33.4" → (1, 33).
fn minor(version: &str) -> Option<(u64, u64)> {
    let v = version.trim_start_matches('v');
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
    Some((major, minor.parse().ok()?))
}

/// The spoke's version against the hub's: within one minor passes.
pub fn version_skew(spoke: &str, hub: &str) -> Evidence {
    match (minor(spoke), minor(hub)) {
        (Some((sm, sn)), Some((hm, hn))) if sm == hm && sn.abs_diff(hn) <= 1 => {
            evidence(Verdict::Pass, format!("Kubernetes {spoke}, the hub {hub}: within one minor"))
        }
        (Some(_), Some(_)) => evidence(
            Verdict::Fail,
            format!(
                "Kubernetes {spoke}, the hub {hub}: more than one minor apart (Flux supports the hub's minor and the one next to it)"
            ),
        ),
        _ => evidence(Verdict::Warn, format!("cannot compare the versions {spoke:?} and {hub:?}")),
    }
}

/// Whether the hub's pods can likely reach `server`: a loopback address or a name only
/// the local machine resolves warns.
pub fn server_reach(server: &str, local_names: &[String]) -> Evidence {
    let uri = server.parse::<http::Uri>().ok();
    let host = uri.as_ref().and_then(|u| u.host()).unwrap_or(server).trim_matches(['[', ']']);
    let loopback = host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        || host == "localhost"
        || host.ends_with(".localhost");
    if loopback {
        return evidence(
            Verdict::Warn,
            format!("the server {server} is a loopback address: the hub's Flux reaches it only from this machine"),
        );
    }
    let ip = host.parse::<std::net::IpAddr>().is_ok();
    if !ip && (!host.contains('.') || local_names.iter().any(|n| n == host)) {
        return evidence(
            Verdict::Warn,
            format!(
                "the server {server} names a host ({host}) that only this machine may resolve: check the hub's pods can reach it"
            ),
        );
    }
    evidence(Verdict::Pass, format!("the server is {server}"))
}

/// A spoke's name: a DNS label (RFC 1123), as a namespace name must be.
pub fn dns_label(name: &str) -> Result<(), String> {
    let ok_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name.is_empty() || name.len() > 63 || !ok_chars || name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "{name:?} is not a DNS label (at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit): it names the spoke's namespace on the hub"
        ));
    }
    Ok(())
}

/// The identity check: `uid` is not registered under a name other than `spoke`
/// (`registered`: each hub registration's namespace and recorded UID).
pub fn identity(spoke: &str, uid: &str, registered: &[(String, String)]) -> Evidence {
    match registered.iter().find(|(ns, u)| u == uid && ns != spoke) {
        Some((other, _)) => evidence(
            Verdict::Fail,
            format!("this cluster (kube-system UID {uid}) is registered on the hub already, as {other}"),
        ),
        None => evidence(Verdict::Pass, format!("kube-system UID {uid}, not registered under another name")),
    }
}

/// The environment of a spoke named like the fleet's: its first word (`edge-eu-1`: edge).
pub fn environment_of(spoke: &str) -> String {
    spoke.split('-').next().unwrap_or(spoke).to_owned()
}

/// The Kustomizations the templates render for `spoke`, or which template is invalid.
pub fn render(templates: &[(String, String)], spoke: &str, environment: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (file, text) in templates {
        let text = text.replace("${SPOKE}", spoke).replace("${ENVIRONMENT}", environment);
        let object: Value = serde_saphyr::from_str(&text).map_err(|e| format!("template {file}: {e}"))?;
        if object.get("kind").and_then(Value::as_str) != Some("Kustomization") {
            return Err(format!("template {file}: not a Kustomization"));
        }
        if object.pointer("/spec/kubeConfig/secretRef/name").and_then(Value::as_str) != Some(KUBECONFIG_SECRET) {
            return Err(format!("template {file}: spec.kubeConfig.secretRef.name must be {KUBECONFIG_SECRET}"));
        }
        if object.pointer("/metadata/name").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(format!("template {file}: metadata.name is missing"));
        }
        out.push(object);
    }
    Ok(out)
}

/// The sources the rendered Kustomizations name: (kind, namespace, name).
pub fn sources_of(kustomizations: &[Value]) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = kustomizations
        .iter()
        .map(|k| {
            let text = |p: &str| k.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
            let ns = match text("/spec/sourceRef/namespace") {
                n if n.is_empty() => text("/metadata/namespace"),
                n => n,
            };
            (text("/spec/sourceRef/kind"), ns, text("/spec/sourceRef/name"))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn labels(run: &Run) -> Value {
    json!({MANAGED_BY: MANAGER, SPOKE_LABEL: run.cluster, RUN_LABEL: run.id})
}

fn fact<'a>(run: &'a Run, key: &str) -> Result<&'a str, String> {
    run.facts.get(key).map(String::as_str).ok_or_else(|| format!("the checks did not record the {key}"))
}

fn create(context: &str, mut object: Value, labels: &Value) -> PlannedWrite {
    if let Some(map) = labels.as_object() {
        for (k, v) in map {
            object["metadata"]["labels"][k] = v.clone();
        }
    }
    PlannedWrite {
        context: context.to_owned(),
        verb: Verb::Create,
        object: ObjectRef::of(&object),
        body: object,
        fill: None,
        settle: None,
    }
}

/// The registration change set, from what the checks found.
pub fn plan_register(run: &Run, settings: &Settings) -> Result<Vec<PlannedWrite>, String> {
    let (spoke, context, hub) = (run.cluster.as_str(), run.context.as_str(), run.hub.as_str());
    let environment = fact(run, "environment")?;
    let labels = labels(run);
    let (sa, ns) = (settings.service_account.as_str(), settings.namespace.as_str());
    let token_name = format!("{sa}-token");
    let token = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": token_name, "namespace": ns, "annotations": {"kubernetes.io/service-account.name": sa}}});
    let mut token = create(context, token, &labels);
    token.settle = Some(Settle::TokenFilled { timeout_secs: settings.token_timeout.as_secs() });
    let mut writes = vec![
        create(
            context,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}}),
            &labels,
        ),
        create(
            context,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": format!("{sa}-{}", settings.role)},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": settings.role},
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}),
            &labels,
        ),
        token,
    ];
    let mut ns_labels = labels.clone();
    ns_labels["fleetdeck.io/environment"] = json!(environment);
    writes.push(create(hub, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": spoke}}), &ns_labels));
    let annotations = json!({
        UID_ANNOTATION: fact(run, "uid")?,
        CA_ANNOTATION: fact(run, "ca_sha256")?,
        ENVIRONMENT_ANNOTATION: environment,
        REGISTERED_BY_ANNOTATION: run.by.label(),
        REGISTERED_AT_ANNOTATION: run.started_at.to_string(),
    });
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": KUBECONFIG_SECRET, "namespace": spoke, "annotations": annotations}});
    let mut secret = create(hub, secret, &labels);
    secret.fill = Some(Fill::Kubeconfig {
        context: context.to_owned(),
        token_secret: ObjectRef::new("v1", "Secret", "secrets", ns, &token_name),
        server: fact(run, "server")?.to_owned(),
        ca_data: fact(run, "ca_data")?.to_owned(),
        cluster: spoke.to_owned(),
    });
    writes.push(secret);
    for ks in render(&settings.templates, spoke, environment)? {
        writes.push(create(hub, ks, &labels));
    }
    Ok(writes)
}

/// What an unregistration removes, as the `registered` check recorded it.
fn listed(run: &Run, key: &str) -> Vec<ObjectRef> {
    run.facts.get(key).and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default()
}

/// Records a list of objects as a fact.
pub fn list_fact(objects: &[ObjectRef]) -> String {
    serde_json::to_string(objects).unwrap_or_default()
}

fn write_of(context: &str, verb: Verb, object: ObjectRef, body: Value) -> PlannedWrite {
    PlannedWrite { context: context.to_owned(), verb, object, body, fill: None, settle: None }
}

/// The unregistration change set: `spec.prune: false` on every Kustomization of the
/// spoke first (so Flux leaves the spoke's workloads in place when they go), then the
/// Kustomizations, the kubeconfig Secret and the namespace on the hub, then what gave
/// the hub access on the spoke.
pub fn plan_unregister(run: &Run) -> Result<Vec<PlannedWrite>, String> {
    let kustomizations = listed(run, "kustomizations");
    let mut writes: Vec<PlannedWrite> = kustomizations
        .iter()
        .map(|k| write_of(&run.hub, Verb::Patch, k.clone(), json!({"spec": {"prune": false}})))
        .collect();
    writes.extend(kustomizations.iter().map(|k| write_of(&run.hub, Verb::Delete, k.clone(), Value::Null)));
    for object in listed(run, "hub_objects") {
        writes.push(write_of(&run.hub, Verb::Delete, object, Value::Null));
    }
    if !run.context.is_empty() {
        for object in listed(run, "spoke_objects") {
            writes.push(write_of(&run.context, Verb::Delete, object, Value::Null));
        }
    }
    if writes.is_empty() {
        return Err("the hub holds nothing of this spoke to remove".into());
    }
    Ok(writes)
}

/// The kubeconfig a spoke's Secret holds: its server, CA and the hub's token.
pub fn kubeconfig(cluster: &str, server: &str, ca_data: &str, token: &str) -> String {
    // No CA data: the server's certificate is signed by a CA the system trusts.
    let cluster_entry = if ca_data.is_empty() {
        json!({"server": server})
    } else {
        json!({"server": server, "certificate-authority-data": ca_data})
    };
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": cluster_entry}],
        "users": [{"name": "fleetdeck-hub", "user": {"token": token}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": "fleetdeck-hub"}}],
        "current-context": cluster,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// How far the spoke's Kustomizations are: (name, Ready, applied revision, the source's
/// revision, seconds from creation to Ready). Holds when every one is Ready at its
/// source's revision; the text says which are not, or how long the first took.
pub fn kustomizations_ready(states: &[(String, bool, String, String, Option<f64>)]) -> (String, bool) {
    let ready: Vec<&(String, bool, String, String, Option<f64>)> =
        states.iter().filter(|(_, r, applied, source, _)| *r && !applied.is_empty() && applied == source).collect();
    let held = !states.is_empty() && ready.len() == states.len();
    if held {
        let slowest = states.iter().filter_map(|s| s.4).fold(0.0, f64::max);
        let each: Vec<String> = states.iter().map(|(n, _, _, _, t)| format!("{n} {:.1} s", t.unwrap_or(0.0))).collect();
        return (
            format!(
                "all {} Ready at their sources' revisions; the first revision took {slowest:.1} s ({})",
                states.len(),
                each.join(", ")
            ),
            true,
        );
    }
    let waiting: Vec<String> = states
        .iter()
        .filter(|s| !ready.iter().any(|r| r.0 == s.0))
        .map(|(n, r, applied, source, _)| match (r, applied.is_empty()) {
            (_, true) => format!("{n}: not applied yet"),
            (false, _) => format!("{n}: not Ready"),
            (true, false) => format!("{n}: at {applied}, the source at {source}"),
        })
        .collect();
    (format!("{}/{} Ready · {}", ready.len(), states.len(), waiting.join(" · ")), false)
}

/// The facts a registration records from its first check.
pub fn spoke_facts(version: &str, server: &str, spoke: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("version".to_owned(), version.to_owned()),
        ("server".to_owned(), server.to_owned()),
        ("environment".to_owned(), environment_of(spoke)),
    ])
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;
