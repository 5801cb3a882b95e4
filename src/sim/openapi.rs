//! OpenAPI documents for the served kinds: `/openapi/v3` (an index, then one document per
//! group/version, which `kubectl explain` and kubectl's field-validation check read) and
//! `/openapi/v2` (one Swagger document).
//!
//! A document depends only on the kinds served, so it is built once per distinct set of
//! kinds and shared by every cluster serving that set.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use super::pki::hex;
use super::resource::{Registry, ResourceType};
use super::schema::{BUILTIN_COMPONENTS, OBJECT_META, definition_name, root_schema};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

fn gvk(rt: &ResourceType) -> Value {
    json!({"group": rt.group, "version": rt.version, "kind": rt.kind})
}

fn query_param(name: &str, description: &str, v2: bool) -> Value {
    if v2 {
        json!({"name": name, "in": "query", "description": description, "type": "string", "uniqueItems": true})
    } else {
        json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
    }
}

fn write_params(v2: bool, patch: bool) -> Vec<Value> {
    let mut params = vec![
        query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
            v2,
        ),
        query_param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
            v2,
        ),
        query_param(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
            v2,
        ),
    ];
    if patch {
        params.push(query_param("force", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people.", v2));
    }
    params
}

fn list_params(v2: bool) -> Vec<Value> {
    [
        ("allowWatchBookmarks", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
        ("continue", "The continue option should be set when retrieving more results from the server."),
        ("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
        ("labelSelector", "A selector to restrict the list of returned objects by their labels."),
        ("limit", "limit is a maximum number of responses to return for a list call."),
        ("resourceVersion", "resourceVersion sets a constraint on what resource versions a request may be served from."),
        ("resourceVersionMatch", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
        ("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`."),
        ("timeoutSeconds", "Timeout for the list/watch call."),
        ("watch", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
    ]
    .iter()
    .map(|(n, d)| query_param(n, d, v2))
    .collect()
}

fn schema_ref(name: &str, v2: bool) -> Value {
    if v2 {
        json!({"$ref": format!("#/definitions/{name}")})
    } else {
        json!({"$ref": format!("#/components/schemas/{name}")})
    }
}

fn op(rt: &ResourceType, action: &str, id: String, params: Vec<Value>, response: &str, v2: bool) -> Value {
    let ok = if v2 {
        json!({"description": "OK", "schema": schema_ref(response, true)})
    } else {
        json!({"description": "OK", "content": {"application/json": {"schema": schema_ref(response, false)}}})
    };
    json!({
        "description": format!("{action} {}", rt.kind),
        "operationId": id,
        "parameters": params,
        "responses": {"200": ok, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(rt),
    })
}

fn paths_for(rt: &ResourceType, v2: bool) -> Vec<(String, Value)> {
    let prefix =
        if rt.group.is_empty() { format!("/api/{}", rt.version) } else { format!("/apis/{}/{}", rt.group, rt.version) };
    let scope = if rt.namespaced { "/namespaces/{namespace}" } else { "" };
    let collection = format!("{prefix}{scope}/{}", rt.plural);
    let item = format!("{collection}/{{name}}");
    let def = definition_name(rt);
    let list_def = format!("{def}List");
    let id = |verb: &str| format!("{verb}{}", rt.kind);
    let mut out = Vec::new();
    if rt.virtual_only {
        let post = op(rt, "post", id("create"), write_params(v2, false), &def, v2);
        out.push((collection, json!({"post": post})));
        return out;
    }
    let list_op = op(rt, "list", id("list"), list_params(v2), &list_def, v2);
    let create_op = op(rt, "post", id("create"), write_params(v2, false), &def, v2);
    let delete_collection =
        op(rt, "deletecollection", id("deleteCollection"), list_params(v2), &format!("{META}.Status"), v2);
    out.push((collection, json!({"get": list_op, "post": create_op, "delete": delete_collection})));
    let mut item_ops = json!({
        "get": op(rt, "get", id("read"), vec![], &def, v2),
        "put": op(rt, "put", id("replace"), write_params(v2, false), &def, v2),
        "patch": op(rt, "patch", id("patch"), write_params(v2, true), &def, v2),
        "delete": op(rt, "delete", id("delete"), write_params(v2, false), &format!("{META}.Status"), v2),
    });
    item_ops["patch"]["requestBody"] = json!({"content": {
        "application/apply-patch+yaml": {"schema": schema_ref(&format!("{META}.Patch"), v2)},
        "application/json-patch+json": {"schema": schema_ref(&format!("{META}.Patch"), v2)},
        "application/merge-patch+json": {"schema": schema_ref(&format!("{META}.Patch"), v2)},
        "application/strategic-merge-patch+json": {"schema": schema_ref(&format!("{META}.Patch"), v2)},
    }});
    if v2 && let Some(p) = item_ops.get_mut("patch").and_then(Value::as_object_mut) {
        p.remove("requestBody");
    }
    out.push((item.clone(), item_ops));
    if rt.status_subresource {
        out.push((
            format!("{item}/status"),
            json!({
                "get": op(rt, "get", id("read") + "Status", vec![], &def, v2),
                "put": op(rt, "put", id("replace") + "Status", write_params(v2, false), &def, v2),
                "patch": op(rt, "patch", id("patch") + "Status", write_params(v2, true), &def, v2),
            }),
        ));
    }
    out
}

/// The schema of a kind as published: GVK extension, and `metadata` as ObjectMeta.
fn published_schema(rt: &ResourceType) -> Option<Value> {
    let mut schema = root_schema(rt)?.clone();
    schema["x-kubernetes-group-version-kind"] = json!([gvk(rt)]);
    if !rt.is_builtin()
        && let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut)
    {
        props.insert(
            "metadata".into(),
            json!({"description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", "allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}]}),
        );
    }
    Some(schema)
}

fn list_schema(rt: &ResourceType) -> Value {
    json!({
        "description": format!("{} is a list of {}", rt.list_kind, rt.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{}", definition_name(rt))}},
            "metadata": {"allOf": [{"$ref": format!("#/components/schemas/{META}.ListMeta")}]},
        },
        "x-kubernetes-group-version-kind": [{"group": rt.group, "version": rt.version, "kind": rt.list_kind}],
    })
}

/// Adds every definition referenced (transitively) from `value`.
fn collect_refs(value: &Value, out: &mut Map<String, Value>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next())
                && !out.contains_key(name)
                && let Some(def) = BUILTIN_COMPONENTS.get(name)
            {
                out.insert(name.to_owned(), def.clone());
                collect_refs(def, out);
            }
            for v in map.values() {
                collect_refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn components_for(types: &[&Arc<ResourceType>]) -> Map<String, Value> {
    let mut schemas = Map::new();
    for rt in types {
        if let Some(schema) = published_schema(rt) {
            schemas.insert(definition_name(rt), schema);
        }
        if !rt.virtual_only {
            schemas.insert(format!("{}List", definition_name(rt)), list_schema(rt));
        }
    }
    for extra in ["Status", "ListMeta", "Patch", "DeleteOptions"] {
        let name = format!("{META}.{extra}");
        let def = BUILTIN_COMPONENTS.get(&name).cloned().unwrap_or_else(|| json!({"type": "object"}));
        schemas.insert(name, def);
    }
    let mut referenced = Map::new();
    collect_refs(&Value::Object(schemas.clone()), &mut referenced);
    for (k, v) in referenced {
        schemas.entry(k).or_insert(v);
    }
    schemas
}

type DocKey = (String, String, Vec<usize>);

static DOCS: LazyLock<Mutex<HashMap<DocKey, Bytes>>> = LazyLock::new(Default::default);

fn types_of<'a>(registry: &'a Registry, group: &str, version: &str) -> Vec<&'a Arc<ResourceType>> {
    registry.all().iter().filter(|t| t.group == group && t.version == version).collect()
}

fn cache_key(kind: &str, group: &str, version: &str, types: &[&Arc<ResourceType>]) -> DocKey {
    (kind.to_owned(), format!("{group}/{version}"), types.iter().map(|t| Arc::as_ptr(t) as usize).collect())
}

/// `/openapi/v3/<api/v1|apis/g/v>`: `None` when the group/version is not served.
pub fn v3_document(registry: &Registry, group: &str, version: &str, git_version: &str) -> Option<Bytes> {
    let types = types_of(registry, group, version);
    if types.is_empty() {
        return None;
    }
    let key = cache_key("v3", group, version, &types);
    let mut docs = DOCS.lock().unwrap_or_else(|e| e.into_inner());
    let doc = docs.entry(key).or_insert_with(|| {
        let mut paths = Map::new();
        for rt in &types {
            for (path, item) in paths_for(rt, false) {
                paths.insert(path, item);
            }
        }
        let doc = json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": git_version},
            "paths": paths,
            "components": {"schemas": components_for(&types)},
        });
        Bytes::from(doc.to_string())
    });
    Some(doc.clone())
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// `/openapi/v3`: the index of group/version documents, each with a content hash.
pub fn v3_index(registry: &Registry, git_version: &str) -> Value {
    let mut paths = Map::new();
    for (group, version) in registry.group_versions() {
        if let Some(doc) = v3_document(registry, &group, &version, git_version) {
            let hash = hex(&Sha512::digest(&doc)[..32]).to_uppercase();
            let path = gv_path(&group, &version);
            paths.insert(path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}));
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v2`: one Swagger 2.0 document of every served kind.
pub fn v2_document(registry: &Registry, git_version: &str) -> Bytes {
    let all: Vec<&Arc<ResourceType>> = registry.all().iter().collect();
    let key = cache_key("v2", "", "", &all);
    let mut docs = DOCS.lock().unwrap_or_else(|e| e.into_inner());
    docs.entry(key)
        .or_insert_with(|| {
            let mut paths = Map::new();
            for rt in &all {
                for (path, item) in paths_for(rt, true) {
                    paths.insert(path, item);
                }
            }
            let definitions =
                Value::Object(components_for(&all)).to_string().replace("#/components/schemas/", "#/definitions/");
            let definitions: Value = serde_json::from_str(&definitions).unwrap_or_else(|_| json!({}));
            let doc = json!({
                "swagger": "2.0",
                "info": {"title": "Kubernetes", "version": git_version},
                "paths": paths,
                "definitions": definitions,
            });
            Bytes::from(doc.to_string())
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operations_declare_field_validation() {
        let registry = Registry::new([]);
        let doc: Value = serde_json::from_slice(&v3_document(&registry, "", "v1", "v1.33.4").unwrap()).unwrap();
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "ConfigMap");
        let params: Vec<&str> =
            patch["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert!(params.contains(&"fieldValidation") && params.contains(&"dryRun"));
        let cm = &doc["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"];
        assert_eq!(cm["x-kubernetes-group-version-kind"][0]["kind"], "ConfigMap");
        let index = v3_index(&registry, "v1.33.4");
        assert!(
            index["paths"]["api/v1"]["serverRelativeURL"].as_str().unwrap().starts_with("/openapi/v3/api/v1?hash=")
        );
        assert!(v3_document(&registry, "velero.io", "v1", "x").is_none());
    }

    #[test]
    fn v2_uses_definitions() {
        let registry = Registry::new([]);
        let doc = v2_document(&registry, "v1.33.4");
        let text = std::str::from_utf8(&doc).unwrap();
        assert!(!text.contains("#/components/schemas/"));
        let v: Value = serde_json::from_slice(&doc).unwrap();
        assert!(v["definitions"]["io.k8s.api.core.v1.Node"].is_object());
    }
}
