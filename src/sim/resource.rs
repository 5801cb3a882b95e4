//! The resource types a simulated cluster serves.
//!
//! Built-in kinds are described here once and shared by every cluster. Custom kinds are
//! not hard-coded: like a real API server, a cluster serves a custom resource exactly when
//! a `CustomResourceDefinition` object for it exists in its store, so deleting the CRD
//! (the "missing CRD" fault) removes the kind from discovery and every route at once.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::Value;

/// A group and a resource (plural), the identity of a collection independent of version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        Self { group: group.to_owned(), resource: resource.to_owned() }
    }
}

impl std::fmt::Display for GroupResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() { f.write_str(&self.resource) } else { write!(f, "{}.{}", self.resource, self.group) }
    }
}

/// How the rows of a `Table` response are computed for a kind.
#[derive(Debug, Clone)]
pub enum Columns {
    /// A built-in kind: the printer is code (see `table.rs`), like the API server's.
    Builtin(BuiltinPrinter),
    /// A custom kind: `additionalPrinterColumns` from its CRD, evaluated as JSONPath.
    JsonPath(Vec<PrinterColumn>),
}

/// The built-in printers the simulator implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinPrinter {
    Namespace,
    Node,
    Event,
    Secret,
    ConfigMap,
    ServiceAccount,
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    ClusterRole,
    ClusterRoleBinding,
    CustomResourceDefinition,
    /// Name and age only (review kinds that are never listed).
    NameOnly,
}

/// One `additionalPrinterColumns` entry of a CRD version.
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// Where a kind's OpenAPI schema comes from.
#[derive(Debug, Clone)]
pub enum SchemaSource {
    /// A definition name of the Kubernetes OpenAPI spec, generated from k8s-openapi.
    Builtin(&'static str),
    /// The `openAPIV3Schema` of the CRD version (absent when the CRD declares none).
    Crd(Option<Arc<Value>>),
}

/// A kind served at `/<prefix>/<group>/<version>/<plural>`.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: &'static [&'static str],
    /// The `status` subresource exists: writes to the main resource ignore `.status`
    /// and writes to `/status` change nothing else.
    pub status_subresource: bool,
    /// Other subresources with the verbs they accept (`serviceaccounts/token`).
    pub extra_subresources: &'static [(&'static str, &'static str, &'static [&'static str])],
    /// Review kinds (SelfSubjectAccessReview, ...) are created and answered, never stored.
    pub virtual_only: bool,
    pub columns: Columns,
    pub schema: SchemaSource,
}

pub const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const CREATE_ONLY: &[&str] = &["create"];

impl ResourceType {
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.plural)
    }

    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// True when this resource is one of Kubernetes' own kinds (not from a CRD).
    pub fn is_builtin(&self) -> bool {
        matches!(self.schema, SchemaSource::Builtin(_))
    }

    /// Strategic merge patch is only defined for built-in kinds, as in Kubernetes.
    pub fn supports_strategic_merge(&self) -> bool {
        self.is_builtin()
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Builds the served type of one version of a CRD object; `None` when the CRD is not
    /// established or its shape is unusable (it is then simply not served).
    pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
        let spec = match crd.get("spec") {
            Some(spec) => spec,
            None => return Vec::new(),
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let group = text(spec.get("group"));
        let names = spec.get("names").cloned().unwrap_or(Value::Null);
        let kind = text(names.get("kind"));
        let plural = text(names.get("plural"));
        if group.is_empty() || kind.is_empty() || plural.is_empty() {
            return Vec::new();
        }
        let singular = match text(names.get("singular")) {
            s if s.is_empty() => kind.to_lowercase(),
            s => s,
        };
        let list_kind = match text(names.get("listKind")) {
            s if s.is_empty() => format!("{kind}List"),
            s => s,
        };
        let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
        let versions = spec.get("versions").and_then(Value::as_array).cloned().unwrap_or_default();
        versions
            .iter()
            .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
            .filter_map(|v| {
                let version = v.get("name").and_then(Value::as_str)?.to_owned();
                let columns = v
                    .get("additionalPrinterColumns")
                    .and_then(Value::as_array)
                    .map(|cols| {
                        cols.iter()
                            .map(|c| PrinterColumn {
                                name: text(c.get("name")),
                                type_: text(c.get("type")),
                                format: text(c.get("format")),
                                description: text(c.get("description")),
                                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                                json_path: text(c.get("jsonPath")),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Some(ResourceType {
                    group: group.clone(),
                    version,
                    kind: kind.clone(),
                    list_kind: list_kind.clone(),
                    plural: plural.clone(),
                    singular: singular.clone(),
                    namespaced,
                    short_names: strings(names.get("shortNames")),
                    categories: strings(names.get("categories")),
                    verbs: ALL_VERBS,
                    status_subresource: v.pointer("/subresources/status").is_some(),
                    extra_subresources: &[],
                    virtual_only: false,
                    columns: Columns::JsonPath(columns),
                    schema: SchemaSource::Crd(v.pointer("/schema/openAPIV3Schema").cloned().map(Arc::new)),
                })
            })
            .collect()
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short_names: &[&str],
    categories: &[&str],
    status_subresource: bool,
    printer: BuiltinPrinter,
    schema: &'static str,
) -> ResourceType {
    ResourceType {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        list_kind: format!("{kind}List"),
        plural: plural.to_owned(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: short_names.iter().map(|s| (*s).to_owned()).collect(),
        categories: categories.iter().map(|s| (*s).to_owned()).collect(),
        verbs: ALL_VERBS,
        status_subresource,
        extra_subresources: &[],
        virtual_only: false,
        columns: Columns::Builtin(printer),
        schema: SchemaSource::Builtin(schema),
    }
}

fn review(group: &str, kind: &str, plural: &str, schema: &'static str) -> ResourceType {
    ResourceType {
        verbs: CREATE_ONLY,
        virtual_only: true,
        ..builtin(group, "v1", kind, plural, false, &[], &[], false, BuiltinPrinter::NameOnly, schema)
    }
}

/// Every built-in kind the simulator serves, in discovery order.
pub static BUILTINS: LazyLock<Vec<Arc<ResourceType>>> = LazyLock::new(|| {
    use BuiltinPrinter as P;
    let mut service_accounts = builtin(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        &["sa"],
        &[],
        false,
        P::ServiceAccount,
        "io.k8s.api.core.v1.ServiceAccount",
    );
    service_accounts.extra_subresources = &[("token", "TokenRequest", &["create"])];
    let deployments = builtin(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
        &["all"],
        true,
        P::Deployment,
        "io.k8s.api.apps.v1.Deployment",
    );
    let stateful_sets = builtin(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        &["sts"],
        &["all"],
        true,
        P::StatefulSet,
        "io.k8s.api.apps.v1.StatefulSet",
    );
    let daemon_sets = builtin(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        true,
        &["ds"],
        &["all"],
        true,
        P::DaemonSet,
        "io.k8s.api.apps.v1.DaemonSet",
    );
    let types = vec![
        builtin(
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            true,
            &["cm"],
            &[],
            false,
            P::ConfigMap,
            "io.k8s.api.core.v1.ConfigMap",
        ),
        builtin("", "v1", "Event", "events", true, &["ev"], &[], false, P::Event, "io.k8s.api.core.v1.Event"),
        builtin(
            "",
            "v1",
            "Namespace",
            "namespaces",
            false,
            &["ns"],
            &[],
            true,
            P::Namespace,
            "io.k8s.api.core.v1.Namespace",
        ),
        builtin("", "v1", "Node", "nodes", false, &["no"], &[], true, P::Node, "io.k8s.api.core.v1.Node"),
        builtin("", "v1", "Pod", "pods", true, &["po"], &["all"], true, P::Pod, "io.k8s.api.core.v1.Pod"),
        builtin("", "v1", "Secret", "secrets", true, &[], &[], false, P::Secret, "io.k8s.api.core.v1.Secret"),
        service_accounts,
        deployments,
        stateful_sets,
        daemon_sets,
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
            &[],
            &[],
            false,
            P::ClusterRole,
            "io.k8s.api.rbac.v1.ClusterRole",
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            &[],
            &[],
            false,
            P::ClusterRoleBinding,
            "io.k8s.api.rbac.v1.ClusterRoleBinding",
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            &["crd", "crds"],
            &[],
            true,
            P::CustomResourceDefinition,
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        ),
        review(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
        ),
        review(
            "authorization.k8s.io",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            "io.k8s.api.authorization.v1.SelfSubjectRulesReview",
        ),
        review(
            "authentication.k8s.io",
            "SelfSubjectReview",
            "selfsubjectreviews",
            "io.k8s.api.authentication.v1.SelfSubjectReview",
        ),
    ];
    types.into_iter().map(Arc::new).collect()
});

/// CRD-derived types are identical on every cluster that has the same CRD, so they are
/// interned by the CRD's spec to keep a thousand clusters from holding a thousand copies.
static CRD_TYPES: LazyLock<Mutex<HashMap<String, Vec<Arc<ResourceType>>>>> = LazyLock::new(Default::default);

fn crd_types(crd: &Value) -> Vec<Arc<ResourceType>> {
    let key = format!(
        "{}\u{0}{}",
        crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default(),
        crd.get("spec").map(Value::to_string).unwrap_or_default()
    );
    let mut cache = CRD_TYPES.lock().unwrap_or_else(|e| e.into_inner());
    cache.entry(key).or_insert_with(|| ResourceType::from_crd(crd).into_iter().map(Arc::new).collect()).clone()
}

/// The kinds one cluster serves right now: the built-ins plus one entry per served
/// version of each CRD in its store.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: Vec<Arc<ResourceType>>,
}

impl Registry {
    pub fn new<'a>(crds: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut types: Vec<Arc<ResourceType>> = BUILTINS.clone();
        for crd in crds {
            types.extend(crd_types(crd));
        }
        Self { types }
    }

    pub fn all(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    /// The type served at `group/version/plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<ResourceType>> {
        self.types.iter().find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// The type of a kind in a group/version (for bodies and apply configurations).
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<&Arc<ResourceType>> {
        self.types.iter().find(|t| t.group == group && t.version == version && t.kind == kind)
    }

    /// The preferred (first served) type of a group/resource, for controllers.
    pub fn preferred(&self, gr: &GroupResource) -> Option<&Arc<ResourceType>> {
        self.types.iter().find(|t| t.group == gr.group && t.plural == gr.resource)
    }

    /// Group/version pairs in discovery order, core group first.
    pub fn group_versions(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for t in &self.types {
            let gv = (t.group.clone(), t.version.clone());
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_types_follow_the_crd_names_and_versions() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Cluster",
                "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1", "served": true, "subresources": {"status": {}},
                     "additionalPrinterColumns": [{"name": "Ready", "type": "string", "jsonPath": ".status.ready"}]},
                    {"name": "v0", "served": false}
                ]
            }
        });
        let registry = Registry::new([&crd]);
        let widget = registry.lookup("example.com", "v1", "widgets").expect("served");
        assert!(!widget.namespaced);
        assert!(widget.status_subresource);
        assert_eq!(widget.singular, "widget");
        assert_eq!(widget.list_kind, "WidgetList");
        assert_eq!(widget.short_names, vec!["wd"]);
        assert!(registry.lookup("example.com", "v0", "widgets").is_none(), "unserved version");
        assert!(registry.lookup("", "v1", "nodes").is_some(), "built-ins always served");
    }

    #[test]
    fn a_crd_without_names_is_not_served() {
        let crd = json!({"metadata": {"name": "broken"}, "spec": {"group": "x.io"}});
        assert!(ResourceType::from_crd(&crd).is_empty());
    }
}
