//! What an HTTP request asks for, in the API server's terms: the resource and verb of
//! the path (as its RequestInfoFactory computes them), the query parameters, and the
//! representation the client accepts.

use std::collections::HashMap;

/// A resource request: `/api/v1/namespaces/ns/pods/name/status`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceRequest {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Resource(ResourceRequest),
    /// Anything else: discovery, health, version, OpenAPI.
    NonResource,
}

const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Parses a path and method the way the API server does.
pub fn parse_route(method: &str, path: &str, query: &Query) -> Route {
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    let (group, version, mut rest) = match parts.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest.to_vec()),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest.to_vec()),
        _ => return Route::NonResource,
    };
    let mut watch_path = false;
    if rest.first() == Some(&"watch") {
        watch_path = true;
        rest.remove(0);
    }
    let mut req = ResourceRequest { group: group.to_owned(), version: version.to_owned(), ..Default::default() };
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        req.namespace = rest[1].to_owned();
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest.drain(..2);
        }
    }
    if rest.is_empty() {
        return Route::NonResource;
    }
    req.resource = rest[0].to_owned();
    if let Some(name) = rest.get(1) {
        req.name = (*name).to_owned();
    }
    if let Some(sub) = rest.get(2) {
        req.subresource = (*sub).to_owned();
    }
    if rest.len() > 3 {
        return Route::NonResource;
    }
    let watch_param = matches!(query.get("watch"), Some("true") | Some("1"));
    req.verb = match method {
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if req.name.is_empty() => "deletecollection",
        "DELETE" => "delete",
        "GET" | "HEAD" if watch_path || watch_param => "watch",
        "GET" | "HEAD" if req.name.is_empty() => "list",
        "GET" | "HEAD" => "get",
        _ => "",
    }
    .to_owned();
    // A watch of one object by name is a watch of the collection selected by name.
    Route::Resource(req)
}

/// Decoded query parameters (the last value of a repeated key wins, except lists).
#[derive(Debug, Clone, Default)]
pub struct Query {
    values: HashMap<String, Vec<String>>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(raw) = raw {
            for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
                values.entry(k.into_owned()).or_default().push(v.into_owned());
            }
        }
        Self { values }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(|v| v.last()).map(String::as_str)
    }

    pub fn all(&self, key: &str) -> &[String] {
        self.values.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true") | Some("1"))
    }
}

/// What a `Table` row carries besides its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// The representation to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    /// `meta.k8s.io` Table (kubectl get).
    Table(IncludeObject),
    /// `PartialObjectMetadata(List)`: metadata only (kube-rs metadata watchers).
    Metadata,
    /// `apidiscovery.k8s.io/v2` aggregated discovery (for `/api` and `/apis`).
    AggregatedDiscovery,
}

struct MediaRange<'a> {
    mime: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

impl MediaRange<'_> {
    fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

fn media_ranges(accept: &str) -> Vec<MediaRange<'_>> {
    accept
        .split(',')
        .map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let mime = parts.next().unwrap_or_default();
            let params = parts.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
            MediaRange { mime, params }
        })
        .collect()
}

/// Chooses the first representation of the `Accept` header the server can give;
/// `None` when it can give none (406).
pub fn negotiate(accept: Option<&str>, query: &Query, discovery: bool) -> Option<Output> {
    let accept = accept.unwrap_or("application/json");
    let include = match query.get("includeObject") {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    };
    for range in media_ranges(accept) {
        let json = matches!(range.mime, "application/json" | "application/*" | "*/*" | "");
        match range.param("as") {
            Some("Table") if json && range.param("g") == Some("meta.k8s.io") => return Some(Output::Table(include)),
            Some("PartialObjectMetadata") | Some("PartialObjectMetadataList") if json => return Some(Output::Metadata),
            Some("APIGroupDiscoveryList") if json && discovery && range.param("v") == Some("v2") => {
                return Some(Output::AggregatedDiscovery);
            }
            Some(_) => continue,
            None => {}
        }
        if json {
            return Some(Output::Json);
        }
        if matches!(range.mime, "application/yaml" | "text/yaml") {
            return Some(Output::Yaml);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, q: &str) -> ResourceRequest {
        match parse_route(method, path, &Query::parse(Some(q))) {
            Route::Resource(r) => r,
            Route::NonResource => panic!("{path} is a resource path"),
        }
    }

    #[test]
    fn paths_map_to_resources_and_verbs() {
        let r = route("GET", "/api/v1/namespaces/kube-system/pods/p1/status", "");
        assert_eq!(
            (r.verb.as_str(), r.namespace.as_str(), r.resource.as_str(), r.name.as_str(), r.subresource.as_str()),
            ("get", "kube-system", "pods", "p1", "status")
        );
        let r = route("GET", "/apis/velero.io/v1/backups", "watch=true");
        assert_eq!((r.verb.as_str(), r.group.as_str(), r.namespace.as_str()), ("watch", "velero.io", ""));
        let r = route("GET", "/api/v1/namespaces/foo", "");
        assert_eq!((r.verb.as_str(), r.resource.as_str(), r.name.as_str()), ("get", "namespaces", "foo"));
        let r = route("PUT", "/api/v1/namespaces/foo/finalize", "");
        assert_eq!((r.resource.as_str(), r.name.as_str(), r.subresource.as_str()), ("namespaces", "foo", "finalize"));
        let r = route("DELETE", "/api/v1/namespaces/foo/configmaps", "");
        assert_eq!(r.verb, "deletecollection");
        let r = route("GET", "/api/v1/watch/namespaces/foo/configmaps", "");
        assert_eq!(r.verb, "watch");
        assert_eq!(parse_route("GET", "/api/v1", &Query::default()), Route::NonResource);
        assert_eq!(parse_route("GET", "/apis/apps/v1", &Query::default()), Route::NonResource);
    }

    #[test]
    fn accept_negotiation() {
        let q = Query::default();
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(kubectl_get), &q, false), Some(Output::Table(IncludeObject::Metadata)));
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf, application/json"), &q, false),
            Some(Output::Json)
        );
        assert_eq!(negotiate(Some("application/vnd.kubernetes.protobuf"), &q, false), None);
        let disc = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(Some(disc), &q, true), Some(Output::AggregatedDiscovery));
        assert_eq!(negotiate(Some(disc), &q, false), Some(Output::Json));
        assert_eq!(negotiate(None, &q, false), Some(Output::Json));
        assert_eq!(negotiate(Some("application/yaml"), &q, false), Some(Output::Yaml));
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some("labelSelector=app%3Dweb%2Ctier&watch=1&dryRun=All"));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier"));
        assert!(q.flag("watch"));
        assert_eq!(q.all("dryRun"), ["All"]);
    }
}
