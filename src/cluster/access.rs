//! What a context's credentials may do, asked once after connecting: a
//! SelfSubjectAccessReview per write fleetdeck knows (`kubectl auth can-i`). A read-only
//! session warns when its credentials could write anyway; nothing here writes.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use kube::api::{Api, PostParams};

use super::errors::classify;
use crate::fleet::failure::{ErrorInfo, Failure};

/// The writes asked about, cluster-wide: (verb, API group, resource).
pub const WRITES: [(&str, &str, &str); 5] = [
    ("patch", "kustomize.toolkit.fluxcd.io", "kustomizations"),
    ("create", "velero.io", "backups"),
    ("create", "velero.io", "restores"),
    ("delete", "", "namespaces"),
    ("create", "", "secrets"),
];

/// "patch kustomizations.kustomize.toolkit.fluxcd.io".
pub fn describe((verb, group, resource): (&str, &str, &str)) -> String {
    if group.is_empty() { format!("{verb} {resource}") } else { format!("{verb} {resource}.{group}") }
}

/// Whether the credentials may `verb` a resource (`kubectl auth can-i`): a
/// SelfSubjectAccessReview, in `namespace` ("" cluster-wide), of `name` ("" any).
pub async fn can(
    client: &kube::Client,
    (verb, group, resource): (&str, &str, &str),
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<bool, ErrorInfo> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let ask = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_owned()),
                group: Some(group.to_owned()),
                resource: Some(resource.to_owned()),
                namespace: some(namespace),
                name: some(name),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    match tokio::time::timeout(timeout, api.create(&PostParams::default(), &ask)).await {
        Ok(Ok(answer)) => Ok(answer.status.is_some_and(|s| s.allowed)),
        Ok(Err(e)) => {
            let (failure, message) = classify(&e);
            Err(ErrorInfo::new(failure, format!("SelfSubjectAccessReview: {message}"), Timestamp::now()))
        }
        Err(_) => Err(ErrorInfo::new(Failure::Timeout, "SelfSubjectAccessReview timed out", Timestamp::now())),
    }
}

/// The writes of `WRITES` the credentials are allowed, or why the review failed.
pub async fn review(client: &kube::Client, timeout: Duration) -> Result<Vec<String>, ErrorInfo> {
    let mut allowed = Vec::new();
    for write in WRITES {
        if can(client, write, "", "", timeout).await? {
            allowed.push(describe(write));
        }
    }
    Ok(allowed)
}
