//! The HTTP face of a simulated cluster: faults, authentication, impersonation,
//! authorization, routing to discovery, OpenAPI and the API operations, content
//! negotiation, and the audit log of every request. A resource request's own work (its
//! body read and decoded, the API operation or watch, the answer encoded) is in
//! [`resource`].

mod resource;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::audit::{AuditEvent, Level};
use super::auth::{Attributes, UserInfo};
use super::cluster::Cluster;
use super::discovery::{self, AGGREGATED_CONTENT_TYPE};
use super::fault::NoHealth;
use super::openapi;
use super::request::{Output, Query, Route, negotiate, parse_route};
use super::status::{ApiError, ApiResult};

pub type Body = BoxBody<Bytes, Infallible>;

/// What the connection tells about the client.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: std::net::SocketAddr,
    /// SHA-256 of the client certificate, when one was presented and verified.
    pub certificate: Option<[u8; 32]>,
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn response(code: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, ct);
    }
    r
}

fn error_response(err: &ApiError) -> Response<Body> {
    let mut r = response(err.code, "application/json", err.to_status().to_string());
    if let Some(secs) = err.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert("Retry-After", v);
    }
    r
}

/// The audit record of a request, filled in as it is handled.
struct Draft {
    audit_id: String,
    verb: String,
    user: UserInfo,
    impersonated: Option<UserInfo>,
    object_ref: Option<Value>,
    request_object: Option<Value>,
    response_object: Option<Value>,
    level: Level,
    decision: Option<(bool, String)>,
}

/// Handles one request.
pub async fn handle(
    cluster: Arc<Cluster>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let received = Timestamp::now();
    cluster.stats.requests.fetch_add(1, Ordering::Relaxed);
    cluster.faults.pass_hang().await;
    let faults = cluster.faults.current();
    let delay = faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let request_uri = parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_else(|| path.clone());
    let query = Query::parse(parts.uri.query());
    let route = parse_route(parts.method.as_str(), &path, &query);
    let user_agent = header(&parts.headers, "user-agent").unwrap_or_default().to_owned();
    let mut draft = Draft {
        audit_id: uuid::Uuid::new_v4().to_string(),
        verb: match &route {
            Route::Resource(r) => r.verb.clone(),
            Route::NonResource => parts.method.as_str().to_lowercase(),
        },
        user: UserInfo::anonymous(),
        impersonated: None,
        object_ref: None,
        request_object: None,
        response_object: None,
        level: Level::Metadata,
        decision: None,
    };
    let result = if faults.should_fail() {
        Err(ApiError::internal("injected fault: the simulated API server failed this request"))
    } else {
        let ctx = Ctx {
            cluster: &cluster,
            conn: &conn,
            headers: &parts.headers,
            query: &query,
            path: &path,
            user_agent: &user_agent,
        };
        ctx.process(&parts.method, route, body, &mut draft, received, &request_uri).await
    };
    let (resp, is_watch) = match result {
        Ok(Reply::Response(r)) => (r, false),
        Ok(Reply::Watch(r)) => (r, true),
        Err(e) => {
            draft.response_object = Some(e.to_status());
            (error_response(&e), false)
        }
    };
    if !is_watch && let Some(audit) = &cluster.audit {
        let code = resp.status().as_u16();
        audit.write(&audit_event(&draft, "ResponseComplete", code, &conn, &user_agent, &request_uri, received));
    }
    Ok(resp)
}

fn audit_event(
    d: &Draft,
    stage: &'static str,
    code: u16,
    conn: &ConnInfo,
    ua: &str,
    uri: &str,
    received: Timestamp,
) -> AuditEvent {
    let status = if code >= 400 {
        d.response_object.as_ref().map(|s| {
            (
                s.get("reason").and_then(Value::as_str).unwrap_or_default().to_owned(),
                s.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
            )
        })
    } else {
        None
    };
    let mut annotations = Vec::new();
    if let Some((allowed, reason)) = &d.decision {
        annotations
            .push(("authorization.k8s.io/decision".to_owned(), if *allowed { "allow" } else { "forbid" }.to_owned()));
        annotations.push(("authorization.k8s.io/reason".to_owned(), reason.clone()));
    }
    AuditEvent {
        level: d.level,
        audit_id: d.audit_id.clone(),
        stage,
        request_uri: uri.to_owned(),
        verb: d.verb.clone(),
        user: d.user.clone(),
        impersonated: d.impersonated.clone(),
        source_ip: conn.peer.ip().to_string(),
        user_agent: ua.to_owned(),
        object_ref: d.object_ref.clone(),
        code,
        status,
        request_object: d.request_object.clone(),
        response_object: d.response_object.clone(),
        received,
        annotations,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

enum Reply {
    Response(Response<Body>),
    /// A streaming watch: its audit log entries are written by the stream.
    Watch(Response<Body>),
}

struct Ctx<'a> {
    cluster: &'a Arc<Cluster>,
    conn: &'a Arc<ConnInfo>,
    headers: &'a HeaderMap,
    query: &'a Query,
    path: &'a str,
    user_agent: &'a str,
}

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

impl Ctx<'_> {
    fn authenticate(&self) -> ApiResult<UserInfo> {
        let authorization = header(self.headers, "authorization");
        if self.cluster.faults.current().reject_credentials
            && (authorization.is_some() || self.conn.certificate.is_some())
        {
            return Err(ApiError::unauthorized());
        }
        self.cluster
            .lock()
            .authn
            .authenticate(authorization, self.conn.certificate, SystemTime::now())
            .map_err(|_| ApiError::unauthorized())
    }

    /// `Impersonate-User` / `Impersonate-Group`: allowed when the user may `impersonate`.
    fn impersonate(&self, user: &UserInfo) -> ApiResult<Option<UserInfo>> {
        let Some(target) = header(self.headers, "impersonate-user") else { return Ok(None) };
        let groups: Vec<String> = self
            .headers
            .get_all("impersonate-group")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let mut st = self.cluster.lock();
        let mut check = |resource: &str, name: &str| {
            let attrs = Attributes::resource("impersonate", "", resource, "", name);
            if st.authorize(user, &attrs).allowed {
                Ok(())
            } else {
                Err(ApiError::forbidden(&user.username, "impersonate", resource, "", None))
            }
        };
        check("users", target)?;
        for g in &groups {
            check("groups", g)?;
        }
        let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
        Ok(Some(UserInfo::new(target, &group_refs)))
    }

    async fn process(
        &self,
        method: &hyper::Method,
        route: Route,
        body: Incoming,
        draft: &mut Draft,
        received: Timestamp,
        request_uri: &str,
    ) -> ApiResult<Reply> {
        let authenticated = self.authenticate()?;
        draft.user = authenticated.clone();
        let user = match self.impersonate(&authenticated)? {
            Some(imp) => {
                draft.impersonated = Some(imp.clone());
                imp
            }
            None => authenticated,
        };
        match route {
            Route::NonResource => {
                let verb = method.as_str().to_lowercase();
                let verb = if verb == "head" { "get".to_owned() } else { verb };
                let decision = self.cluster.lock().authorize(&user, &Attributes::non_resource(&verb, self.path));
                draft.decision = Some((decision.allowed, decision.reason.clone()));
                if !decision.allowed {
                    return Err(ApiError::forbidden_path(&user.username, &verb, self.path));
                }
                self.non_resource().map(Reply::Response)
            }
            Route::Resource(r) => self.resource(r, &user, body, draft, received, request_uri).await,
        }
    }

    /// Whether the scenario's faults take this health endpoint away.
    fn missing_health(&self, endpoint: &str) -> bool {
        match self.cluster.faults.current().no_health {
            Some(NoHealth::Readyz) => endpoint == "readyz",
            Some(NoHealth::ReadyzAndLivez) => true,
            None => false,
        }
    }

    fn accept(&self) -> Option<&str> {
        header(self.headers, "accept")
    }

    fn non_resource(&self) -> ApiResult<Response<Body>> {
        let registry = self.cluster.lock().registry.clone();
        let info = &self.cluster.info;
        let json_ok = |v: Value| response(200, "application/json", v.to_string());
        let parts: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let discovery_output = negotiate(self.accept(), self.query, true);
        match parts.as_slice() {
            ["version"] => Ok(json_ok(version_info(info.git_version))),
            ["livez" | "readyz"] if self.missing_health(parts[0]) => Err(ApiError::no_route()),
            ["healthz"] | ["livez"] | ["readyz"] => {
                if self.query.get("verbose").is_some() {
                    let name = parts[0];
                    let text = format!(
                        "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]poststarthook/start-apiextensions-controllers ok\n{name} check passed\n"
                    );
                    Ok(response(200, "text/plain; charset=utf-8", text))
                } else {
                    Ok(response(200, "text/plain; charset=utf-8", "ok"))
                }
            }
            ["healthz" | "livez" | "readyz", _check] => Ok(response(200, "text/plain; charset=utf-8", "ok")),
            ["api"] => match discovery_output {
                Some(Output::AggregatedDiscovery) => {
                    Ok(response(200, AGGREGATED_CONTENT_TYPE, discovery::aggregated(&registry, true).to_string()))
                }
                _ => Ok(json_ok(discovery::api_versions(info.server.trim_start_matches("https://")))),
            },
            ["apis"] => match discovery_output {
                Some(Output::AggregatedDiscovery) => {
                    Ok(response(200, AGGREGATED_CONTENT_TYPE, discovery::aggregated(&registry, false).to_string()))
                }
                _ => Ok(json_ok(discovery::group_list(&registry))),
            },
            ["api", version] => {
                discovery::resource_list(&registry, "", version).map(json_ok).ok_or_else(ApiError::no_route)
            }
            ["apis", group] => discovery::group(&registry, group).map(json_ok).ok_or_else(ApiError::no_route),
            ["apis", group, version] => {
                discovery::resource_list(&registry, group, version).map(json_ok).ok_or_else(ApiError::no_route)
            }
            ["openapi", "v2"] => {
                let accept = self.accept().unwrap_or("application/json");
                if accept.split(',').all(|r| r.contains("protobuf")) {
                    return Err(ApiError::not_acceptable(accept));
                }
                Ok(response(200, "application/json", openapi::v2_document(&registry, info.git_version)))
            }
            ["openapi", "v3"] => Ok(json_ok(openapi::v3_index(&registry, info.git_version))),
            ["openapi", "v3", "api", version] => openapi::v3_document(&registry, "", version, info.git_version)
                .map(|d| response(200, "application/json", d))
                .ok_or_else(ApiError::no_route),
            ["openapi", "v3", "apis", group, version] => {
                openapi::v3_document(&registry, group, version, info.git_version)
                    .map(|d| response(200, "application/json", d))
                    .ok_or_else(ApiError::no_route)
            }
            _ => Err(ApiError::no_route()),
        }
    }
}

/// The `/version` document of a cluster running `git_version` ("v1.33.4").
pub fn version_info(git_version: &str) -> Value {
    let trimmed = git_version.trim_start_matches('v');
    let mut parts = trimmed.split('.');
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("0");
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": minor.parse::<u32>().map(|m| m.saturating_sub(1).to_string()).unwrap_or_default(),
        "gitVersion": git_version,
        "gitCommit": "7b1c2a0f5e3d4c6b8a9e0f1d2c3b4a5968778695",
        "gitTreeState": "clean",
        "buildDate": "2025-08-12T17:03:25Z",
        "goVersion": "go1.24.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}
