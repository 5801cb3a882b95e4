//! Field paths and `metadata.managedFields`: which field manager owns which fields.
//!
//! A field set is a set of paths. A path element is written as the API server writes it
//! in `fieldsV1`: `f:<field>` for a map key, `k:<json>` for an element of a list keyed by
//! its merge key, `v:<json>` for an element of a set-like list, and `.` for membership of
//! the element itself. Lists with no known key are atomic: the list is one leaf.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

pub type FieldPath = Vec<String>;
pub type FieldSet = BTreeSet<FieldPath>;

/// How a list field merges (strategic merge patch and server-side apply agree on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Elements are keyed by this field.
    Map(&'static str),
    /// A list of scalars merged as a set.
    Set,
    /// Replaced whole.
    Atomic,
}

/// The list semantics of the built-in kinds' fields, as their Go struct tags declare.
pub fn list_type(field: &str) -> ListType {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "env"
        | "secrets" => ListType::Map("name"),
        "volumeMounts" => ListType::Map("mountPath"),
        "ports" => ListType::Map("containerPort"),
        "conditions" | "addresses" => ListType::Map("type"),
        "ownerReferences" => ListType::Map("uid"),
        "finalizers" => ListType::Set,
        _ => ListType::Atomic,
    }
}

/// Fields the server sets: never owned by a manager.
fn server_owned(path: &[String]) -> bool {
    match path {
        [f] => f == "f:apiVersion" || f == "f:kind",
        [m, f, ..] if m == "f:metadata" => matches!(
            f.as_str(),
            "f:name"
                | "f:namespace"
                | "f:uid"
                | "f:resourceVersion"
                | "f:generation"
                | "f:creationTimestamp"
                | "f:managedFields"
                | "f:selfLink"
                | "f:deletionTimestamp"
                | "f:deletionGracePeriodSeconds"
        ),
        _ => false,
    }
}

/// The `k:` element of a keyed list item.
pub fn key_element(key: &str, item: &Value) -> Option<String> {
    let k = item.get(key)?;
    Some(format!("k:{}", json!({ key: k })))
}

fn walk(value: &Value, prefix: &mut FieldPath, field: Option<&str>, out: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                prefix.push(format!("f:{k}"));
                walk(v, prefix, Some(k), out);
                prefix.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => match field.map(list_type).unwrap_or(ListType::Atomic) {
            ListType::Map(key) if items.iter().all(|i| i.get(key).is_some()) => {
                for item in items {
                    if let Some(elem) = key_element(key, item) {
                        prefix.push(elem);
                        let mut member = prefix.clone();
                        member.push(".".to_owned());
                        out.insert(member);
                        walk(item, prefix, None, out);
                        prefix.pop();
                    }
                }
            }
            ListType::Set => {
                for item in items {
                    let mut p = prefix.clone();
                    p.push(format!("v:{item}"));
                    out.insert(p);
                }
            }
            _ => {
                out.insert(prefix.clone());
            }
        },
        _ => {
            out.insert(prefix.clone());
        }
    }
}

/// Every leaf path of an object, excluding server-owned fields (and, with
/// `skip_status`, the status).
pub fn leaf_paths(object: &Value, skip_status: bool) -> FieldSet {
    let mut out = FieldSet::new();
    walk(object, &mut Vec::new(), None, &mut out);
    let is_status = |p: &FieldPath| p.first().is_some_and(|f| f == "f:status");
    out.retain(|p| !(server_owned(p) || (skip_status && is_status(p))));
    out
}

/// The value at a path, if present.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = object;
    for elem in path {
        if elem == "." {
            return Some(cur);
        }
        cur = step(cur, elem)?;
    }
    Some(cur)
}

fn step<'a>(cur: &'a Value, elem: &str) -> Option<&'a Value> {
    if let Some(f) = elem.strip_prefix("f:") {
        return cur.get(f);
    }
    if let Some(k) = elem.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(k).ok()?;
        return cur.as_array()?.iter().find(|item| key.iter().all(|(kk, kv)| item.get(kk) == Some(kv)));
    }
    if let Some(v) = elem.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return cur.as_array()?.iter().find(|item| **item == want);
    }
    None
}

/// Removes the field at a path (a keyed element when the path ends in its `.`).
pub fn remove_at(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let (last, parents) = if last == "." {
        match parents.split_last() {
            Some((elem, rest)) => (elem, rest),
            None => return,
        }
    } else {
        (last, parents)
    };
    let mut cur = object;
    for elem in parents {
        let next = if let Some(f) = elem.strip_prefix("f:") {
            cur.get_mut(f)
        } else if elem.starts_with("k:") || elem.starts_with("v:") {
            let idx = index_of(cur, elem);
            match (idx, cur.as_array_mut()) {
                (Some(i), Some(items)) => items.get_mut(i),
                _ => None,
            }
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(map) = cur.as_object_mut() {
            map.remove(f);
        }
    } else if let Some(i) = index_of(cur, last)
        && let Some(items) = cur.as_array_mut()
    {
        items.remove(i);
    }
}

fn index_of(list: &Value, elem: &str) -> Option<usize> {
    let items = list.as_array()?;
    if let Some(k) = elem.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(k).ok()?;
        return items.iter().position(|item| key.iter().all(|(kk, kv)| item.get(kk) == Some(kv)));
    }
    let want: Value = serde_json::from_str(elem.strip_prefix("v:")?).ok()?;
    items.iter().position(|item| *item == want)
}

/// Leaf paths whose value differs between two versions of an object: those set or
/// changed in `new`, and those present in `old` only.
pub fn changed_paths(old: &Value, new: &Value, skip_status: bool) -> (FieldSet, FieldSet) {
    let old_paths = leaf_paths(old, skip_status);
    let new_paths = leaf_paths(new, skip_status);
    let changed = new_paths
        .iter()
        .filter(|p| p.last().is_some_and(|l| l == ".") || value_at(old, p) != value_at(new, p))
        .filter(|p| !(p.last().is_some_and(|l| l == ".") && old_paths.contains(*p)))
        .cloned()
        .collect();
    let removed = old_paths.difference(&new_paths).cloned().collect();
    (changed, removed)
}

/// A path in the notation of apply conflicts: `.spec.containers[name="web"].image`.
pub fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for elem in path {
        if let Some(f) = elem.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = elem.strip_prefix("k:") {
            if let Ok(Value::Object(key)) = serde_json::from_str::<Value>(k) {
                let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
        } else if let Some(v) = elem.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        }
    }
    out
}

/// Encodes a field set as a `fieldsV1` tree.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for elem in path {
            let entry = cur.entry(elem.clone()).or_insert_with(|| Value::Object(Map::new()));
            cur = match entry {
                Value::Object(m) => m,
                _ => unreachable!("fieldsV1 nodes are objects"),
            };
        }
    }
    Value::Object(root)
}

/// Decodes a `fieldsV1` tree into a field set.
pub fn from_fields_v1(tree: &Value) -> FieldSet {
    fn go(node: &Map<String, Value>, prefix: &mut FieldPath, out: &mut FieldSet) {
        for (k, v) in node {
            prefix.push(k.clone());
            match v.as_object() {
                Some(child) if !child.is_empty() => go(child, prefix, out),
                _ => {
                    out.insert(prefix.clone());
                }
            }
            prefix.pop();
        }
    }
    let mut out = FieldSet::new();
    if let Some(map) = tree.as_object() {
        go(map, &mut Vec::new(), &mut out);
    }
    out
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: String,
    pub fields: FieldSet,
}

pub fn read_managed(object: &Value) -> Vec<ManagedEntry> {
    let text = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| ManagedEntry {
                    manager: text(e, "manager"),
                    operation: text(e, "operation"),
                    api_version: text(e, "apiVersion"),
                    time: text(e, "time"),
                    subresource: text(e, "subresource"),
                    fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn write_managed(object: &mut Value, entries: &[ManagedEntry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Records a non-apply write (create, update, patch) by `manager`: it takes ownership of
/// what it changed; fields it removed are owned by nobody.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: &str,
    time: &str,
) {
    let status_only = subresource == "status";
    let mut entries = old.map(read_managed).unwrap_or_default();
    let (changed, removed) = match old {
        Some(old) => changed_paths(old, new, false),
        None => (leaf_paths(new, false), FieldSet::new()),
    };
    let changed: FieldSet =
        changed.into_iter().filter(|p| status_only == p.first().is_some_and(|f| f == "f:status")).collect();
    for entry in &mut entries {
        entry.fields.retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.manager == manager && e.operation == "Update" && e.subresource == subresource)
        {
            Some(entry) => {
                entry.fields.extend(changed);
                entry.time = time.to_owned();
                entry.api_version = api_version.to_owned();
            }
            None => entries.push(ManagedEntry {
                manager: manager.to_owned(),
                operation: "Update".to_owned(),
                api_version: api_version.to_owned(),
                time: time.to_owned(),
                subresource: subresource.to_owned(),
                fields: changed,
            }),
        }
    }
    write_managed(new, &entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(elems: &[&str]) -> FieldPath {
        elems.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn leaf_paths_follow_list_semantics() {
        let obj = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "x", "labels": {"app": "web"}, "finalizers": ["a"]},
            "spec": {"containers": [{"name": "web", "image": "nginx"}], "tolerations": [{"key": "k"}]}
        });
        let set = leaf_paths(&obj, false);
        assert!(set.contains(&p(&["f:metadata", "f:labels", "f:app"])));
        assert!(set.contains(&p(&["f:metadata", "f:finalizers", "v:\"a\""])));
        assert!(set.contains(&p(&["f:spec", "f:containers", "k:{\"name\":\"web\"}", "."])));
        assert!(set.contains(&p(&["f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"])));
        assert!(set.contains(&p(&["f:spec", "f:tolerations"])), "atomic list is one leaf");
        assert!(!set.iter().any(|p| p.contains(&"f:name".to_owned()) && p.len() == 2), "metadata.name is server owned");
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
    }

    #[test]
    fn updates_move_ownership_to_the_writer() {
        let mut v1 = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        record_update(None, &mut v1, "creator", "v1", "", "t0");
        let mut v2 = v1.clone();
        v2["data"]["a"] = json!("changed");
        v2["data"].as_object_mut().unwrap().remove("b");
        record_update(Some(&v1), &mut v2, "editor", "v1", "", "t1");
        let entries = read_managed(&v2);
        let creator = entries.iter().find(|e| e.manager == "creator");
        assert!(creator.is_none(), "creator lost both of its fields: {entries:?}");
        let editor = entries.iter().find(|e| e.manager == "editor").unwrap();
        assert_eq!(editor.fields, FieldSet::from([p(&["f:data", "f:a"])]));
    }

    #[test]
    fn paths_display_and_remove() {
        let mut obj = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}});
        let path = p(&["f:spec", "f:containers", "k:{\"name\":\"a\"}", "f:image"]);
        assert_eq!(display_path(&path), ".spec.containers[name=\"a\"].image");
        assert_eq!(value_at(&obj, &path), Some(&json!("x")));
        remove_at(&mut obj, &path);
        assert_eq!(obj["spec"]["containers"][0], json!({"name": "a"}));
        remove_at(&mut obj, &p(&["f:spec", "f:containers", "k:{\"name\":\"b\"}", "."]));
        assert_eq!(obj["spec"]["containers"].as_array().unwrap().len(), 1);
    }
}
