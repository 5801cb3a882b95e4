//! A resource request: its body read and decoded, the API operation (or watch) under
//! the caller's options, and the answer encoded as the client asked.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::api::validate::FieldValidation;
use crate::api::write::{self, DeleteOptions};
use crate::api::{self, Caller, ListOptions, patch::PatchType, review};
use crate::audit::Level;
use crate::auth::{Attributes, UserInfo};
use crate::protobuf;
use crate::request::{Output, ResourceRequest, negotiate};
use crate::resource::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult, success_status};
use crate::table;
use crate::watch::{self, WatchRequest};

use super::{Body, Ctx, Draft, PROTOBUF, Reply, audit_event, header, response};

impl Ctx<'_> {
    /// Reads the body up to the size limit. A larger body is still read (and dropped) up
    /// to a hard cap, so the client is not cut off mid-upload and sees the 413.
    async fn read_body(&self, mut body: Incoming) -> ApiResult<Bytes> {
        let max = self.cluster.settings.max_body;
        let drain_cap = max.saturating_mul(8);
        let mut buf = bytes::BytesMut::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiError::bad_request(format!("error reading the request body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen <= max {
                    buf.extend_from_slice(&data);
                } else if seen > drain_cap {
                    break;
                }
            }
        }
        if seen > max {
            return Err(ApiError::too_large(max));
        }
        Ok(buf.freeze())
    }

    fn content_type(&self) -> &str {
        header(self.headers, "content-type").unwrap_or("application/json")
    }

    /// Decodes a JSON or YAML body.
    fn decode(&self, bytes: &[u8], yaml: bool) -> ApiResult<Value> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("the body of the request was empty"));
        }
        if yaml {
            return serde_saphyr::from_slice::<Value>(bytes)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}")))
    }

    fn decode_object(&self, bytes: &[u8]) -> ApiResult<Value> {
        let ct = self.content_type().split(';').next().unwrap_or_default().trim().to_owned();
        match ct.as_str() {
            "application/json" | "" | "*/*" => self.decode(bytes, false),
            "application/yaml" | "text/yaml" => self.decode(bytes, true),
            PROTOBUF => protobuf::decode(bytes).map_err(|e| {
                ApiError::bad_request(format!("error decoding the protobuf body: {} (the simulated API server decodes the built-in kinds kubectl sends; use JSON for others)", e.0))
            }),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }

    fn caller(&self, dry_run: bool, apply: bool) -> ApiResult<Caller> {
        let validation = FieldValidation::parse(self.query.get("fieldValidation"))?;
        let manager = match self.query.get("fieldManager") {
            Some(m) if m.len() > 128 => {
                return Err(ApiError::bad_request("fieldManager is too long (must be at most 128 characters)"));
            }
            Some(m) if !m.is_empty() => m.to_owned(),
            _ if apply => return Err(ApiError::bad_request("PATCH, fieldManager is required for apply requests")),
            _ => {
                let prefix = self.user_agent.split('/').next().unwrap_or_default();
                if prefix.is_empty() { "unknown".to_owned() } else { prefix.to_owned() }
            }
        };
        Ok(Caller { manager, dry_run, validation, internal: false })
    }

    fn dry_run(&self) -> ApiResult<bool> {
        match self.query.all("dryRun") {
            [] => Ok(false),
            values if values.iter().all(|v| v == "All") => Ok(true),
            values => Err(ApiError::bad_request(format!("Invalid dry run value: {}", values.join(",")))),
        }
    }

    fn list_options(&self, rt: &ResourceType) -> ApiResult<ListOptions> {
        let limit = match self.query.get("limit") {
            Some(l) => Some(l.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?),
            None => None,
        };
        Ok(ListOptions {
            labels: LabelSelector::parse(self.query.get("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(self.query.get("fieldSelector").unwrap_or_default(), rt)?,
            limit,
            continue_token: self.query.get("continue").map(str::to_owned),
            resource_version: self.query.get("resourceVersion").map(str::to_owned),
            resource_version_match: self.query.get("resourceVersionMatch").map(str::to_owned),
        })
    }

    fn output(&self) -> ApiResult<Output> {
        negotiate(self.accept(), self.query, false)
            .ok_or_else(|| ApiError::not_acceptable(self.accept().unwrap_or(PROTOBUF)))
    }

    fn encode(
        &self,
        rt: &ResourceType,
        object: &Value,
        output: Output,
        code: u16,
        warnings: &[String],
    ) -> Response<Body> {
        let (content_type, body) = match output {
            Output::Table(include) => {
                let meta = json!({"resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
                (
                    "application/json",
                    table::table(rt, std::slice::from_ref(object), meta, include, Timestamp::now()).to_string(),
                )
            }
            Output::Metadata => ("application/json", table::partial_metadata(object).to_string()),
            Output::Yaml => ("application/yaml", serde_saphyr::to_string(object).unwrap_or_default()),
            Output::Json | Output::AggregatedDiscovery => ("application/json", object.to_string()),
        };
        let mut r = response(code, content_type, body);
        for w in warnings {
            if let Ok(v) = HeaderValue::from_str(&format!("299 - {}", json!(w))) {
                r.headers_mut().append("Warning", v);
            }
        }
        r
    }

    pub(super) async fn resource(
        &self,
        r: ResourceRequest,
        user: &UserInfo,
        body: Incoming,
        draft: &mut Draft,
        received: Timestamp,
        request_uri: &str,
    ) -> ApiResult<Reply> {
        let rt = {
            let st = self.cluster.lock();
            st.registry.lookup(&r.group, &r.version, &r.resource).cloned()
        };
        let mut object_ref = json!({"resource": r.resource, "apiVersion": r.version});
        if !r.group.is_empty() {
            object_ref["apiGroup"] = json!(r.group);
        }
        for (k, v) in [("namespace", &r.namespace), ("name", &r.name), ("subresource", &r.subresource)] {
            if !v.is_empty() {
                object_ref[k] = json!(v);
            }
        }
        draft.object_ref = Some(object_ref);
        let attrs = Attributes {
            verb: r.verb.clone(),
            resource_request: true,
            api_group: r.group.clone(),
            resource: r.resource.clone(),
            subresource: r.subresource.clone(),
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            path: self.path.to_owned(),
        };
        let decision = self.cluster.lock().authorize(user, &attrs);
        draft.decision = Some((decision.allowed, decision.reason.clone()));
        if !decision.allowed {
            let qualified = attrs.qualified_resource();
            return Err(ApiError::forbidden(&user.username, &r.verb, &qualified, &r.group, Some(&r.namespace)));
        }
        let Some(rt) = rt else { return Err(ApiError::no_route()) };
        let mutating = matches!(r.verb.as_str(), "create" | "update" | "patch" | "delete" | "deletecollection");
        if mutating && !rt.virtual_only {
            self.cluster.stats.record_write(format!("{} {request_uri} by {}", r.verb, user.username));
            if rt.plural != "secrets" {
                draft.level = Level::RequestResponse;
            }
        }
        let verb_ok = match r.subresource.as_str() {
            "" => rt.has_verb(&r.verb),
            "status" => rt.status_subresource && matches!(r.verb.as_str(), "get" | "update" | "patch"),
            "finalize" => rt.plural == "namespaces" && r.verb == "update",
            sub => {
                rt.extra_subresources.iter().any(|(name, _, verbs)| *name == sub && verbs.contains(&r.verb.as_str()))
            }
        };
        if !verb_ok {
            if r.subresource.is_empty() || rt.status_subresource || !rt.extra_subresources.is_empty() {
                return Err(ApiError::method_not_supported(&rt, &r.verb));
            }
            return Err(ApiError::no_route());
        }
        if rt.namespaced && r.namespace.is_empty() && !r.name.is_empty() {
            return Err(ApiError::no_route());
        }
        let output = self.output()?;
        match r.verb.as_str() {
            "get" => {
                let obj = api::get(&self.cluster.lock(), &rt, &r.namespace, &r.name)?.value();
                Ok(Reply::Response(self.encode(&rt, &obj, output, 200, &[])))
            }
            "list" => {
                let opts = self.list_options(&rt)?;
                let page = {
                    let st = self.cluster.lock();
                    api::list(&st, &rt, Some(&r.namespace), &opts)?
                };
                let body: Bytes = match output {
                    Output::Json | Output::AggregatedDiscovery => api::list_json(&rt, &page).into(),
                    Output::Yaml => {
                        let v: Value = serde_json::from_slice(&api::list_json(&rt, &page)).unwrap_or(Value::Null);
                        serde_saphyr::to_string(&v).unwrap_or_default().into()
                    }
                    Output::Table(include) => {
                        let items: Vec<Value> = page.items.iter().map(|i| i.value()).collect();
                        let mut meta = json!({"resourceVersion": page.resource_version.to_string()});
                        if let Some(c) = &page.continue_token {
                            meta["continue"] = json!(c);
                        }
                        table::table(&rt, &items, meta, include, Timestamp::now()).to_string().into()
                    }
                    Output::Metadata => {
                        let items: Vec<Value> =
                            page.items.iter().map(|i| table::partial_metadata(&i.value())).collect();
                        let mut meta = json!({"resourceVersion": page.resource_version.to_string()});
                        if let Some(c) = &page.continue_token {
                            meta["continue"] = json!(c);
                        }
                        json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items})
                            .to_string()
                            .into()
                    }
                };
                let content_type = if output == Output::Yaml { "application/yaml" } else { "application/json" };
                Ok(Reply::Response(response(200, content_type, body)))
            }
            "watch" => self.watch(rt, &r, output, draft, received, request_uri),
            "create" => {
                let bytes = self.read_body(body).await?;
                let obj = self.decode_object(&bytes)?;
                draft.request_object = Some(obj.clone());
                if r.subresource == "token" {
                    let answer = review::token_request(&mut self.cluster.lock(), &r.namespace, &r.name, obj)?;
                    draft.level = Level::Metadata;
                    return Ok(Reply::Response(self.encode(&rt, &answer, Output::Json, 201, &[])));
                }
                if rt.virtual_only {
                    let answer = review::answer(&mut self.cluster.lock(), user, &rt.kind, obj)?;
                    draft.response_object = Some(answer.clone());
                    return Ok(Reply::Response(self.encode(&rt, &answer, Output::Json, 201, &[])));
                }
                let caller = self.caller(self.dry_run()?, false)?;
                let written = write::create(&mut self.cluster.lock(), &caller, &rt, &r.namespace, obj)?;
                // The audit log names the created object, as the API server's does.
                if let (Some(object_ref), Some(name)) =
                    (draft.object_ref.as_mut(), written.object.pointer("/metadata/name"))
                {
                    object_ref["name"] = name.clone();
                }
                draft.response_object = Some(written.object.clone());
                Ok(Reply::Response(self.encode(&rt, &written.object, output, 201, &written.warnings)))
            }
            "update" => {
                let bytes = self.read_body(body).await?;
                let obj = self.decode_object(&bytes)?;
                draft.request_object = Some(obj.clone());
                let caller = self.caller(self.dry_run()?, false)?;
                let sub = if r.subresource == "finalize" { "" } else { r.subresource.as_str() };
                let written = write::update(&mut self.cluster.lock(), &caller, &rt, &r.namespace, &r.name, sub, obj)?;
                draft.response_object = Some(written.object.clone());
                Ok(Reply::Response(self.encode(&rt, &written.object, output, 200, &written.warnings)))
            }
            "patch" => {
                let ct = self.content_type().to_owned();
                let kind = PatchType::from_content_type(&ct).ok_or_else(|| ApiError::unsupported_media_type(&ct))?;
                let bytes = self.read_body(body).await?;
                let patch = self.decode(&bytes, kind == PatchType::Apply)?;
                draft.request_object = Some(patch.clone());
                let force = self.query.flag("force");
                if force && kind != PatchType::Apply {
                    return Err(ApiError::bad_request("force flag can only be used with server-side apply"));
                }
                let caller = self.caller(self.dry_run()?, kind == PatchType::Apply)?;
                let written = write::patch(
                    &mut self.cluster.lock(),
                    &caller,
                    &rt,
                    &r.namespace,
                    &r.name,
                    &r.subresource,
                    kind,
                    patch,
                    force,
                )?;
                draft.response_object = Some(written.object.clone());
                let code = if written.created { 201 } else { 200 };
                Ok(Reply::Response(self.encode(&rt, &written.object, output, code, &written.warnings)))
            }
            "delete" => {
                let bytes = self.read_body(body).await?;
                let options =
                    if bytes.iter().all(u8::is_ascii_whitespace) { json!({}) } else { self.decode(&bytes, false)? };
                let dry_run = self.dry_run()? || options.pointer("/dryRun/0") == Some(&json!("All"));
                let caller = self.caller(dry_run, false)?;
                let opts = DeleteOptions {
                    precondition_uid: options.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_owned),
                    precondition_rv: options
                        .pointer("/preconditions/resourceVersion")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                };
                let deleted = write::delete(&mut self.cluster.lock(), &caller, &rt, &r.namespace, &r.name, &opts)?;
                draft.response_object = Some(deleted.clone());
                let still_there = deleted.pointer("/metadata/deletionTimestamp").is_some();
                if output == Output::Json && !still_there && rt.plural == "events" {
                    let uid = deleted.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
                    return Ok(Reply::Response(response(
                        200,
                        "application/json",
                        success_status(&rt, &r.name, uid).to_string(),
                    )));
                }
                Ok(Reply::Response(self.encode(&rt, &deleted, output, if still_there { 202 } else { 200 }, &[])))
            }
            "deletecollection" => {
                let caller = self.caller(self.dry_run()?, false)?;
                let opts = self.list_options(&rt)?;
                let deleted =
                    write::delete_collection(&mut self.cluster.lock(), &caller, &rt, Some(&r.namespace), &opts)?;
                let list =
                    json!({"kind": rt.list_kind, "apiVersion": rt.api_version(), "metadata": {}, "items": deleted});
                Ok(Reply::Response(response(200, "application/json", list.to_string())))
            }
            other => Err(ApiError::new(405, "MethodNotAllowed", format!("{other} is not supported"))),
        }
    }

    fn watch(
        &self,
        rt: Arc<ResourceType>,
        r: &ResourceRequest,
        output: Output,
        draft: &mut Draft,
        received: Timestamp,
        request_uri: &str,
    ) -> ApiResult<Reply> {
        let mut options = self.list_options(&rt)?;
        if !r.name.is_empty() {
            options.fields = FieldSelector::parse(&format!("metadata.name={}", r.name), &rt)?;
        }
        let timeout = match self.query.get("timeoutSeconds") {
            Some(t) => Some(Duration::from_secs(
                t.parse().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t}")))?,
            )),
            None => None,
        };
        let send_initial = self.query.flag("sendInitialEvents");
        if send_initial && self.query.get("resourceVersionMatch") != Some("NotOlderThan") {
            return Err(ApiError::new(
                422,
                "Invalid",
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        let request = WatchRequest {
            rt,
            namespace: Some(r.namespace.clone()),
            resource_version: options.resource_version.clone(),
            options,
            bookmarks: self.query.flag("allowWatchBookmarks"),
            send_initial_events: send_initial,
            timeout,
            output,
        };
        let audit = self.cluster.audit.is_some().then(|| {
            let cluster = self.cluster.clone();
            let snapshot = Draft {
                audit_id: draft.audit_id.clone(),
                verb: draft.verb.clone(),
                user: draft.user.clone(),
                impersonated: draft.impersonated.clone(),
                object_ref: draft.object_ref.clone(),
                request_object: None,
                response_object: None,
                level: Level::Metadata,
                decision: draft.decision.clone(),
            };
            (cluster, snapshot)
        });
        if let Some((cluster, snapshot)) = &audit
            && let Some(log) = &cluster.audit
        {
            log.write(&audit_event(
                snapshot,
                "ResponseStarted",
                200,
                self.conn,
                self.user_agent,
                request_uri,
                received,
            ));
        }
        let conn = self.conn.clone();
        let ua = self.user_agent.to_owned();
        let uri = request_uri.to_owned();
        let rx = watch::start(self.cluster.clone(), request, move |_end| {
            if let Some((cluster, snapshot)) = audit
                && let Some(log) = &cluster.audit
            {
                log.write(&audit_event(&snapshot, "ResponseComplete", 200, &conn, &ua, &uri, received));
            }
        })?;
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|frame| (Ok::<_, Infallible>(Frame::data(frame)), rx))
        });
        // Watch events are JSON lines whatever the object representation.
        let mut resp = Response::new(StreamBody::new(stream).boxed());
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(Reply::Watch(resp))
    }
}
