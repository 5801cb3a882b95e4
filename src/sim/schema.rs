//! OpenAPI schemas of the served kinds.
//!
//! Built-in kinds take their schemas from k8s-openapi (generated from the Kubernetes
//! OpenAPI spec, descriptions included), so `kubectl explain` reads the real text and
//! validation knows the real fields. Custom kinds use the `openAPIV3Schema` of their CRD.
//! The same schemas serve `/openapi/v3`, `/openapi/v2` and server-side field validation.

use std::sync::LazyLock;

use k8s_openapi::api::{apps, authentication, authorization, core, rbac};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value};

use super::resource::{ResourceType, SchemaSource};

/// Every definition reachable from the built-in kinds, keyed by its OpenAPI name
/// (`io.k8s.api.core.v1.Node`), with references as `#/components/schemas/<name>`.
pub static BUILTIN_COMPONENTS: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
    generator.subschema_for::<core::v1::Namespace>();
    generator.subschema_for::<core::v1::Node>();
    generator.subschema_for::<core::v1::Event>();
    generator.subschema_for::<core::v1::Secret>();
    generator.subschema_for::<core::v1::ConfigMap>();
    generator.subschema_for::<core::v1::ServiceAccount>();
    generator.subschema_for::<core::v1::Pod>();
    generator.subschema_for::<apps::v1::Deployment>();
    generator.subschema_for::<rbac::v1::ClusterRole>();
    generator.subschema_for::<rbac::v1::ClusterRoleBinding>();
    generator.subschema_for::<apiextensions::CustomResourceDefinition>();
    generator.subschema_for::<authorization::v1::SelfSubjectAccessReview>();
    generator.subschema_for::<authorization::v1::SelfSubjectRulesReview>();
    generator.subschema_for::<authentication::v1::SelfSubjectReview>();
    generator.subschema_for::<authentication::v1::TokenRequest>();
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::ObjectMeta>();
    let mut defs = generator.take_definitions(true);
    for (name, def) in defs.iter_mut() {
        let Some(obj) = def.as_object_mut() else { continue };
        // The generated root schemas carry a `title`; the API server's do not.
        obj.remove("title");
        // These hold any JSON value (or a schema, or a bool) in the Kubernetes spec.
        if ANY_VALUE.contains(&name.as_str()) {
            obj.retain(|k, _| k == "description");
            obj.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
        }
    }
    defs
});

/// Definitions whose values are free-form JSON.
const ANY_VALUE: &[&str] = &[
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
];

pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Follows `$ref` and single-element `allOf` wrappers to the schema they point at.
pub fn resolve<'a>(schema: &'a Value, components: &'a Map<String, Value>) -> &'a Value {
    let mut cur = schema;
    for _ in 0..16 {
        if let Some(r) = cur.get("$ref").and_then(Value::as_str) {
            match r.rsplit('/').next().and_then(|name| components.get(name)) {
                Some(next) => cur = next,
                None => return cur,
            }
        } else if let Some([single]) = cur.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
            cur = single;
        } else {
            return cur;
        }
    }
    cur
}

/// The root schema of a kind, or `None` when its CRD has no schema.
pub fn root_schema(rt: &ResourceType) -> Option<&Value> {
    match &rt.schema {
        SchemaSource::Builtin(name) => BUILTIN_COMPONENTS.get(*name),
        SchemaSource::Crd(schema) => schema.as_deref(),
    }
}

/// The OpenAPI definition name a kind's schema is published under.
pub fn definition_name(rt: &ResourceType) -> String {
    match &rt.schema {
        SchemaSource::Builtin(name) => (*name).to_owned(),
        SchemaSource::Crd(_) => {
            // The API server publishes CRDs under the reversed group: io.fluxcd.toolkit...
            let reversed: Vec<&str> = rt.group.split('.').rev().collect();
            format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_carry_descriptions_and_resolve() {
        let node = BUILTIN_COMPONENTS.get("io.k8s.api.core.v1.Node").expect("node schema");
        assert!(node["description"].as_str().unwrap().contains("worker node"));
        let spec = resolve(&node["properties"]["spec"], &BUILTIN_COMPONENTS);
        assert!(spec["properties"].get("unschedulable").is_some());
        assert!(BUILTIN_COMPONENTS.contains_key(OBJECT_META));
    }
}
