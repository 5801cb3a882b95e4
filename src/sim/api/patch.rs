//! The patch types of a PATCH request: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and strategic merge patch (Kubernetes' list-aware merge for built-in kinds).
//! Server-side apply is in `apply.rs`.

use serde_json::{Map, Value};

use super::fields::{ListType, list_type};
use crate::status::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let ct = content_type.split(';').next().unwrap_or_default().trim();
        match ct {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies a merge, JSON or strategic patch to a copy of `original`.
pub fn apply_patch(original: &Value, kind: PatchType, patch: &Value) -> ApiResult<Value> {
    let mut target = original.clone();
    match kind {
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal into Go value: a merge patch must be a JSON object",
                ));
            }
            json_patch::merge(&mut target, patch);
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
                ApiError::bad_request(format!("the server rejected our request due to an error in our request: {e}"))
            })?;
            json_patch::patch(&mut target, &ops).map_err(|e| match e.kind {
                json_patch::PatchErrorKind::TestFailed => ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                ),
                _ => ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                ),
            })?;
        }
        PatchType::Strategic => {
            let Value::Object(p) = patch else {
                return Err(ApiError::bad_request(
                    "unable to find api field in struct for the patch: a strategic merge patch must be a JSON object",
                ));
            };
            strategic_map(&mut target, p).map_err(ApiError::bad_request)?;
        }
        PatchType::Apply => unreachable!("server-side apply is handled by apply.rs"),
    }
    Ok(target)
}

/// Removes the directives (`$patch`, `$retainKeys`, `$setElementOrder/...`,
/// `$deleteFromPrimitiveList/...`) from a value that is added as is.
fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip_directives(v))).collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| !matches!(i.get("$patch").and_then(Value::as_str), Some("delete") | Some("replace")))
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn strategic_map(target: &mut Value, patch: &Map<String, Value>) -> Result<(), String> {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = strip_directives(&Value::Object(patch.clone()));
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("Unknown patch type: {other}")),
    }
    let Some(obj) = target.as_object_mut() else { return Ok(()) };
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (obj.get_mut(field), value.as_array()) {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                obj.remove(key);
            }
            Value::Object(child) => {
                if child.get("$patch").and_then(Value::as_str) == Some("delete") {
                    obj.remove(key);
                    continue;
                }
                let entry = obj.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
                strategic_map(entry, child)?;
            }
            Value::Array(items) => {
                let merged = match obj.get(key) {
                    Some(Value::Array(existing)) => merge_list(existing, items, list_type(key))?,
                    _ => match strip_directives(value) {
                        Value::Array(a) => a,
                        _ => Vec::new(),
                    },
                };
                obj.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                obj.insert(key.clone(), scalar.clone());
            }
        }
    }
    if let Some(retain) = patch.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        obj.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_list(existing: &[Value], patch: &[Value], kind: ListType) -> Result<Vec<Value>, String> {
    if patch.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
        return Ok(patch.iter().filter(|i| i.get("$patch").is_none()).map(strip_directives).collect());
    }
    match kind {
        ListType::Atomic => Ok(patch.iter().map(strip_directives).collect()),
        ListType::Set => {
            let mut out = existing.to_vec();
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(out)
        }
        ListType::Map(key) => {
            let mut out = existing.to_vec();
            for item in patch {
                let Some(Value::Object(item_map)) = Some(item) else {
                    return Err(format!("list items must be objects keyed by {key}"));
                };
                let Some(k) = item_map.get(key) else {
                    return Err(format!("map: {item} does not contain declared merge key: {key}"));
                };
                let pos = out.iter().position(|e| e.get(key) == Some(k));
                match (item_map.get("$patch").and_then(Value::as_str), pos) {
                    (Some("delete"), Some(p)) => {
                        out.remove(p);
                    }
                    (Some("delete"), None) => {}
                    (_, Some(p)) => strategic_map(&mut out[p], item_map)?,
                    (_, None) => out.push(strip_directives(item)),
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_removes() {
        let orig = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "y"}});
        let out =
            apply_patch(&orig, PatchType::Merge, &json!({"metadata": {"labels": {"a": null, "c": "3"}}})).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(out["data"], orig["data"]);
    }

    #[test]
    fn json_patch_ops_and_failed_test() {
        let orig = json!({"spec": {"suspend": false}});
        let out =
            apply_patch(&orig, PatchType::Json, &json!([{"op": "replace", "path": "/spec/suspend", "value": true}]))
                .unwrap();
        assert_eq!(out["spec"]["suspend"], json!(true));
        let err = apply_patch(&orig, PatchType::Json, &json!([{"op": "test", "path": "/spec/suspend", "value": true}]))
            .unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(apply_patch(&orig, PatchType::Json, &json!({"op": "x"})).unwrap_err().code, 400);
    }

    #[test]
    fn strategic_merge_merges_keyed_lists() {
        let orig = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]}, {"name": "sidecar", "image": "s:1"}],
            "tolerations": [{"key": "a"}]
        }}}, "metadata": {"finalizers": ["x"]}});
        let patch = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "web", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}, {"name": "sidecar", "$patch": "delete"}],
            "tolerations": [{"key": "b"}]
        }}}, "metadata": {"finalizers": ["y"]}});
        let out = apply_patch(&orig, PatchType::Strategic, &patch).unwrap();
        let spec = &out["spec"]["template"]["spec"];
        assert_eq!(spec["containers"].as_array().unwrap().len(), 1);
        assert_eq!(spec["containers"][0]["image"], "nginx:2");
        assert_eq!(spec["containers"][0]["env"], json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]));
        assert_eq!(spec["tolerations"], json!([{"key": "b"}]), "lists without a merge key are replaced");
        assert_eq!(out["metadata"]["finalizers"], json!(["x", "y"]));
    }

    #[test]
    fn strategic_merge_directives() {
        let orig = json!({"metadata": {"finalizers": ["a", "b"]}, "data": {"k": "v", "j": "w"}});
        let patch = json!({"$deleteFromPrimitiveList/finalizers": ["a"], "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}, "data": {"$patch": "replace", "z": "1"}});
        let out = apply_patch(&orig, PatchType::Strategic, &patch).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        assert_eq!(out["data"], json!({"z": "1"}));
    }
}
