//! The review kinds, answered and never stored: SelfSubjectAccessReview (`kubectl auth
//! can-i`), SelfSubjectRulesReview (`can-i --list`), SelfSubjectReview (`auth whoami`),
//! and TokenRequest (`kubectl create token`).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::strategy::new_token;
use crate::auth::{Attributes, TokenEntry, UserInfo};
use crate::clock;
use crate::resource::GroupResource;
use crate::state::ClusterState;
use crate::status::{ApiError, ApiResult};

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Answers a review kind for `user`; `kind` is the resource's Kind.
pub fn answer(st: &mut ClusterState, user: &UserInfo, kind: &str, mut body: Value) -> ApiResult<Value> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the body of the request was not a JSON object"));
    }
    match kind {
        "SelfSubjectAccessReview" => {
            let attrs = if let Some(ra) = body.pointer("/spec/resourceAttributes") {
                Attributes {
                    verb: text(ra, "verb"),
                    resource_request: true,
                    api_group: text(ra, "group"),
                    resource: text(ra, "resource"),
                    subresource: text(ra, "subresource"),
                    name: text(ra, "name"),
                    namespace: text(ra, "namespace"),
                    path: String::new(),
                }
            } else if let Some(nra) = body.pointer("/spec/nonResourceAttributes") {
                Attributes::non_resource(&text(nra, "verb"), &text(nra, "path"))
            } else {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
                ));
            };
            let decision = st.authorize(user, &attrs);
            let mut status = json!({"allowed": decision.allowed});
            if !decision.reason.is_empty() {
                status["reason"] = json!(decision.reason);
            }
            body["status"] = status;
            body["metadata"] = json!({"creationTimestamp": null});
            Ok(body)
        }
        "SelfSubjectRulesReview" => {
            let (resource_rules, non_resource_rules) = st.rules_for(user);
            body["status"] =
                json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false});
            body["metadata"] = json!({"creationTimestamp": null});
            Ok(body)
        }
        "SelfSubjectReview" => {
            body["status"] = json!({"userInfo": user.to_json()});
            body["metadata"] = json!({"creationTimestamp": clock::now()});
            Ok(body)
        }
        other => Err(ApiError::bad_request(format!("{other} cannot be reviewed"))),
    }
}

/// `serviceaccounts/<name>/token`: a bound token for the service account, valid for
/// `spec.expirationSeconds` (default one hour, at least ten minutes).
pub fn token_request(st: &mut ClusterState, ns: &str, sa_name: &str, mut body: Value) -> ApiResult<Value> {
    let sa = st
        .store
        .get(&GroupResource::new("", "serviceaccounts"), ns, sa_name)
        .map(|o| o.value())
        .ok_or_else(|| ApiError::new(404, "NotFound", format!("serviceaccounts \"{sa_name}\" not found")))?;
    let seconds = body.pointer("/spec/expirationSeconds").and_then(Value::as_u64).unwrap_or(3600);
    if seconds < 600 {
        return Err(ApiError::new(
            422,
            "Invalid",
            "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes",
        ));
    }
    let uid = sa.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
    let token = new_token();
    let expires = SystemTime::now() + Duration::from_secs(seconds);
    st.authn.add_token(
        &token,
        TokenEntry { user: UserInfo::service_account(ns, sa_name, uid), expires: Some(expires), secret: None },
    );
    let expiration = jiff::Timestamp::try_from(expires).map(clock::rfc3339).unwrap_or_default();
    if !body.is_object() {
        body = json!({});
    }
    body["apiVersion"] = json!("authentication.k8s.io/v1");
    body["kind"] = json!("TokenRequest");
    body["metadata"] = json!({"name": sa_name, "namespace": ns, "creationTimestamp": null});
    body["spec"]["expirationSeconds"] = json!(seconds);
    body["status"] = json!({"token": token, "expirationTimestamp": expiration});
    Ok(body)
}
