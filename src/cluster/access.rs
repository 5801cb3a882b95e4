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

/// The writes of `WRITES` the credentials are allowed, or why the review failed.
pub async fn review(client: &kube::Client, timeout: Duration) -> Result<Vec<String>, ErrorInfo> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut allowed = Vec::new();
    for write in WRITES {
        let (verb, group, resource) = write;
        let ask = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_owned()),
                    group: Some(group.to_owned()),
                    resource: Some(resource.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = match tokio::time::timeout(timeout, api.create(&PostParams::default(), &ask)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                let (failure, message) = classify(&e);
                return Err(ErrorInfo::new(failure, format!("SelfSubjectAccessReview: {message}"), Timestamp::now()));
            }
            Err(_) => {
                return Err(ErrorInfo::new(Failure::Timeout, "SelfSubjectAccessReview timed out", Timestamp::now()));
            }
        };
        if answer.status.is_some_and(|s| s.allowed) {
            allowed.push(describe(write));
        }
    }
    Ok(allowed)
}
