//! Label and field selectors with the API server's grammar and its per-kind field list.

use std::collections::BTreeMap;

use serde_json::Value;

use super::resource::ResourceType;
use super::status::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Greater(i64),
    Less(i64),
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed `labelSelector`; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

fn valid_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
    });
    name_ok && prefix_ok
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(input: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

fn parse_set(rest: &str, input: &str) -> ApiResult<Vec<String>> {
    let rest = rest.trim();
    let inner = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(|| {
        ApiError::bad_request(format!("unable to parse requirement: found '{rest}', expected: '(' in {input}"))
    })?;
    Ok(inner.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect())
}

impl LabelSelector {
    pub fn parse(input: &str) -> ApiResult<Self> {
        let mut requirements = Vec::new();
        if input.trim().is_empty() {
            return Ok(Self { requirements });
        }
        let err = |detail: &str| ApiError::bad_request(format!("unable to parse requirement: {detail}"));
        for raw in split_top_level(input) {
            let term = raw.trim();
            if term.is_empty() {
                return Err(err(&format!("found '', expected: identifier in \"{input}\"")));
            }
            let (key, op) = if let Some(key) = term.strip_prefix('!') {
                (key.trim().to_owned(), Op::NotExists)
            } else if let Some((k, v)) = term.split_once("!=") {
                (k.trim().to_owned(), Op::NotEquals(v.trim().to_owned()))
            } else if let Some((k, v)) = term.split_once("==") {
                (k.trim().to_owned(), Op::Equals(v.trim().to_owned()))
            } else if let Some((k, v)) = term.split_once('=') {
                (k.trim().to_owned(), Op::Equals(v.trim().to_owned()))
            } else if let Some(idx) = term.find(" notin ") {
                (term[..idx].trim().to_owned(), Op::NotIn(parse_set(&term[idx + 7..], input)?))
            } else if let Some(idx) = term.find(" in ") {
                (term[..idx].trim().to_owned(), Op::In(parse_set(&term[idx + 4..], input)?))
            } else if let Some((k, v)) = term.split_once('>') {
                let n = v
                    .trim()
                    .parse()
                    .map_err(|_| err(&format!("for 'gt', 'lt' operators, the value must be an integer: {term}")))?;
                (k.trim().to_owned(), Op::Greater(n))
            } else if let Some((k, v)) = term.split_once('<') {
                let n = v
                    .trim()
                    .parse()
                    .map_err(|_| err(&format!("for 'gt', 'lt' operators, the value must be an integer: {term}")))?;
                (k.trim().to_owned(), Op::Less(n))
            } else {
                (term.to_owned(), Op::Exists)
            };
            if !valid_key(&key) {
                return Err(err(&format!("invalid label key \"{key}\"")));
            }
            requirements.push(Requirement { key, op });
        }
        Ok(Self { requirements })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.get(&r.key);
            match &r.op {
                Op::Exists => value.is_some(),
                Op::NotExists => value.is_none(),
                Op::Equals(v) => value == Some(v),
                Op::NotEquals(v) => value != Some(v),
                Op::In(set) => value.is_some_and(|x| set.contains(x)),
                Op::NotIn(set) => value.is_none_or(|x| !set.contains(x)),
                Op::Greater(n) => value.and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x > *n),
                Op::Less(n) => value.and_then(|x| x.parse::<i64>().ok()).is_some_and(|x| x < *n),
            }
        })
    }
}

/// A parsed `fieldSelector` (only `=`, `==` and `!=`, as in Kubernetes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    requirements: Vec<(String, bool, String)>,
}

/// The fields a kind can be selected by, beyond `metadata.name` and `metadata.namespace`.
fn selectable_fields(rt: &ResourceType) -> &'static [&'static str] {
    if !rt.is_builtin() {
        return &[];
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        _ => &[],
    }
}

/// The value of a selectable field of an object, as a string (absent fields are "").
fn field_value(object: &Value, field: &str) -> String {
    let path = match field {
        "source" => "source.component",
        other => other,
    };
    let mut cur = object;
    for part in path.split('.') {
        match cur.get(part) {
            Some(next) => cur = next,
            None => {
                // Booleans that are unset select as "false", as the server's field sets do.
                return if matches!(field, "spec.unschedulable" | "spec.hostNetwork") {
                    "false".to_owned()
                } else {
                    String::new()
                };
            }
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl FieldSelector {
    pub fn parse(input: &str, rt: &ResourceType) -> ApiResult<Self> {
        let mut requirements = Vec::new();
        if input.trim().is_empty() {
            return Ok(Self { requirements });
        }
        for term in input.split(',') {
            let term = term.trim();
            let (field, equal, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad_request(format!("invalid selector: '{input}'; can't understand '{term}'")));
            };
            let field = field.trim();
            let known =
                matches!(field, "metadata.name" | "metadata.namespace") || selectable_fields(rt).contains(&field);
            if !known {
                return Err(ApiError::bad_request(format!("field label not supported: {field}")));
            }
            requirements.push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(Self { requirements })
    }

    /// Matches with the name and namespace known and the object parsed only when needed.
    pub fn matches(&self, namespace: &str, name: &str, object: impl FnOnce() -> Value) -> bool {
        let mut parsed: Option<Value> = None;
        let mut object = Some(object);
        self.requirements.iter().all(|(field, equal, want)| {
            let actual = match field.as_str() {
                "metadata.name" => name.to_owned(),
                "metadata.namespace" => namespace.to_owned(),
                other => {
                    if parsed.is_none() {
                        parsed = Some(object.take().map(|f| f()).unwrap_or(Value::Null));
                    }
                    field_value(parsed.as_ref().unwrap_or(&Value::Null), other)
                }
            };
            (actual == *want) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Registry;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn label_selector_grammar() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("fleetdeck.io/spoke", "prod-1")]);
        let ok = |s: &str| LabelSelector::parse(s).expect(s).matches(&l);
        assert!(ok(""));
        assert!(ok("app=web"));
        assert!(ok("app==web,tier"));
        assert!(ok("app!=db"));
        assert!(ok("!missing"));
        assert!(ok("tier in (front, back)"));
        assert!(ok("tier notin (back)"));
        assert!(ok("fleetdeck.io/spoke=prod-1"));
        assert!(!ok("app=db"));
        assert!(!ok("tier in (back),app=web"));
        assert!(!ok("missing"));
        assert!(LabelSelector::parse("app=web,,").is_err());
        assert!(LabelSelector::parse("in (x)").is_err());
        assert!(LabelSelector::parse("-bad-=x").is_err());
    }

    #[test]
    fn field_selectors_are_checked_per_kind() {
        let registry = Registry::new([]);
        let events = registry.lookup("", "v1", "events").unwrap();
        let secrets = registry.lookup("", "v1", "secrets").unwrap();
        let ev = json!({"involvedObject": {"kind": "Node", "name": "n1"}, "type": "Warning", "source": {"component": "kubelet"}});
        let sel = FieldSelector::parse("involvedObject.kind=Node,type!=Normal,source=kubelet", events).unwrap();
        assert!(sel.matches("default", "e1", || ev.clone()));
        let sel = FieldSelector::parse("metadata.name=e2", events).unwrap();
        assert!(!sel.matches("default", "e1", || unreachable!("a name is read without the object")));
        let err = FieldSelector::parse("involvedObject.kind=Node", secrets).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.contains("field label not supported"));
    }
}
