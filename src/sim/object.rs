//! Reading fields of objects held as JSON: a missing field, or one of another type,
//! reads as empty.

use serde_json::Value;

/// The string at `pointer` ("" when missing or not a string).
pub fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}
