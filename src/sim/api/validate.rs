//! Schema checks of request bodies: unknown fields (dropped, warned about, or rejected
//! by `fieldValidation`), wrong types, missing required fields and enum values; and the
//! metadata rules every object obeys (names, labels).

use serde_json::{Map, Value};

use crate::resource::ResourceType;
use crate::schema::{BUILTIN_COMPONENTS, OBJECT_META, resolve, root_schema};
use crate::status::{ApiError, ApiResult};

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(value: Option<&str>) -> ApiResult<Self> {
        match value {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other} (supported values: \"Ignore\", \"Warn\", \"Strict\")"
            ))),
        }
    }
}

#[derive(Debug, Default)]
struct Findings {
    unknown: Vec<String>,
    invalid: Vec<(String, String)>,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

fn walk<'s>(
    schema: &'s Value,
    value: &mut Value,
    path: &str,
    comps: &'s Map<String, Value>,
    crd: bool,
    out: &mut Findings,
) {
    let schema = resolve(schema, comps);
    if schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true)
        && schema.get("properties").is_none()
    {
        return;
    }
    if schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        if !matches!(value, Value::String(_) | Value::Number(_) | Value::Null) {
            out.invalid.push((
                path.to_owned(),
                format!("Invalid value: \"{}\": {path} in body must be of type int-or-string", json_type(value)),
            ));
        }
        return;
    }
    if let (Some(want), got) = (schema.get("type").and_then(Value::as_str), json_type(value)) {
        let ok = got == "null" || want == got || (want == "number" && got == "integer");
        if !ok {
            out.invalid.push((
                path.to_owned(),
                format!("Invalid value: \"{got}\": {path} in body must be of type {want}: {value}"),
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !value.is_null()
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        out.invalid
            .push((path.to_owned(), format!("Unsupported value: {value}: supported values: {}", list.join(", "))));
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            // A schema that declares no shape (no properties, no additionalProperties)
            // accepts any object, as OpenAPI's untyped schemas do.
            let preserve = schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true)
                || (properties.is_none() && additional.is_none());
            if crd && let Some(required) = schema.get("required").and_then(Value::as_array) {
                for field in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(field) {
                        out.invalid.push((join(path, field), "Required value".to_owned()));
                    }
                }
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = join(path, &key);
                // A CRD schema only says `metadata: {type: object}`: metadata is always ObjectMeta.
                let child_schema = if path.is_empty() && key == "metadata" {
                    BUILTIN_COMPONENTS.get(OBJECT_META)
                } else {
                    properties.and_then(|p| p.get(&key))
                };
                let child_schema = child_schema.or(match additional {
                    Some(Value::Object(_)) => additional,
                    _ => None,
                });
                match child_schema {
                    Some(s) => {
                        let comps_for_child =
                            if path.is_empty() && key == "metadata" { &*BUILTIN_COMPONENTS } else { comps };
                        if let Some(child) = map.get_mut(&key) {
                            walk(s, child, &child_path, comps_for_child, crd, out);
                        }
                    }
                    None if preserve || additional == Some(&Value::Bool(true)) => {}
                    None => {
                        out.unknown.push(child_path);
                        map.remove(&key);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), comps, crd, out);
                }
            }
        }
        _ => {}
    }
}

/// Checks an object against its kind's schema, dropping unknown fields. Returns the
/// warnings to send (`fieldValidation=Warn`), or the error (`Strict`, wrong types).
pub fn check_schema(rt: &ResourceType, object: &mut Value, mode: FieldValidation) -> ApiResult<Vec<String>> {
    let Some(schema) = root_schema(rt) else { return Ok(Vec::new()) };
    let crd = !rt.is_builtin();
    let mut findings = Findings::default();
    walk(schema, object, "", &BUILTIN_COMPONENTS, crd, &mut findings);
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !findings.invalid.is_empty() {
        if crd {
            return Err(ApiError::invalid(rt, &name, &findings.invalid));
        }
        let (field, msg) = &findings.invalid[0];
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {field}: {msg}",
            rt.kind, rt.version, rt.kind
        )));
    }
    findings.unknown.sort();
    let unknown: Vec<String> = findings.unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
    match mode {
        FieldValidation::Strict if !unknown.is_empty() => {
            Err(ApiError::bad_request(format!("strict decoding error: {}", unknown.join(", "))))
        }
        FieldValidation::Warn => Ok(unknown),
        _ => Ok(Vec::new()),
    }
}

/// DNS-1123 subdomain (most object names).
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(is_dns_label_part)
}

fn is_dns_label_part(part: &str) -> bool {
    !part.is_empty()
        && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !part.starts_with('-')
        && !part.ends_with('-')
}

/// What RBAC object names must be: any path segment ("system:discovery" is valid).
pub fn is_path_segment(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

/// DNS-1123 label (namespace names).
pub fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && is_dns_label_part(name)
}

fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Metadata rules: a valid name for the kind, valid label values.
pub fn check_metadata(rt: &ResourceType, object: &Value) -> ApiResult<()> {
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let mut causes = Vec::new();
    if name.is_empty() {
        causes.push(("metadata.name".to_owned(), "Required value: name or generateName is required".to_owned()));
    } else {
        let ok = if rt.plural == "namespaces" && rt.group.is_empty() {
            is_dns_label(name)
        } else if rt.group == "rbac.authorization.k8s.io" {
            is_path_segment(name)
        } else {
            is_dns_subdomain(name)
        };
        if !ok {
            causes.push((
                "metadata.name".to_owned(),
                format!("Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
            ));
        }
    }
    if let Some(labels) = object.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            match v.as_str() {
                Some(s) if valid_label_value(s) => {}
                _ => causes.push((
                    "metadata.labels".to_owned(),
                    format!("Invalid value: {v}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (for key {k})"),
                )),
            }
        }
    }
    if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(rt, name, &causes)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Registry;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_dropped_warned_or_rejected() {
        let registry = Registry::new([]);
        let cm = registry.lookup("", "v1", "configmaps").unwrap();
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "bogus": 1}, "data": {"a": "b"}, "extra": true});
        let mut obj = body.clone();
        let warnings = check_schema(cm, &mut obj, FieldValidation::Warn).unwrap();
        assert_eq!(warnings, vec!["unknown field \"extra\"", "unknown field \"metadata.bogus\""]);
        assert!(obj.get("extra").is_none());
        assert_eq!(obj["data"]["a"], "b");
        let mut obj = body.clone();
        let err = check_schema(cm, &mut obj, FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.starts_with("strict decoding error"), "{}", err.message);
        let mut obj = body;
        assert!(check_schema(cm, &mut obj, FieldValidation::Ignore).unwrap().is_empty());
    }

    #[test]
    fn wrong_types_are_rejected() {
        let registry = Registry::new([]);
        let deploy = registry.lookup("apps", "v1", "deployments").unwrap();
        let mut obj = json!({"metadata": {"name": "d"}, "spec": {"replicas": "three"}});
        let err = check_schema(deploy, &mut obj, FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.contains("spec.replicas"), "{}", err.message);
    }

    #[test]
    fn crd_schemas_check_required_and_enum() {
        let crd = json!({"metadata": {"name": "things.x.io"}, "spec": {"group": "x.io", "names": {"kind": "Thing", "plural": "things"},
            "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "required": ["mode"], "properties": {"mode": {"type": "string", "enum": ["a", "b"]}}}}}}}]}});
        let registry = Registry::new([&crd]);
        let thing = registry.lookup("x.io", "v1", "things").unwrap();
        let mut obj = json!({"metadata": {"name": "t"}, "spec": {"mode": "c"}});
        let err = check_schema(thing, &mut obj, FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.contains("Unsupported value"), "{}", err.message);
        let mut obj = json!({"metadata": {"name": "t"}, "spec": {}});
        assert!(check_schema(thing, &mut obj, FieldValidation::Strict).unwrap_err().message.contains("Required value"));
        let mut obj = json!({"metadata": {"name": "t", "labels": {"a": "b"}}, "spec": {"mode": "a"}});
        assert!(check_schema(thing, &mut obj, FieldValidation::Strict).is_ok());
    }

    #[test]
    fn names_and_labels() {
        let registry = Registry::new([]);
        let ns = registry.lookup("", "v1", "namespaces").unwrap();
        assert!(check_metadata(ns, &json!({"metadata": {"name": "ok-name"}})).is_ok());
        assert_eq!(check_metadata(ns, &json!({"metadata": {"name": "a.b"}})).unwrap_err().code, 422);
        assert_eq!(check_metadata(ns, &json!({"metadata": {"name": "Upper"}})).unwrap_err().code, 422);
        assert_eq!(
            check_metadata(ns, &json!({"metadata": {"name": "x", "labels": {"a": "not valid!"}}})).unwrap_err().code,
            422
        );
    }
}
