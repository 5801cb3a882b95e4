//! The API operations of a simulated cluster, independent of HTTP: the HTTP layer and the
//! simulator's own controllers (Flux, Velero, ...) both go through them, so a controller's
//! write is validated, versioned, recorded in managedFields and seen by watches exactly
//! like a client's.

pub mod apply;
pub mod fields;
pub mod patch;
pub mod review;
pub mod strategy;
pub mod validate;
pub mod write;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::resource::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::state::ClusterState;
use super::status::{ApiError, ApiResult};
use super::store::{ObjectKey, StoredObject};
use validate::FieldValidation;

/// Who writes, and how.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The field manager recorded in managedFields.
    pub manager: String,
    pub dry_run: bool,
    pub validation: FieldValidation,
    /// The simulator itself writing: a `metadata.uid` in a new object is kept (stable
    /// cluster identities), where a client's is replaced.
    pub internal: bool,
}

impl Caller {
    /// A controller of the simulated cluster itself.
    pub fn system(manager: &str) -> Self {
        Self { manager: manager.to_owned(), dry_run: false, validation: FieldValidation::Strict, internal: true }
    }
}

/// The objects read by a get, with nothing copied yet.
pub fn get(st: &ClusterState, rt: &ResourceType, ns: &str, name: &str) -> ApiResult<Arc<StoredObject>> {
    let ns = if rt.namespaced { ns } else { "" };
    st.store.get(&rt.group_resource(), ns, name).cloned().ok_or_else(|| ApiError::not_found(rt, name))
}

/// Options of a list (and of the initial state of a watch).
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

impl ListOptions {
    pub fn matches(&self, namespace: &str, name: &str, object: &StoredObject) -> bool {
        self.labels.matches(&object.labels) && self.fields.matches(namespace, name, || object.value())
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Arc<StoredObject>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<u64>,
}

fn encode_continue(rv: u64, key: &ObjectKey) -> String {
    STANDARD.encode(json!({"v": "meta.k8s.io/v1", "rv": rv, "start": [key.0, key.1]}).to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, ObjectKey)> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let raw = STANDARD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad());
    }
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_array).ok_or_else(bad)?;
    let part = |i: usize| start.get(i).and_then(Value::as_str).map(str::to_owned).ok_or_else(bad);
    Ok((rv, (part(0)?, part(1)?)))
}

/// Lists a collection with selectors and `limit`/`continue` paging.
pub fn list(st: &ClusterState, rt: &ResourceType, ns: Option<&str>, opts: &ListOptions) -> ApiResult<ListPage> {
    let ns = if rt.namespaced { ns.filter(|n| !n.is_empty()) } else { None };
    let current = st.store.rv();
    if let (Some(rv), Some("Exact") | Some("NotOlderThan")) =
        (opts.resource_version.as_deref(), opts.resource_version_match.as_deref())
    {
        let asked: u64 = rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        if asked > current {
            return Err(ApiError::timeout(format!("Too large resource version: {asked}, current: {current}")));
        }
        if asked < st.store.floor() && opts.resource_version_match.as_deref() == Some("Exact") {
            return Err(ApiError::gone(format!("too old resource version: {asked} ({})", st.store.floor())));
        }
    }
    let (list_rv, after) = match &opts.continue_token {
        Some(token) if !token.is_empty() => {
            let (rv, key) = decode_continue(token)?;
            if rv < st.store.floor() {
                return Err(ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. \
                     You can start a new list without the continue parameter.",
                ));
            }
            (rv, Some(key))
        }
        _ => (current, None),
    };
    let limit = opts.limit.filter(|l| *l > 0);
    let mut items = Vec::new();
    let mut last_key = None;
    let mut remaining = 0u64;
    for (key, object) in st.store.list(&rt.group_resource(), ns, after.as_ref()) {
        if !opts.matches(&key.0, &key.1, object) {
            continue;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            remaining += 1;
            continue;
        }
        items.push(object.clone());
        last_key = Some(key.clone());
    }
    let continue_token = match (remaining, last_key) {
        (r, Some(key)) if r > 0 => Some(encode_continue(list_rv, &key)),
        _ => None,
    };
    Ok(ListPage {
        items,
        resource_version: list_rv,
        remaining: continue_token.as_ref().map(|_| remaining),
        continue_token,
    })
}

/// The JSON of a list response, items spliced in as stored.
pub fn list_json(rt: &ResourceType, page: &ListPage) -> Vec<u8> {
    let mut meta = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(token) = &page.continue_token {
        meta["continue"] = json!(token);
    }
    if let Some(remaining) = page.remaining {
        meta["remainingItemCount"] = json!(remaining);
    }
    let head = json!({"kind": rt.list_kind, "apiVersion": rt.api_version(), "metadata": meta}).to_string();
    let mut out = Vec::with_capacity(head.len() + page.items.iter().map(|i| i.json.len() + 1).sum::<usize>() + 16);
    out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item.json);
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let key = ("ns".to_owned(), "name".to_owned());
        let token = encode_continue(42, &key);
        assert_eq!(decode_continue(&token).unwrap(), (42, key));
        assert_eq!(decode_continue("not-base64!").unwrap_err().code, 400);
        assert_eq!(decode_continue(&STANDARD.encode("{}")).unwrap_err().code, 400);
    }
}
