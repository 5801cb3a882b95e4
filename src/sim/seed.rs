//! The objects a simulated cluster starts with: what a fresh kubeadm cluster has
//! (namespaces, nodes, RBAC roles, system deployments), plus the Flux, Velero and Kyverno
//! installations its role calls for. Seeding goes through the same API operations as
//! any client, so the seeded objects are versioned, owned and watchable like all others.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use color_eyre::eyre::{Result, eyre};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::api::{Caller, write};
use super::resource::GroupResource;
use super::state::{ClusterRole, ClusterState};

pub static FLUX_CRDS: &str = include_str!("../../assets/crds/flux.yaml");
pub static VELERO_CRDS: &str = include_str!("../../assets/crds/velero.yaml");
pub static POLICY_REPORT_CRDS: &str = include_str!("../../assets/crds/policyreport.yaml");

/// The group and version of a manifest's `apiVersion`.
fn group_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Creates or updates an object through the API, as the named controller.
pub fn put(st: &mut ClusterState, manager: &str, object: Value) -> Result<Value> {
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
    let (group, version) = group_version(&api_version);
    let rt = st
        .registry
        .by_kind(group, version, &kind)
        .cloned()
        .ok_or_else(|| eyre!("{kind} ({api_version}) is not served"))?;
    write::upsert_internal(st, &Caller::system(manager), &rt, object).map_err(|e| eyre!("seeding {kind}: {e}"))
}

/// Applies every document of an embedded multi-document YAML manifest of CRDs (parsed
/// once per process: every cluster of a fleet applies the same ones); the kinds they
/// define are served once all are written.
pub fn put_manifest(st: &mut ClusterState, manager: &str, yaml: &'static str) -> Result<()> {
    static PARSED: Mutex<BTreeMap<usize, Arc<Vec<Value>>>> = Mutex::new(BTreeMap::new());
    let docs = {
        let mut parsed = PARSED.lock().unwrap_or_else(|e| e.into_inner());
        match parsed.get(&(yaml.as_ptr() as usize)) {
            Some(docs) => docs.clone(),
            None => {
                let docs: Vec<Value> =
                    serde_saphyr::from_multiple(yaml).map_err(|e| eyre!("embedded manifest: {e}"))?;
                let docs = Arc::new(docs.into_iter().filter(Value::is_object).collect::<Vec<_>>());
                parsed.insert(yaml.as_ptr() as usize, docs.clone());
                docs
            }
        }
    };
    st.with_registry_held(|st| docs.iter().try_for_each(|doc| put(st, manager, doc.clone()).map(drop)))
}

/// A stable UUID derived from a name (cluster identities survive restarts of the sim).
pub fn stable_uid(seed: &str) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}, "rules": rules})
}

pub fn cluster_role_binding(name: &str, role: &str, subjects: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects})
}

/// The bootstrap RBAC of a cluster, plus the fleet's read-only role.
fn rbac(st: &mut ClusterState) -> Result<()> {
    let read = json!(["get", "list", "watch"]);
    let roles = [
        cluster_role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        cluster_role(
            "view",
            json!([
                {"apiGroups": [""], "resources": ["configmaps", "events", "namespaces", "nodes", "pods", "pods/status", "serviceaccounts", "namespaces/status", "nodes/status"], "verbs": read},
                {"apiGroups": ["apps"], "resources": ["deployments", "deployments/status", "statefulsets", "statefulsets/status", "daemonsets", "daemonsets/status"], "verbs": read},
                {"apiGroups": ["source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "velero.io", "wgpolicyk8s.io"], "resources": ["*"], "verbs": read},
                {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": read},
            ]),
        ),
        cluster_role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi", "/openapi/*", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:basic-user",
            json!([
                {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            ]),
        ),
        cluster_role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
    ];
    for role in roles {
        put(st, "kube-apiserver", role)?;
    }
    let bindings = [
        cluster_role_binding(
            "cluster-admin",
            "cluster-admin",
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]),
        ),
        cluster_role_binding(
            "system:discovery",
            "system:discovery",
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]),
        ),
        cluster_role_binding(
            "system:basic-user",
            "system:basic-user",
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]),
        ),
        cluster_role_binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            json!([
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"},
            ]),
        ),
        cluster_role_binding(
            "fleet-viewers",
            "view",
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": VIEWER_GROUP}]),
        ),
    ];
    for binding in bindings {
        put(st, "kube-apiserver", binding)?;
    }
    Ok(())
}

/// The read-only user of every cluster, and its group.
pub const VIEWER_USER: &str = "fleet-viewer";
pub const VIEWER_GROUP: &str = "fleet:viewers";
/// The admin user of every cluster.
pub const ADMIN_USER: &str = "fleet-admin";

fn node(cluster: &str, index: usize, control_plane: bool, kubelet: &str) -> Value {
    let name = if control_plane { format!("{cluster}-control-plane") } else { format!("{cluster}-worker-{index}") };
    let mut labels = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": format!("zone-{}", (index % 3) + 1),
    });
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
    }
    let now = super::clock::now();
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": format!("10.244.{index}.0/24"), "podCIDRs": [format!("10.244.{index}.0/24")], "providerID": format!("sim://{name}")},
        "status": {
            "capacity": {"cpu": "4", "memory": "16384Mi", "pods": "110", "ephemeral-storage": "102400Mi"},
            "allocatable": {"cpu": "3800m", "memory": "15872Mi", "pods": "110", "ephemeral-storage": "94371840Ki"},
            "conditions": node_conditions(true, &now),
            "addresses": [{"type": "InternalIP", "address": format!("172.18.0.{}", index + 2)}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "machineID": stable_uid(&format!("{cluster}/{name}/machine")).replace('-', ""),
                "systemUUID": stable_uid(&format!("{cluster}/{name}/system")),
                "bootID": stable_uid(&format!("{cluster}/{name}/boot")),
                "kernelVersion": "6.8.0-45-generic",
                "osImage": "Ubuntu 24.04.1 LTS",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": kubelet,
                "kubeProxyVersion": kubelet,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    })
}

/// A node's conditions, Ready or NotReady (kubelet stopped posting status).
pub fn node_conditions(ready: bool, now: &str) -> Value {
    let pressure = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "False", "reason": reason, "message": message, "lastHeartbeatTime": now, "lastTransitionTime": now});
    let ready_condition = if ready {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now})
    } else {
        json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!([
        pressure("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        pressure("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        pressure("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ready_condition,
    ])
}

/// A Deployment with `replicas` ready pods of `image`.
pub fn deployment(ns: &str, name: &str, image: &str, replicas: i64, labels: Value) -> Value {
    workload("Deployment", ns, name, image, Some(replicas), labels)
}

/// A Deployment, StatefulSet (`replicas`) or DaemonSet (`None`: a pod per node) of
/// `image`; the workload controllers settle it ready.
pub fn workload(kind: &str, ns: &str, name: &str, image: &str, replicas: Option<i64>, labels: Value) -> Value {
    let mut selector = json!({"app.kubernetes.io/name": name});
    if let Some(extra) = labels.as_object() {
        for (k, v) in extra {
            selector[k] = v.clone();
        }
    }
    let mut object = json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": ns, "labels": selector},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [{"name": name, "image": image, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
            },
        },
    });
    if let Some(replicas) = replicas {
        object["spec"]["replicas"] = json!(replicas);
    }
    if kind == "StatefulSet" {
        object["spec"]["serviceName"] = json!(name);
    }
    object
}

/// Seeds what every cluster has. `uid` becomes kube-system's UID: the cluster identity.
pub fn base(st: &mut ClusterState, node_count: usize, uid: &str) -> Result<()> {
    rbac(st)?;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let mut object = namespace(ns, json!({}));
        if ns == "kube-system" {
            object["metadata"]["uid"] = json!(uid);
        }
        put(st, "kube-apiserver", object)?;
    }
    let name = st.info.name.clone();
    let kubelet = st.info.git_version;
    put(st, "kubelet", node(&name, 0, true, kubelet))?;
    for i in 1..node_count {
        put(st, "kubelet", node(&name, i, false, kubelet))?;
    }
    put(
        st,
        "kubeadm",
        deployment(
            "kube-system",
            "coredns",
            "registry.k8s.io/coredns/coredns:v1.11.3",
            2,
            json!({"k8s-app": "kube-dns"}),
        ),
    )?;
    put(
        st,
        "kubeadm",
        deployment(
            "kube-system",
            "metrics-server",
            "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
            1,
            json!({}),
        ),
    )?;
    Ok(())
}

/// Seeds a namespace (used for role-specific namespaces).
pub fn ensure_namespace(st: &mut ClusterState, name: &str, labels: Value) -> Result<()> {
    if st.store.get(&GroupResource::new("", "namespaces"), "", name).is_none() {
        put(st, "kube-apiserver", namespace(name, labels))?;
    }
    Ok(())
}

/// A kubeconfig (YAML) that reaches a cluster with a bearer token, as the hub's Flux
/// reads it from the `cluster-kubeconfig` Secret.
pub fn token_kubeconfig(cluster: &str, server: &str, ca_pem: &str, user: &str, token: &str) -> String {
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": STANDARD.encode(ca_pem)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    });
    serde_saphyr::to_string(&doc).unwrap_or_default()
}

/// The role-specific namespaces.
pub fn role_namespaces(role: ClusterRole) -> &'static [&'static str] {
    match role {
        ClusterRole::Hub => &["flux-system"],
        ClusterRole::Spoke | ClusterRole::Candidate => &["fleet-system", "kyverno", "payments", "storefront"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_uids_look_like_uuids_and_are_stable() {
        let a = stable_uid("hub");
        assert_eq!(a, stable_uid("hub"));
        assert_ne!(a, stable_uid("spoke"));
        assert_eq!(a.len(), 36);
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn manifests_parse() {
        for m in [FLUX_CRDS, VELERO_CRDS, POLICY_REPORT_CRDS] {
            let docs: Vec<Value> = serde_saphyr::from_multiple(m).unwrap();
            assert!(docs.iter().all(|d| d["kind"] == "CustomResourceDefinition"));
        }
    }
}
