//! What each kind does on write, as the API server's per-kind strategies and admission
//! plugins do: defaults, server-set fields, checks, and the controllers that react at
//! once (service-account tokens, deployment and pod status, CRD establishment).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde_json::{Map, Value, json};

use super::Caller;
use super::write;
use crate::auth::{TokenEntry, UserInfo};
use crate::resource::{GroupResource, ResourceType};
use crate::state::{ClusterRole, ClusterState};
use crate::status::{ApiError, ApiResult};

fn is(rt: &ResourceType, group: &str, plural: &str) -> bool {
    rt.group == group && rt.plural == plural
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// A new random bearer token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Defaults and server-set fields for a new object (after schema checks).
pub fn prepare_create(rt: &ResourceType, obj: &mut Value) {
    let name = str_at(obj, "/metadata/name").unwrap_or_default().to_owned();
    // Status is the controllers' to write: a new object starts without one (nodes and
    // namespaces excepted, as their status comes with them).
    let keeps_status = is(rt, "", "nodes") || is(rt, "", "namespaces");
    if rt.status_subresource
        && !keeps_status
        && let Some(map) = obj.as_object_mut()
    {
        map.remove("status");
    }
    if !rt.is_builtin() || rt.group == "apps" {
        obj["metadata"]["generation"] = json!(1);
    }
    if is(rt, "", "namespaces") {
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        obj["spec"]["finalizers"] = json!(["kubernetes"]);
        obj["status"] = json!({"phase": "Active"});
    }
    if is(rt, "", "secrets") && obj.get("type").is_none() {
        obj["type"] = json!("Opaque");
    }
    if is(rt, "apps", "statefulsets") && obj["spec"].get("replicas").is_none() {
        obj["spec"]["replicas"] = json!(1);
    }
    if is(rt, "apps", "deployments") {
        let spec = &mut obj["spec"];
        if spec.get("replicas").is_none() {
            spec["replicas"] = json!(1);
        }
        if spec.get("revisionHistoryLimit").is_none() {
            spec["revisionHistoryLimit"] = json!(10);
        }
        if spec.get("progressDeadlineSeconds").is_none() {
            spec["progressDeadlineSeconds"] = json!(600);
        }
        if spec.get("strategy").is_none() {
            spec["strategy"] =
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
        }
    }
    if is(rt, "apiextensions.k8s.io", "customresourcedefinitions") {
        let names = obj.pointer("/spec/names").cloned().unwrap_or(Value::Null);
        let versions: Vec<Value> = obj
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter(|v| v.get("storage") == Some(&json!(true)))
                    .filter_map(|v| v.get("name").cloned())
                    .collect()
            })
            .unwrap_or_default();
        let now = crate::clock::now();
        obj["status"] = json!({
            "acceptedNames": names,
            "storedVersions": versions,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
        });
    }
}

/// Folds `stringData` into `data`, as the API server does for Secrets.
pub fn normalize(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    if !is(rt, "", "secrets") {
        return Ok(());
    }
    if let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
        let data = obj.as_object_mut().map(|m| m.entry("data").or_insert_with(|| json!({})));
        if let Some(Value::Object(data)) = data {
            for (k, v) in string_data {
                data.insert(k, json!(STANDARD.encode(v.as_str().unwrap_or_default())));
            }
        }
    }
    if let Some(data) = obj.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            if v.as_str().is_some_and(|s| STANDARD.decode(s).is_err()) {
                return Err(ApiError::bad_request(format!(
                    "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 0 (key {k})"
                )));
            }
        }
    }
    Ok(())
}

/// Checks of one kind on create (`old` is None) and update.
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> ApiResult<()> {
    let name = str_at(obj, "/metadata/name").unwrap_or_default();
    if let Some(old) = old
        && (is(rt, "", "secrets") || is(rt, "", "configmaps"))
        && old.get("immutable") == Some(&json!(true))
    {
        let changed = ["data", "binaryData", "stringData"].iter().any(|f| old.get(*f) != obj.get(*f));
        if changed || obj.get("immutable") != Some(&json!(true)) {
            return Err(ApiError::invalid(
                rt,
                name,
                &[("data".into(), "Forbidden: field is immutable when `immutable` is set".into())],
            ));
        }
    }
    if is(rt, "apiextensions.k8s.io", "customresourcedefinitions") {
        let plural = str_at(obj, "/spec/names/plural").unwrap_or_default();
        let group = str_at(obj, "/spec/group").unwrap_or_default();
        if name != format!("{plural}.{group}") {
            return Err(ApiError::invalid(
                rt,
                name,
                &[(
                    "metadata.name".into(),
                    format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
                )],
            ));
        }
        if let Some(old) = old
            && str_at(old, "/spec/group") != Some(group)
        {
            return Err(ApiError::invalid(
                rt,
                name,
                &[("spec.group".into(), "Invalid value: field is immutable".into())],
            ));
        }
    }
    if rt.group == "apps" {
        let selector = obj.pointer("/spec/selector/matchLabels").and_then(Value::as_object);
        let labels = obj.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
        let matches = match (selector, labels) {
            (Some(sel), Some(labels)) => !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v)),
            _ => false,
        };
        if !matches {
            return Err(ApiError::invalid(
                rt,
                name,
                &[(
                    "spec.template.metadata.labels".into(),
                    "Invalid value: `selector` does not match template `labels`".into(),
                )],
            ));
        }
    }
    Ok(())
}

fn privileged_containers(pod_spec: &Value) -> Vec<String> {
    ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod_spec.get(*f).and_then(Value::as_array))
        .flatten()
        .filter(|c| c.pointer("/securityContext/privileged") == Some(&json!(true)))
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The policy ConfigMap Flux delivers to spokes; its `enforce` key lists the policies the
/// spoke's admission controller enforces.
pub const POLICY_CONFIGMAP: (&str, &str) = ("kyverno", "fleet-policies");
pub const PRIVILEGED_POLICY: &str = "disallow-privileged-containers";
pub const HOST_PATH_POLICY: &str = "disallow-host-path";
pub const DIGEST_POLICY: &str = "require-image-digest";

/// Admission: namespace lifecycle, then the fleet's policies on spokes.
pub fn admit(st: &ClusterState, rt: &ResourceType, obj: &Value, creating: bool) -> ApiResult<()> {
    let ns = str_at(obj, "/metadata/namespace").unwrap_or_default();
    if rt.namespaced && creating {
        let namespaces = GroupResource::new("", "namespaces");
        match st.store.get(&namespaces, "", ns) {
            None => {
                return Err(ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
                    .with_details(json!({"name": ns, "kind": "namespaces"})));
            }
            Some(namespace) if namespace.value().pointer("/status/phase") == Some(&json!("Terminating")) => {
                return Err(ApiError::new(
                    403,
                    "Forbidden",
                    format!(
                        "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        rt.plural,
                        str_at(obj, "/metadata/name").unwrap_or_default()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if st.info.role == ClusterRole::Hub {
        return Ok(());
    }
    let pod = is(rt, "", "pods");
    let pod_spec = if pod {
        obj.get("spec")
    } else if is(rt, "apps", "deployments") {
        obj.pointer("/spec/template/spec")
    } else {
        None
    };
    let Some(pod_spec) = pod_spec else { return Ok(()) };
    let enforced: Vec<String> = st
        .store
        .get(&GroupResource::new("", "configmaps"), POLICY_CONFIGMAP.0, POLICY_CONFIGMAP.1)
        .map(|cm| cm.value())
        .and_then(|cm| cm.pointer("/data/enforce").and_then(Value::as_str).map(str::to_owned))
        .map(|list| list.split(',').map(|p| p.trim().to_owned()).collect())
        .unwrap_or_default();
    let name = str_at(obj, "/metadata/name").unwrap_or_default();
    // (policy, rule, message, what breaks it); the host-path and digest rules validate
    // new Pods, as their Kyverno policies match Pods.
    let rules: [(&str, &str, &str, Vec<String>); 3] = [
        (
            PRIVILEGED_POLICY,
            "privileged-containers",
            "Privileged mode is disallowed. The fields spec.containers[*].securityContext.privileged must be unset or set to `false`.",
            privileged_containers(pod_spec),
        ),
        (
            HOST_PATH_POLICY,
            "host-path",
            "HostPath volumes are forbidden. The field spec.volumes[*].hostPath must be unset.",
            if pod && creating { host_path_volumes(pod_spec) } else { Vec::new() },
        ),
        (
            DIGEST_POLICY,
            "require-image-digest",
            "Images must be referenced by digest.",
            if pod && creating { images_without_digest(pod_spec) } else { Vec::new() },
        ),
    ];
    for (policy, rule, message, broken) in rules {
        if broken.is_empty() || !enforced.iter().any(|p| p == policy) {
            continue;
        }
        return Err(ApiError::bad_request(format!(
            "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource {}/{ns}/{name} was blocked due to the following policies \n\n{policy}:\n  {rule}: 'validation error: {message} rule {rule} failed ({})'",
            rt.kind,
            broken.join(", ")
        )));
    }
    Ok(())
}

fn host_path_volumes(pod_spec: &Value) -> Vec<String> {
    pod_spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("hostPath").is_some())
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(|n| format!("volumes: {n}")))
        .collect()
}

fn images_without_digest(pod_spec: &Value) -> Vec<String> {
    ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod_spec.get(*f).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .filter(|image| !image.contains("@sha256:"))
        .map(|image| format!("image: {image}"))
        .collect()
}

/// What just happened to an object, for the hooks below.
pub enum Committed<'a> {
    Written { old: Option<&'a Value>, new: &'a Value },
    Deleted(&'a Value),
}

/// Keeps derived state in step after a committed (not dry-run) write.
pub fn after_write(st: &mut ClusterState, rt: &ResourceType, what: Committed<'_>) {
    let object = match &what {
        Committed::Written { new, .. } => *new,
        Committed::Deleted(obj) => *obj,
    };
    let ns = str_at(object, "/metadata/namespace").unwrap_or_default().to_owned();
    let name = str_at(object, "/metadata/name").unwrap_or_default().to_owned();
    if rt.group == "rbac.authorization.k8s.io" {
        st.invalidate_rbac();
    }
    if is(rt, "apiextensions.k8s.io", "customresourcedefinitions") {
        if let Committed::Deleted(crd) = &what {
            for served in ResourceType::from_crd(crd) {
                st.store.drop_collection(&served.group_resource());
            }
        }
        st.crds_changed();
    }
    match (&what, rt.group.as_str(), rt.plural.as_str()) {
        (Committed::Deleted(_), "", "secrets") => st.authn.remove_secret_tokens(&ns, &name),
        (Committed::Written { new, .. }, "", "secrets") => fill_service_account_token(st, new),
        (Committed::Written { old, new }, "apps", "deployments" | "statefulsets" | "daemonsets") => {
            let changed = old.is_none_or(|o| {
                o.get("spec") != new.get("spec")
                    || o.pointer("/metadata/generation") != new.pointer("/metadata/generation")
            });
            if changed {
                settle_workload(st, rt, new);
            }
        }
        (Committed::Written { old: None, new }, "", "pods") => run_pod(st, rt, new),
        (Committed::Written { old: None, .. }, "", "namespaces") => populate_namespace(st, &name),
        _ => {}
    }
}

/// The token controller: a `kubernetes.io/service-account-token` Secret naming an existing
/// ServiceAccount gets a token, the cluster CA and the namespace.
fn fill_service_account_token(st: &mut ClusterState, secret: &Value) {
    if secret.get("type").and_then(Value::as_str) != Some("kubernetes.io/service-account-token") {
        return;
    }
    let ns = str_at(secret, "/metadata/namespace").unwrap_or_default().to_owned();
    let name = str_at(secret, "/metadata/name").unwrap_or_default().to_owned();
    let Some(sa_name) = str_at(secret, "/metadata/annotations/kubernetes.io~1service-account.name").map(str::to_owned)
    else {
        return;
    };
    let Some(sa) = st.store.get(&GroupResource::new("", "serviceaccounts"), &ns, &sa_name).map(|o| o.value()) else {
        return;
    };
    let sa_uid = str_at(&sa, "/metadata/uid").unwrap_or_default().to_owned();
    let existing = secret.pointer("/data/token").and_then(Value::as_str).and_then(|t| STANDARD.decode(t).ok());
    if let Some(token) = existing {
        // A token written by a client or an earlier run: make sure it authenticates.
        if !st.authn.has_secret_token(&ns, &name) {
            let token = String::from_utf8_lossy(&token).into_owned();
            st.authn.add_token(
                &token,
                TokenEntry {
                    user: UserInfo::service_account(&ns, &sa_name, &sa_uid),
                    expires: None,
                    secret: Some((ns, name)),
                },
            );
        }
        return;
    }
    let token = new_token();
    st.authn.add_token(
        &token,
        TokenEntry {
            user: UserInfo::service_account(&ns, &sa_name, &sa_uid),
            expires: None,
            secret: Some((ns.clone(), name.clone())),
        },
    );
    let ca = STANDARD.encode(st.info.ca_pem.as_bytes());
    let mut updated = secret.clone();
    let mut data = Map::new();
    data.insert("ca.crt".into(), json!(ca));
    data.insert("namespace".into(), json!(STANDARD.encode(&ns)));
    data.insert("token".into(), json!(STANDARD.encode(&token)));
    updated["data"] = Value::Object(data);
    updated["metadata"]["annotations"]["kubernetes.io/service-account.uid"] = json!(sa_uid);
    let rt = st.registry.lookup("", "v1", "secrets").cloned();
    if let Some(rt) = rt {
        let _ = write::update_internal(st, &Caller::system("kube-controller-manager"), &rt, updated, "");
    }
}

/// The service-account and root-CA controllers: every new namespace gets a `default`
/// ServiceAccount and the `kube-root-ca.crt` ConfigMap.
fn populate_namespace(st: &mut ClusterState, ns: &str) {
    let caller = Caller::system("kube-controller-manager");
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
    let ca = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": ns, "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
        "data": {"ca.crt": st.info.ca_pem.to_string()}});
    for (plural, object) in [("serviceaccounts", sa), ("configmaps", ca)] {
        if let Some(rt) = st.registry.lookup("", "v1", plural).cloned() {
            let _ = write::create(st, &caller, &rt, ns, object);
        }
    }
}

/// The workload controllers, settled at once: every replica (a DaemonSet: one per node)
/// is ready.
/// The pod-template annotation a bad revision leaves on the Deployments it breaks.
pub const BROKEN: &str = "sim.fleetdeck.io/broken-by";

fn settle_workload(st: &mut ClusterState, rt: &ResourceType, workload: &Value) {
    let generation = workload.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    let now = crate::clock::now();
    let name = str_at(workload, "/metadata/name").unwrap_or_default();
    let mut updated = workload.clone();
    updated["status"] = match rt.plural.as_str() {
        "daemonsets" => {
            let nodes = st.store.list(&GroupResource::new("", "nodes"), None, None).count() as i64;
            json!({
                "observedGeneration": generation,
                "desiredNumberScheduled": nodes,
                "currentNumberScheduled": nodes,
                "updatedNumberScheduled": nodes,
                "numberReady": nodes,
                "numberAvailable": nodes,
                "numberMisscheduled": 0,
            })
        }
        "statefulsets" => {
            let replicas = workload.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            json!({
                "observedGeneration": generation,
                "replicas": replicas,
                "readyReplicas": replicas,
                "currentReplicas": replicas,
                "updatedReplicas": replicas,
                "availableReplicas": replicas,
                "currentRevision": format!("{name}-6c8f9b7d5"),
                "updateRevision": format!("{name}-6c8f9b7d5"),
            })
        }
        // A pod template a bad revision broke: its pods crash-loop, nothing is ready.
        _ if workload
            .pointer(&format!("/spec/template/metadata/annotations/{}", BROKEN.replace('/', "~1")))
            .is_some() =>
        {
            let replicas = workload.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            json!({
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": 0,
                "availableReplicas": 0,
                "unavailableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                    {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{name}-5f7c9d8b6\" is progressing."), "lastUpdateTime": now, "lastTransitionTime": now},
                ],
            })
        }
        _ => {
            let replicas = workload.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            json!({
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{name}-7d9c5b8f4c\" has successfully progressed."), "lastUpdateTime": now, "lastTransitionTime": now},
                ],
            })
        }
    };
    let _ = write::update_internal(st, &Caller::system("kube-controller-manager"), rt, updated, "status");
}

/// The scheduler and kubelet, settled at once: the pod runs.
fn run_pod(st: &mut ClusterState, rt: &ResourceType, pod: &Value) {
    let now = crate::clock::now();
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| json!({"name": c.get("name"), "image": c.get("image"), "ready": true, "restartCount": 0, "started": true, "state": {"running": {"startedAt": now}}}))
                .collect()
        })
        .unwrap_or_default();
    let mut updated = pod.clone();
    updated["status"] = json!({
        "phase": "Running",
        "startTime": now,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
        "containerStatuses": containers,
    });
    let _ = write::update_internal(st, &Caller::system("kubelet"), rt, updated, "status");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Registry;

    #[test]
    fn string_data_is_folded_and_bad_base64_rejected() {
        let registry = Registry::new([]);
        let secrets = registry.lookup("", "v1", "secrets").unwrap();
        let mut s = json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}, "data": {"a": "YQ=="}});
        normalize(secrets, &mut s).unwrap();
        assert_eq!(s["data"], json!({"a": "YQ==", "k": "dg=="}));
        assert!(s.get("stringData").is_none());
        let mut bad = json!({"metadata": {"name": "s"}, "data": {"a": "!!"}});
        assert_eq!(normalize(secrets, &mut bad).unwrap_err().code, 400);
    }

    #[test]
    fn deployment_selector_must_match_template() {
        let registry = Registry::new([]);
        let deploy = registry.lookup("apps", "v1", "deployments").unwrap();
        let ok = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "a"}}}}});
        assert!(validate(deploy, &ok, None).is_ok());
        let bad = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "b"}}, "template": {"metadata": {"labels": {"app": "a"}}}}});
        assert_eq!(validate(deploy, &bad, None).unwrap_err().code, 422);
    }

    #[test]
    fn immutable_configmaps_reject_data_changes() {
        let registry = Registry::new([]);
        let cm = registry.lookup("", "v1", "configmaps").unwrap();
        let old = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let new = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "2"}});
        assert_eq!(validate(cm, &new, Some(&old)).unwrap_err().code, 422);
        assert!(validate(cm, &old, Some(&old)).is_ok());
    }
}
