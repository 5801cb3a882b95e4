//! API discovery: the legacy documents (`/api`, `/api/v1`, `/apis`, `/apis/<g>`,
//! `/apis/<g>/<v>`) that kube-rs reads, and the aggregated `apidiscovery.k8s.io/v2`
//! documents that kubectl asks for first.

use serde_json::{Value, json};

use super::resource::{Registry, ResourceType};

pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn subresources(rt: &ResourceType) -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let mut out = Vec::new();
    if rt.status_subresource {
        out.push((
            "status",
            json!({"group": rt.group, "version": rt.version, "kind": rt.kind}),
            vec!["get", "patch", "update"],
        ));
    }
    for (name, kind, verbs) in rt.extra_subresources {
        let group = if *kind == "TokenRequest" { "authentication.k8s.io" } else { rt.group.as_str() };
        out.push((*name, json!({"group": group, "version": "v1", "kind": kind}), verbs.to_vec()));
    }
    out
}

fn api_resource(rt: &ResourceType) -> Value {
    let mut r = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": rt.verbs,
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    r
}

/// `/api/v1` or `/apis/<group>/<version>`: `None` when the group/version is not served.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<_> = registry.all().iter().filter(|t| t.group == group && t.version == version).collect();
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for rt in types {
        resources.push(api_resource(rt));
        for (name, kind, verbs) in subresources(rt) {
            let mut sub = json!({"name": format!("{}/{name}", rt.plural), "singularName": "", "namespaced": rt.namespaced, "kind": kind["kind"], "verbs": verbs});
            if kind["group"] != json!(rt.group) {
                sub["group"] = kind["group"].clone();
                sub["version"] = kind["version"].clone();
            }
            resources.push(sub);
        }
    }
    let group_version = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn api_group(registry: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = registry
        .group_versions()
        .into_iter()
        .filter(|(g, _)| g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": versions, "preferredVersion": versions.first().cloned().unwrap_or(Value::Null)})
}

fn groups(registry: &Registry) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (g, _) in registry.group_versions() {
        if !g.is_empty() && !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// `/apis`.
pub fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = groups(registry).iter().map(|g| api_group(registry, g)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`: `None` when the group is not served.
pub fn group(registry: &Registry, group: &str) -> Option<Value> {
    if !groups(registry).iter().any(|g| g == group) {
        return None;
    }
    let mut g = api_group(registry, group);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

fn discovery_resource(rt: &ResourceType) -> Value {
    let mut r = json!({
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": rt.singular,
        "verbs": rt.verbs,
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    let subs: Vec<Value> = subresources(rt)
        .into_iter()
        .map(|(name, kind, verbs)| json!({"subresource": name, "responseKind": kind, "verbs": verbs}))
        .collect();
    if !subs.is_empty() {
        r["subresources"] = Value::Array(subs);
    }
    r
}

/// Aggregated discovery for the core group (`/api`) or every named group (`/apis`).
pub fn aggregated(registry: &Registry, core: bool) -> Value {
    let mut items = Vec::new();
    let names: Vec<String> = if core { vec![String::new()] } else { groups(registry) };
    for group in names {
        let versions: Vec<Value> = registry
            .group_versions()
            .into_iter()
            .filter(|(g, _)| *g == group)
            .map(|(g, v)| {
                let resources: Vec<Value> = registry
                    .all()
                    .iter()
                    .filter(|t| t.group == g && t.version == v)
                    .map(|t| discovery_resource(t))
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        let mut meta = json!({"creationTimestamp": null});
        if !group.is_empty() {
            meta["name"] = json!(group);
        }
        items.push(json!({"metadata": meta, "versions": versions}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_resources_and_subresources_are_listed() {
        let registry = Registry::new([]);
        let list = resource_list(&registry, "", "v1").unwrap();
        let names: Vec<&str> =
            list["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert!(
            names.contains(&"nodes") && names.contains(&"nodes/status") && names.contains(&"serviceaccounts/token")
        );
        assert!(resource_list(&registry, "velero.io", "v1").is_none());
        let apis = group_list(&registry);
        assert!(apis["groups"].as_array().unwrap().iter().any(|g| g["name"] == "apps"));
        let agg = aggregated(&registry, true);
        assert_eq!(agg["items"][0]["versions"][0]["version"], "v1");
    }
}
