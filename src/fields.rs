//! Fields of Kubernetes objects as JSON, read by pointer and tolerant of odd shapes: a
//! missing field or one of the wrong type reads as empty, zero or absent, never an error.
//! The folds of watched objects and the simulator's controllers read objects this way.

use jiff::Timestamp;
use serde_json::Value;

/// A string field ("" when missing or not a string).
pub fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// An RFC 3339 timestamp field.
pub fn time(v: &Value, pointer: &str) -> Option<Timestamp> {
    v.pointer(pointer).and_then(Value::as_str).and_then(|t| t.parse().ok())
}

/// An integer field (0 when missing or not an integer).
pub fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// A boolean field that is `true` (false when missing or not a boolean).
pub fn flag(v: &Value, pointer: &str) -> bool {
    v.pointer(pointer) == Some(&Value::Bool(true))
}

/// The strings of an array field (its non-strings skipped).
pub fn strings(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A label's value (label names hold `/`, so not by pointer).
pub fn label(v: &Value, name: &str) -> Option<String> {
    v.pointer("/metadata/labels").and_then(|l| l.get(name)).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn odd_shapes_read_as_empty() {
        let v = json!({"metadata": {"labels": {"velero.io/schedule-name": "daily"}},
            "spec": {"paused": "yes", "n": "3", "list": ["a", 1, "b"]}, "status": {"at": "not a time"}});
        assert_eq!(text(&v, "/spec/n"), "3");
        assert_eq!((int(&v, "/spec/n"), flag(&v, "/spec/paused"), time(&v, "/status/at")), (0, false, None));
        assert_eq!(strings(&v, "/spec/list"), ["a", "b"]);
        assert_eq!(label(&v, "velero.io/schedule-name").as_deref(), Some("daily"));
        assert_eq!(text(&v, "/nowhere"), "");
    }
}
