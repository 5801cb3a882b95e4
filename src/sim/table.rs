//! `meta.k8s.io/v1` Table responses, which `kubectl get` asks for: the columns a real API
//! server prints for each built-in kind, and a CRD's `additionalPrinterColumns`
//! (JSONPath) for custom kinds, with dates shown as ages.

use jiff::Timestamp;
use jsonpath_rust::JsonPath;
use serde_json::{Value, json};

use super::clock::{human_duration, parse};
use super::request::IncludeObject;
use super::resource::{BuiltinPrinter, Columns, ResourceType};

fn col(name: &str, type_: &str, description: &str, priority: i64) -> Value {
    let mut c = json!({"name": name, "type": type_, "format": "", "description": description, "priority": priority});
    if name == "Name" {
        c["format"] = json!("name");
    }
    c
}

/// The column definitions of a kind.
pub fn columns(rt: &ResourceType) -> Vec<Value> {
    use BuiltinPrinter as P;
    let name = col("Name", "string", "Name must be unique within a namespace.", 0);
    let age = col(
        "Age",
        "string",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
        0,
    );
    match &rt.columns {
        Columns::JsonPath(cols) => {
            let mut out = vec![name];
            if cols.is_empty() {
                out.push(age);
            }
            out.extend(cols.iter().map(|c| {
                let mut v = col(&c.name, &c.type_, &c.description, c.priority);
                v["format"] = json!(c.format);
                v
            }));
            out
        }
        Columns::Builtin(printer) => match printer {
            P::Namespace => vec![name, col("Status", "string", "The status of the namespace", 0), age],
            P::Node => vec![
                name,
                col("Status", "string", "The status of the node", 0),
                col("Roles", "string", "The roles of the node", 0),
                age,
                col("Version", "string", "Kubelet Version reported by the node.", 0),
                col("Internal-IP", "string", "List of addresses reachable to the node.", 1),
                col("External-IP", "string", "List of addresses reachable to the node.", 1),
                col("OS-Image", "string", "OS Image reported by the node from /etc/os-release.", 1),
                col("Kernel-Version", "string", "Kernel Version reported by the node.", 1),
                col("Container-Runtime", "string", "ContainerRuntime Version reported by the node.", 1),
            ],
            P::Event => vec![
                col(
                    "Last Seen",
                    "string",
                    "The time at which the most recent occurrence of this event was recorded.",
                    0,
                ),
                col("Type", "string", "Type of this event (Normal, Warning).", 0),
                col("Reason", "string", "This should be a short, machine understandable string.", 0),
                col("Object", "string", "The object that this event is about.", 0),
                col("Subobject", "string", "The subobject that this event is about.", 1),
                col("Source", "string", "The component reporting this event.", 1),
                col("Message", "string", "A human-readable description of the status of this operation.", 0),
                col("First Seen", "string", "The time at which the event was first recorded.", 1),
                col("Count", "string", "The number of times this event has occurred.", 1),
                col("Name", "string", "Name must be unique within a namespace.", 1),
            ],
            P::Secret => vec![
                name,
                col("Type", "string", "The type of the secret", 0),
                col("Data", "string", "The number of keys in the secret", 0),
                age,
            ],
            P::ConfigMap => vec![name, col("Data", "string", "The number of keys in the config map", 0), age],
            P::ServiceAccount => {
                vec![name, col("Secrets", "string", "The number of secrets of the service account", 0), age]
            }
            P::Pod => vec![
                name,
                col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic.", 0),
                col("Status", "string", "The aggregate status of the containers in this pod.", 0),
                col("Restarts", "string", "The number of times the containers in this pod have been restarted.", 0),
                age,
                col("IP", "string", "IP address allocated to the pod.", 1),
                col("Node", "string", "Name of the Node this pod is assigned to.", 1),
            ],
            P::Deployment => vec![
                name,
                col("Ready", "string", "Number of the pod with ready state", 0),
                col(
                    "Up-to-date",
                    "string",
                    "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                    0,
                ),
                col(
                    "Available",
                    "string",
                    "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                    0,
                ),
                age,
                col("Containers", "string", "Names of each container in the template.", 1),
                col("Images", "string", "Images referenced by each container in the template.", 1),
                col("Selector", "string", "Label selector for pods.", 1),
            ],
            P::StatefulSet => vec![
                name,
                col("Ready", "string", "Number of the pod with ready state", 0),
                age,
                col("Containers", "string", "Names of each container in the template.", 1),
                col("Images", "string", "Images referenced by each container in the template.", 1),
            ],
            P::DaemonSet => vec![
                name,
                col("Desired", "integer", "The total number of nodes that should be running the daemon pod.", 0),
                col("Current", "integer", "The number of nodes that are running at least 1 daemon pod.", 0),
                col(
                    "Ready",
                    "integer",
                    "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
                    0,
                ),
                col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod", 0),
                col(
                    "Available",
                    "integer",
                    "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
                    0,
                ),
                col("Node Selector", "string", "The node selector of the daemon pod.", 0),
                age,
                col("Containers", "string", "Names of each container in the template.", 1),
                col("Images", "string", "Images referenced by each container in the template.", 1),
            ],
            P::ClusterRole | P::CustomResourceDefinition => {
                vec![
                    name,
                    col(
                        "Created At",
                        "date",
                        "CreationTimestamp is a timestamp representing the server time when this object was created.",
                        0,
                    ),
                ]
            }
            P::ClusterRoleBinding => vec![
                name,
                col("Role", "string", "RoleRef is the reference to the role.", 0),
                age,
                col("Users", "string", "Users in the binding", 1),
                col("Groups", "string", "Groups in the binding", 1),
                col("ServiceAccounts", "string", "ServiceAccounts in the binding", 1),
            ],
            P::NameOnly => vec![name, age],
        },
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn age(v: &Value, pointer: &str, now: Timestamp) -> String {
    match parse(s(v, pointer)) {
        Some(t) => human_duration(now.as_second() - t.as_second()),
        None => "<unknown>".to_owned(),
    }
}

fn count(v: &Value, pointer: &str) -> usize {
    match v.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn or_none(text: String) -> String {
    if text.is_empty() { "<none>".to_owned() } else { text }
}

fn node_row(n: &Value, now: Timestamp) -> Vec<Value> {
    let conditions = n.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let ready = conditions.iter().find(|c| c["type"] == "Ready").map(|c| c["status"] == "True");
    let mut status = match ready {
        Some(true) => "Ready".to_owned(),
        Some(false) | None => "NotReady".to_owned(),
    };
    if n.pointer("/spec/unschedulable") == Some(&json!(true)) {
        status.push_str(",SchedulingDisabled");
    }
    let roles: Vec<&str> = n
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| l.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/")).collect())
        .unwrap_or_default();
    let address = |kind: &str| -> String {
        n.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x["type"] == kind))
            .and_then(|x| x["address"].as_str())
            .unwrap_or("<none>")
            .to_owned()
    };
    vec![
        json!(s(n, "/metadata/name")),
        json!(status),
        json!(or_none(roles.join(","))),
        json!(age(n, "/metadata/creationTimestamp", now)),
        json!(s(n, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(s(n, "/status/nodeInfo/osImage")),
        json!(s(n, "/status/nodeInfo/kernelVersion")),
        json!(s(n, "/status/nodeInfo/containerRuntimeVersion")),
    ]
}

fn event_row(e: &Value, now: Timestamp) -> Vec<Value> {
    let last = ["/series/lastObservedTime", "/lastTimestamp", "/eventTime", "/metadata/creationTimestamp"]
        .iter()
        .find(|p| !s(e, p).is_empty())
        .map(|p| age(e, p, now))
        .unwrap_or_else(|| "<unknown>".to_owned());
    let first = if s(e, "/firstTimestamp").is_empty() { last.clone() } else { age(e, "/firstTimestamp", now) };
    let object = format!("{}/{}", s(e, "/involvedObject/kind").to_lowercase(), s(e, "/involvedObject/name"));
    let source = match (s(e, "/source/component"), s(e, "/source/host")) {
        ("", _) => s(e, "/reportingComponent").to_owned(),
        (c, "") => c.to_owned(),
        (c, h) => format!("{c}, {h}"),
    };
    vec![
        json!(last),
        json!(s(e, "/type")),
        json!(s(e, "/reason")),
        json!(object),
        json!(s(e, "/involvedObject/fieldPath")),
        json!(source),
        json!(s(e, "/message").trim()),
        json!(first),
        json!(e.get("count").and_then(Value::as_i64).unwrap_or(1).to_string()),
        json!(s(e, "/metadata/name")),
    ]
}

fn pod_row(p: &Value, now: Timestamp) -> Vec<Value> {
    let statuses = p.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
    let total = count(p, "/spec/containers");
    let ready = statuses.iter().filter(|c| c["ready"] == true).count();
    let restarts: i64 = statuses.iter().filter_map(|c| c["restartCount"].as_i64()).sum();
    vec![
        json!(s(p, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(match s(p, "/status/phase") {
            "" => "Pending",
            phase => phase,
        }),
        json!(restarts.to_string()),
        json!(age(p, "/metadata/creationTimestamp", now)),
        json!(match s(p, "/status/podIP") {
            "" => "<none>",
            ip => ip,
        }),
        json!(match s(p, "/spec/nodeName") {
            "" => "<none>",
            n => n,
        }),
    ]
}

fn deployment_row(d: &Value, now: Timestamp) -> Vec<Value> {
    let int = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let containers: Vec<&Value> = d
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let join = |key: &str| containers.iter().filter_map(|c| c[key].as_str()).collect::<Vec<_>>().join(",");
    let selector = d
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    vec![
        json!(s(d, "/metadata/name")),
        json!(format!("{}/{}", int("/status/readyReplicas"), int("/spec/replicas"))),
        json!(int("/status/updatedReplicas")),
        json!(int("/status/availableReplicas")),
        json!(age(d, "/metadata/creationTimestamp", now)),
        json!(join("name")),
        json!(join("image")),
        json!(selector),
    ]
}

/// A pod template's container names and images, comma-joined.
fn containers(o: &Value) -> (String, String) {
    let list: Vec<&Value> = o
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let join = |key: &str| list.iter().filter_map(|c| c[key].as_str()).collect::<Vec<_>>().join(",");
    (join("name"), join("image"))
}

fn binding_row(b: &Value, now: Timestamp) -> Vec<Value> {
    let subjects = b.get("subjects").and_then(Value::as_array).cloned().unwrap_or_default();
    let of = |kind: &str| {
        subjects
            .iter()
            .filter(|x| x["kind"] == kind)
            .map(|x| match x["namespace"].as_str() {
                Some(ns) if kind == "ServiceAccount" => format!("{ns}/{}", x["name"].as_str().unwrap_or_default()),
                _ => x["name"].as_str().unwrap_or_default().to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        json!(s(b, "/metadata/name")),
        json!(format!("{}/{}", s(b, "/roleRef/kind"), s(b, "/roleRef/name"))),
        json!(age(b, "/metadata/creationTimestamp", now)),
        json!(of("User")),
        json!(of("Group")),
        json!(of("ServiceAccount")),
    ]
}

/// Evaluates a CRD printer column's JSONPath (Kubernetes writes them without the `$`).
fn jsonpath_cell(obj: &Value, path: &str, type_: &str, now: Timestamp) -> Value {
    let full = if path.starts_with('$') { path.to_owned() } else { format!("${path}") };
    let found = obj.query(&full).ok().and_then(|v| v.first().map(|x| (*x).clone()));
    match (found, type_) {
        (None, _) => Value::Null,
        (Some(Value::String(t)), "date") => match parse(&t) {
            Some(ts) => json!(human_duration(now.as_second() - ts.as_second())),
            None => json!(t),
        },
        (Some(v), _) => v,
    }
}

/// The cells of one object.
pub fn cells(rt: &ResourceType, obj: &Value, now: Timestamp) -> Vec<Value> {
    use BuiltinPrinter as P;
    let name = json!(s(obj, "/metadata/name"));
    let created = json!(age(obj, "/metadata/creationTimestamp", now));
    match &rt.columns {
        Columns::JsonPath(cols) => {
            let mut out = vec![name];
            if cols.is_empty() {
                out.push(created);
            }
            out.extend(cols.iter().map(|c| jsonpath_cell(obj, &c.json_path, &c.type_, now)));
            out
        }
        Columns::Builtin(printer) => match printer {
            P::Namespace => vec![name, json!(s(obj, "/status/phase")), created],
            P::Node => node_row(obj, now),
            P::Event => event_row(obj, now),
            P::Secret => vec![name, json!(s(obj, "/type")), json!(count(obj, "/data")), created],
            P::ConfigMap => vec![name, json!(count(obj, "/data") + count(obj, "/binaryData")), created],
            P::ServiceAccount => vec![name, json!(count(obj, "/secrets")), created],
            P::Pod => pod_row(obj, now),
            P::Deployment => deployment_row(obj, now),
            P::StatefulSet => {
                let int = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
                let (names, images) = containers(obj);
                vec![
                    name,
                    json!(format!("{}/{}", int("/status/readyReplicas"), int("/spec/replicas"))),
                    created,
                    json!(names),
                    json!(images),
                ]
            }
            P::DaemonSet => {
                let int = |p: &str| json!(obj.pointer(p).and_then(Value::as_i64).unwrap_or(0));
                let (names, images) = containers(obj);
                let selector = obj
                    .pointer("/spec/template/spec/nodeSelector")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "<none>".into());
                vec![
                    name,
                    int("/status/desiredNumberScheduled"),
                    int("/status/currentNumberScheduled"),
                    int("/status/numberReady"),
                    int("/status/updatedNumberScheduled"),
                    int("/status/numberAvailable"),
                    json!(selector),
                    created,
                    json!(names),
                    json!(images),
                ]
            }
            P::ClusterRole | P::CustomResourceDefinition => vec![name, json!(s(obj, "/metadata/creationTimestamp"))],
            P::ClusterRoleBinding => binding_row(obj, now),
            P::NameOnly => vec![name, created],
        },
    }
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

fn row(rt: &ResourceType, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
    let mut row = json!({"cells": cells(rt, obj, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(obj),
        IncludeObject::Object => row["object"] = obj.clone(),
    }
    row
}

/// A Table of objects.
pub fn table(rt: &ResourceType, objects: &[Value], list_meta: Value, include: IncludeObject, now: Timestamp) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns(rt),
        "rows": objects.iter().map(|o| row(rt, o, include, now)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Registry;

    #[test]
    fn crd_columns_use_jsonpath_and_ages() {
        let crd = json!({"metadata": {"name": "kustomizations.kustomize.toolkit.fluxcd.io"}, "spec": {
            "group": "kustomize.toolkit.fluxcd.io", "names": {"kind": "Kustomization", "plural": "kustomizations"},
            "versions": [{"name": "v1", "additionalPrinterColumns": [
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}]}]}});
        let registry = Registry::new([&crd]);
        let ks = registry.lookup("kustomize.toolkit.fluxcd.io", "v1", "kustomizations").unwrap();
        let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        let obj = json!({"metadata": {"name": "policies", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"conditions": [{"type": "Reconciling", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(cells(ks, &obj, now), vec![json!("policies"), json!("60m"), json!("True")]);
        let t = table(ks, &[obj], json!({}), IncludeObject::Metadata, now);
        assert_eq!(t["columnDefinitions"][0]["name"], "Name");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }

    #[test]
    fn node_rows_show_status_roles_and_version() {
        let registry = Registry::new([]);
        let nodes = registry.lookup("", "v1", "nodes").unwrap();
        let now: Timestamp = "2026-01-01T00:00:30Z".parse().unwrap();
        let node = json!({"metadata": {"name": "n1", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "False"}], "nodeInfo": {"kubeletVersion": "v1.33.4"}}});
        let row = cells(nodes, &node, now);
        assert_eq!(
            &row[..5],
            &[json!("n1"), json!("NotReady"), json!("control-plane"), json!("30s"), json!("v1.33.4")]
        );
    }
}
