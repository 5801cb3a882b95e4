//! Create, update, patch, apply and delete: one pipeline for every writer.
//!
//! body checks -> schema (fieldValidation) -> kind defaults and checks -> admission ->
//! managedFields -> dry run stops here -> store -> hooks of the kind.

use rand::Rng;
use serde_json::{Value, json};

use super::apply::{ApplyRequest, server_side_apply};
use super::fields::record_update;
use super::patch::{PatchType, apply_patch};
use super::strategy::{self, Committed};
use super::validate::{check_metadata, check_schema};
use super::{Caller, ListOptions};
use crate::clock;
use crate::resource::ResourceType;
use crate::state::ClusterState;
use crate::status::{ApiError, ApiResult};

/// The result of a write.
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Value,
    /// 201 for creations, 200 otherwise.
    pub created: bool,
    /// `Warning` headers (unknown fields under `fieldValidation=Warn`).
    pub warnings: Vec<String>,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Checks `apiVersion`, `kind` and namespace of a body against the URL it was sent to.
fn check_body(rt: &ResourceType, body: &mut Value, ns: &str, name: Option<&str>) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the body of the request was not a JSON object"));
    }
    let kind = str_at(body, "/kind").unwrap_or_default().to_owned();
    let api_version = str_at(body, "/apiVersion").unwrap_or_default().to_owned();
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            truncate(&body.to_string(), 200)
        )));
    }
    if api_version.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'apiVersion' is missing in '{}'",
            truncate(&body.to_string(), 200)
        )));
    }
    if api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    if body.get("metadata").is_none_or(|m| !m.is_object()) {
        body["metadata"] = json!({});
    }
    if rt.namespaced {
        match str_at(body, "/metadata/namespace") {
            None | Some("") => body["metadata"]["namespace"] = json!(ns),
            Some(given) if given != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            Some(_) => {}
        }
    } else if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("namespace");
    }
    if let Some(url_name) = name {
        let body_name = str_at(body, "/metadata/name").unwrap_or_default();
        if body_name.is_empty() {
            body["metadata"]["name"] = json!(url_name);
        } else if body_name != url_name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
            )));
        }
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn generated_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Creates an object (POST).
pub fn create(
    st: &mut ClusterState,
    caller: &Caller,
    rt: &ResourceType,
    ns: &str,
    mut body: Value,
) -> ApiResult<Written> {
    check_body(rt, &mut body, ns, None)?;
    if str_at(&body, "/metadata/name").unwrap_or_default().is_empty()
        && let Some(prefix) = str_at(&body, "/metadata/generateName").map(str::to_owned)
    {
        body["metadata"]["name"] = json!(format!("{prefix}{}", generated_suffix()));
    }
    let warnings = check_schema(rt, &mut body, caller.validation)?;
    strategy::normalize(rt, &mut body)?;
    check_metadata(rt, &body)?;
    let name = str_at(&body, "/metadata/name").unwrap_or_default().to_owned();
    let ns = if rt.namespaced { ns } else { "" };
    if st.store.get(&rt.group_resource(), ns, &name).is_some() {
        return Err(ApiError::already_exists(rt, &name));
    }
    strategy::validate(rt, &body, None)?;
    strategy::admit(st, rt, &body, true)?;
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        for server_set in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            meta.remove(server_set);
        }
        let keep_uid = caller.internal && meta.get("uid").and_then(Value::as_str).is_some_and(|u| !u.is_empty());
        if !keep_uid {
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        }
        meta.insert("creationTimestamp".into(), json!(clock::now()));
    }
    strategy::prepare_create(rt, &mut body);
    if body.pointer("/metadata/managedFields").is_none() {
        record_update(None, &mut body, &caller.manager, &rt.api_version(), "", &clock::now());
    }
    commit(st, caller, rt, None, body, warnings)
}

/// Stores a checked object (unless dry run) and runs the kind's hooks.
fn commit(
    st: &mut ClusterState,
    caller: &Caller,
    rt: &ResourceType,
    old: Option<&Value>,
    mut object: Value,
    warnings: Vec<String>,
) -> ApiResult<Written> {
    let created = old.is_none();
    if caller.dry_run {
        if created && let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
        }
        return Ok(Written { object, created, warnings });
    }
    st.store.put(&rt.group_resource(), &mut object);
    strategy::after_write(st, rt, Committed::Written { old, new: &object });
    Ok(Written { object, created, warnings })
}

/// Replaces an object (PUT), or its status with `subresource == "status"`.
pub fn update(
    st: &mut ClusterState,
    caller: &Caller,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    subresource: &str,
    mut body: Value,
) -> ApiResult<Written> {
    check_body(rt, &mut body, ns, Some(name))?;
    let warnings = check_schema(rt, &mut body, caller.validation)?;
    strategy::normalize(rt, &mut body)?;
    let old = super::get(st, rt, ns, name)?.value();
    if let Some(rv) = str_at(&body, "/metadata/resourceVersion").filter(|rv| !rv.is_empty())
        && Some(rv) != str_at(&old, "/metadata/resourceVersion")
    {
        return Err(ApiError::conflict(rt, name));
    }
    let mut merged = merge_for_update(rt, &old, body, subresource);
    record_update(Some(&old), &mut merged, &caller.manager, &rt.api_version(), subresource, &clock::now());
    finish_update(st, caller, rt, &old, merged, warnings)
}

/// The object a PUT stores: server-set metadata kept, status or spec kept according to
/// the subresource written.
fn merge_for_update(rt: &ResourceType, old: &Value, mut body: Value, subresource: &str) -> Value {
    if subresource == "status" {
        let mut merged = old.clone();
        merged["status"] = body.get("status").cloned().unwrap_or(Value::Null);
        if merged["status"].is_null()
            && let Some(map) = merged.as_object_mut()
        {
            map.remove("status");
        }
        return merged;
    }
    if rt.status_subresource
        && let Some(map) = body.as_object_mut()
    {
        match old.get("status") {
            Some(status) => {
                map.insert("status".into(), status.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    for field in
        ["uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"]
    {
        match old.pointer(&format!("/metadata/{field}")) {
            Some(v) => body["metadata"][field] = v.clone(),
            None => {
                if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove(field);
                }
            }
        }
    }
    body
}

/// Whether anything outside metadata (and status, for kinds with a status subresource
/// or built-in kinds) differs: what bumps the generation.
fn spec_changed(rt: &ResourceType, old: &Value, new: &Value) -> bool {
    let skip = |k: &str| k == "metadata" || (k == "status" && (rt.status_subresource || rt.is_builtin()));
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else { return old != new };
    a.iter().filter(|(k, _)| !skip(k)).any(|(k, v)| b.get(k) != Some(v))
        || b.iter().filter(|(k, _)| !skip(k)).any(|(k, _)| !a.contains_key(k))
}

/// Whether two versions are the same but for the times in managedFields.
fn same_but_managed_times(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return a == b };
    if a.len() != b.len() || a.iter().any(|(k, v)| k != "metadata" && b.get(k) != Some(v)) {
        return false;
    }
    let (Some(ma), Some(mb)) =
        (a.get("metadata").and_then(Value::as_object), b.get("metadata").and_then(Value::as_object))
    else {
        return a.get("metadata") == b.get("metadata");
    };
    if ma.len() != mb.len() || ma.iter().any(|(k, v)| k != "managedFields" && mb.get(k) != Some(v)) {
        return false;
    }
    let empty = Vec::new();
    let ea = ma.get("managedFields").and_then(Value::as_array).unwrap_or(&empty);
    let eb = mb.get("managedFields").and_then(Value::as_array).unwrap_or(&empty);
    ea.len() == eb.len()
        && ea.iter().zip(eb).all(|(x, y)| match (x.as_object(), y.as_object()) {
            (Some(x), Some(y)) => x.len() == y.len() && x.iter().all(|(k, v)| k == "time" || y.get(k) == Some(v)),
            _ => x == y,
        })
}

fn finish_update(
    st: &mut ClusterState,
    caller: &Caller,
    rt: &ResourceType,
    old: &Value,
    mut new: Value,
    warnings: Vec<String>,
) -> ApiResult<Written> {
    check_metadata(rt, &new)?;
    strategy::validate(rt, &new, Some(old))?;
    strategy::admit(st, rt, &new, false)?;
    if old.pointer("/metadata/generation").is_some() && spec_changed(rt, old, &new) {
        let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    // A write that changes nothing is not a new version (no event, same resourceVersion).
    if same_but_managed_times(&new, old) {
        return Ok(Written { object: old.clone(), created: false, warnings });
    }
    // The last finalizer removed from an object being deleted: now it goes.
    let finalizers_done = new.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty);
    if new.pointer("/metadata/deletionTimestamp").is_some() && finalizers_done && !is_namespace(rt) {
        if caller.dry_run {
            return Ok(Written { object: new, created: false, warnings });
        }
        let ns = str_at(&new, "/metadata/namespace").unwrap_or_default().to_owned();
        let name = str_at(&new, "/metadata/name").unwrap_or_default().to_owned();
        st.store.delete(&rt.group_resource(), &ns, &name);
        strategy::after_write(st, rt, Committed::Deleted(&new));
        return Ok(Written { object: new, created: false, warnings });
    }
    commit(st, caller, rt, Some(old), new, warnings)
}

fn is_namespace(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.plural == "namespaces"
}

/// Patches an object (PATCH) with any patch type, including server-side apply.
#[allow(clippy::too_many_arguments)]
pub fn patch(
    st: &mut ClusterState,
    caller: &Caller,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    subresource: &str,
    kind: PatchType,
    body: Value,
    force: bool,
) -> ApiResult<Written> {
    if kind == PatchType::Strategic && !rt.supports_strategic_merge() {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "strategic merge patch is not supported for custom resources; use a JSON merge patch or server-side apply",
        ));
    }
    if kind == PatchType::Apply {
        return apply(st, caller, rt, ns, name, subresource, body, force);
    }
    let old = super::get(st, rt, ns, name)?.value();
    let mut patched = apply_patch(&old, kind, &body)?;
    if let Some(rv) = str_at(&patched, "/metadata/resourceVersion")
        && Some(rv) != str_at(&old, "/metadata/resourceVersion")
    {
        return Err(ApiError::conflict(rt, name));
    }
    check_body(rt, &mut patched, ns, Some(name))?;
    let warnings = check_schema(rt, &mut patched, caller.validation)?;
    strategy::normalize(rt, &mut patched)?;
    let mut merged = merge_for_update(rt, &old, patched, subresource);
    record_update(Some(&old), &mut merged, &caller.manager, &rt.api_version(), subresource, &clock::now());
    finish_update(st, caller, rt, &old, merged, warnings)
}

#[allow(clippy::too_many_arguments)]
fn apply(
    st: &mut ClusterState,
    caller: &Caller,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    subresource: &str,
    mut config: Value,
    force: bool,
) -> ApiResult<Written> {
    check_body(rt, &mut config, ns, Some(name))?;
    let warnings = check_schema(rt, &mut config, caller.validation)?;
    strategy::normalize(rt, &mut config)?;
    let old = st.store.get(&rt.group_resource(), if rt.namespaced { ns } else { "" }, name).map(|o| o.value());
    let now = clock::now();
    let request = ApplyRequest {
        config: &config,
        manager: &caller.manager,
        force,
        api_version: &rt.api_version(),
        time: &now,
        subresource,
        status_subresource: rt.status_subresource,
    };
    let merged = server_side_apply(old.as_ref(), &request)
        .map_err(|conflicts| ApiError::apply_conflict(rt, name, &conflicts))?;
    match old {
        None => {
            if subresource == "status" {
                return Err(ApiError::not_found(rt, name));
            }
            let mut w = create(st, caller, rt, ns, merged)?;
            w.warnings.extend(warnings);
            Ok(w)
        }
        Some(old) => finish_update(st, caller, rt, &old, merged, warnings),
    }
}

/// Delete options of a DELETE request.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// Deletes an object; returns it as it was last (with `deletionTimestamp` when it waits
/// for finalizers, and a Terminating phase for namespaces).
pub fn delete(
    st: &mut ClusterState,
    caller: &Caller,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<Value> {
    let old = super::get(st, rt, ns, name)?.value();
    if let Some(uid) = &opts.precondition_uid
        && Some(uid.as_str()) != str_at(&old, "/metadata/uid")
    {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                str_at(&old, "/metadata/uid").unwrap_or_default()
            ),
        ));
    }
    if let Some(rv) = &opts.precondition_rv
        && Some(rv.as_str()) != str_at(&old, "/metadata/resourceVersion")
    {
        return Err(ApiError::conflict(rt, name));
    }
    let has_finalizers = old.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    if is_namespace(rt) || has_finalizers {
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(old);
        }
        let mut marked = old.clone();
        marked["metadata"]["deletionTimestamp"] = json!(clock::now());
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if is_namespace(rt) {
            marked["status"]["phase"] = json!("Terminating");
        }
        if caller.dry_run {
            return Ok(marked);
        }
        st.store.put(&rt.group_resource(), &mut marked);
        return Ok(marked);
    }
    if caller.dry_run {
        return Ok(old);
    }
    let ns = if rt.namespaced { ns } else { "" };
    let last = st.store.delete(&rt.group_resource(), ns, name).map(|o| o.value()).unwrap_or(old);
    strategy::after_write(st, rt, Committed::Deleted(&last));
    Ok(last)
}

/// Deletes every object matching the selectors (DELETE on a collection).
pub fn delete_collection(
    st: &mut ClusterState,
    caller: &Caller,
    rt: &ResourceType,
    ns: Option<&str>,
    opts: &ListOptions,
) -> ApiResult<Vec<Value>> {
    let page = super::list(st, rt, ns, &ListOptions { limit: None, continue_token: None, ..opts.clone() })?;
    let mut deleted = Vec::new();
    for item in page.items {
        let v = item.value();
        let item_ns = str_at(&v, "/metadata/namespace").unwrap_or_default().to_owned();
        let name = str_at(&v, "/metadata/name").unwrap_or_default().to_owned();
        deleted.push(delete(st, caller, rt, &item_ns, &name, &DeleteOptions::default())?);
    }
    Ok(deleted)
}

/// A write of the simulator's own controllers: the whole object (or its status) replaced,
/// no precondition.
pub fn update_internal(
    st: &mut ClusterState,
    caller: &Caller,
    rt: &ResourceType,
    mut object: Value,
    subresource: &str,
) -> ApiResult<Written> {
    let ns = str_at(&object, "/metadata/namespace").unwrap_or_default().to_owned();
    let name = str_at(&object, "/metadata/name").unwrap_or_default().to_owned();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    update(st, caller, rt, &ns, &name, subresource, object)
}

/// Creates the object, or replaces spec and status of the existing one (for seeding and
/// controllers): two writes when the kind has a status subresource, like a controller.
pub fn upsert_internal(st: &mut ClusterState, caller: &Caller, rt: &ResourceType, object: Value) -> ApiResult<Value> {
    let ns = str_at(&object, "/metadata/namespace").unwrap_or_default().to_owned();
    let name = str_at(&object, "/metadata/name").unwrap_or_default().to_owned();
    let exists = st.store.get(&rt.group_resource(), if rt.namespaced { &ns } else { "" }, &name).is_some();
    let mut written = if exists {
        update_internal(st, caller, rt, object.clone(), "")?.object
    } else {
        create(st, caller, rt, &ns, object.clone())?.object
    };
    if rt.status_subresource && object.get("status").is_some() && written.get("status") != object.get("status") {
        let mut with_status = written.clone();
        with_status["status"] = object["status"].clone();
        written = update_internal(st, caller, rt, with_status, "status")?.object;
    }
    Ok(written)
}

/// Reads an object, lets `change` edit it, and writes it back if it changed.
pub fn modify_internal(
    st: &mut ClusterState,
    caller: &Caller,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    subresource: &str,
    change: impl FnOnce(&mut Value),
) -> ApiResult<Value> {
    let mut object = super::get(st, rt, ns, name)?.value();
    let before = object.clone();
    change(&mut object);
    if object == before {
        return Ok(before);
    }
    Ok(update_internal(st, caller, rt, object, subresource)?.object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Registry;

    #[test]
    fn generation_follows_spec_changes_only() {
        let registry = Registry::new([]);
        let deploy = registry.lookup("apps", "v1", "deployments").unwrap();
        let old = json!({"metadata": {"name": "d", "labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {"readyReplicas": 0}});
        let mut new = old.clone();
        new["metadata"]["labels"]["a"] = json!("2");
        new["status"]["readyReplicas"] = json!(1);
        assert!(!spec_changed(deploy, &old, &new));
        new["spec"]["replicas"] = json!(2);
        assert!(spec_changed(deploy, &old, &new));
        let mut added = old.clone();
        added["extra"] = json!(1);
        assert!(spec_changed(deploy, &old, &added));
    }

    #[test]
    fn managed_field_times_do_not_make_a_change() {
        let a =
            json!({"metadata": {"name": "x", "managedFields": [{"manager": "m", "time": "t1"}]}, "data": {"k": "v"}});
        let mut b = a.clone();
        b["metadata"]["managedFields"][0]["time"] = json!("t2");
        assert!(same_but_managed_times(&a, &b));
        b["metadata"]["managedFields"][0]["manager"] = json!("other");
        assert!(!same_but_managed_times(&a, &b));
        let mut c = a.clone();
        c["data"]["k"] = json!("w");
        assert!(!same_but_managed_times(&a, &c));
    }
}
