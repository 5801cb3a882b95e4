//! Server-side apply: a field manager declares the fields it wants; the server merges
//! them, reports conflicts with fields other managers own (unless forced), and removes
//! fields the manager applied before and no longer declares, if nobody else owns them.

use serde_json::Value;

use super::fields::{
    FieldSet, ListType, ManagedEntry, display_path, key_element, leaf_paths, list_type, read_managed, remove_at,
    value_at, write_managed,
};

/// One apply request.
pub struct ApplyRequest<'a> {
    pub config: &'a Value,
    pub manager: &'a str,
    pub force: bool,
    pub api_version: &'a str,
    pub time: &'a str,
    /// "" for the main resource, "status" for the status subresource.
    pub subresource: &'a str,
    /// The kind has a status subresource: the main resource ignores `.status`.
    pub status_subresource: bool,
}

/// The result: the merged object, or the conflicts as (manager, field) pairs.
pub fn server_side_apply(live: Option<&Value>, req: &ApplyRequest<'_>) -> Result<Value, Vec<(String, String)>> {
    let only_status = req.subresource == "status";
    let skip_status = req.status_subresource && !only_status;
    let applied: FieldSet = leaf_paths(req.config, skip_status)
        .into_iter()
        .filter(|p| !only_status || p.first().is_some_and(|f| f == "f:status"))
        .collect();
    let mut entries: Vec<ManagedEntry> = live.map(read_managed).unwrap_or_default();
    let is_mine = |e: &ManagedEntry| e.manager == req.manager && e.subresource == req.subresource;

    if let Some(live) = live {
        let mut conflicts = Vec::new();
        for path in &applied {
            let differs = match value_at(live, path) {
                Some(current) => path.last().is_some_and(|l| l != ".") && Some(current) != value_at(req.config, path),
                None => false,
            };
            if !differs {
                continue;
            }
            for entry in entries.iter().filter(|e| !is_mine(e) && e.fields.contains(path)) {
                conflicts.push((entry.manager.clone(), display_path(path)));
            }
        }
        if !conflicts.is_empty() && !req.force {
            return Err(conflicts);
        }
        if req.force {
            for entry in entries.iter_mut().filter(|e| !is_mine(e)) {
                entry.fields.retain(|p| !applied.contains(p));
            }
        }
    }

    let mut merged = match live {
        Some(live) => live.clone(),
        None => Value::Object(Default::default()),
    };
    let mut config = req.config.clone();
    if skip_status && let Some(map) = config.as_object_mut() {
        map.remove("status");
    }
    if only_status && let Some(map) = config.as_object_mut() {
        map.retain(|k, _| k == "status" || k == "apiVersion" || k == "kind" || k == "metadata");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| k == "name" || k == "namespace");
        }
    }
    merge(&mut merged, &config, None);

    let previous: FieldSet =
        entries.iter().find(|e| is_mine(e) && e.operation == "Apply").map(|e| e.fields.clone()).unwrap_or_default();
    for stale in previous.difference(&applied) {
        let owned_elsewhere =
            entries.iter().any(|e| !(is_mine(e) && e.operation == "Apply") && e.fields.contains(stale));
        if !owned_elsewhere {
            remove_at(&mut merged, stale);
        }
    }

    entries.retain(|e| !(is_mine(e) && e.operation == "Apply"));
    entries.push(ManagedEntry {
        manager: req.manager.to_owned(),
        operation: "Apply".to_owned(),
        api_version: req.api_version.to_owned(),
        time: req.time.to_owned(),
        subresource: req.subresource.to_owned(),
        fields: applied,
    });
    write_managed(&mut merged, &entries);
    Ok(merged)
}

/// Merges an apply configuration into the live object: maps recursively, keyed lists by
/// key, set lists as a union, anything else replaced.
fn merge(live: &mut Value, config: &Value, field: Option<&str>) {
    if let (Some(live_map), Value::Object(cfg)) = (live.as_object_mut(), config) {
        for (k, v) in cfg {
            if k == "managedFields" {
                continue;
            }
            match live_map.get_mut(k) {
                Some(existing) if !v.is_null() => merge(existing, v, Some(k)),
                _ if v.is_null() => {
                    live_map.remove(k);
                }
                _ => {
                    live_map.insert(k.clone(), v.clone());
                }
            }
        }
        return;
    }
    if let (Some(items), Value::Array(cfg_items)) = (live.as_array_mut(), config) {
        match field.map(list_type).unwrap_or(ListType::Atomic) {
            ListType::Map(key) if cfg_items.iter().all(|i| i.get(key).is_some()) => {
                for item in cfg_items {
                    let elem = key_element(key, item);
                    match items.iter_mut().find(|e| key_element(key, e) == elem) {
                        Some(existing) => merge(existing, item, None),
                        None => items.push(item.clone()),
                    }
                }
                return;
            }
            ListType::Set => {
                for item in cfg_items {
                    if !items.contains(item) {
                        items.push(item.clone());
                    }
                }
                return;
            }
            _ => {}
        }
    }
    *live = config.clone();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req<'a>(config: &'a Value, manager: &'a str, force: bool) -> ApplyRequest<'a> {
        ApplyRequest {
            config,
            manager,
            force,
            api_version: "v1",
            time: "2026-01-01T00:00:00Z",
            subresource: "",
            status_subresource: false,
        }
    }

    #[test]
    fn apply_creates_merges_and_conflicts() {
        let a =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1", "y": "2"}});
        let obj = server_side_apply(None, &req(&a, "alice", false)).unwrap();
        assert_eq!(obj["data"], json!({"x": "1", "y": "2"}));
        assert_eq!(obj["metadata"]["managedFields"][0]["manager"], "alice");
        assert_eq!(obj["metadata"]["managedFields"][0]["operation"], "Apply");

        let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "changed"}});
        let conflicts = server_side_apply(Some(&obj), &req(&b, "bob", false)).unwrap_err();
        assert_eq!(conflicts, vec![("alice".to_owned(), ".data.x".to_owned())]);

        let same =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1", "z": "3"}});
        let shared = server_side_apply(Some(&obj), &req(&same, "bob", false)).expect("same value is no conflict");
        assert_eq!(shared["data"], json!({"x": "1", "y": "2", "z": "3"}));

        let forced = server_side_apply(Some(&obj), &req(&b, "bob", true)).unwrap();
        assert_eq!(forced["data"]["x"], "changed");
        let managers: Vec<&str> = forced["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, vec!["alice", "bob"]);
    }

    #[test]
    fn fields_no_longer_applied_are_removed() {
        let first = json!({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}});
        let obj = server_side_apply(None, &req(&first, "m", false)).unwrap();
        let second = json!({"metadata": {"name": "c", "labels": {"a": "1"}}});
        let obj = server_side_apply(Some(&obj), &req(&second, "m", false)).unwrap();
        assert_eq!(obj["metadata"]["labels"], json!({"a": "1"}));
    }

    #[test]
    fn keyed_lists_merge_by_key() {
        let live = json!({"spec": {"containers": [{"name": "a", "image": "1"}]}});
        let cfg = json!({"spec": {"containers": [{"name": "b", "image": "2"}]}});
        let obj = server_side_apply(Some(&live), &req(&cfg, "m", false)).unwrap();
        assert_eq!(obj["spec"]["containers"].as_array().unwrap().len(), 2);
    }
}
