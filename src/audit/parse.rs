//! Reading the three kinds of input into records: `audit.k8s.io/v1` Event lines (and the
//! EventList a webhook posts), core/v1 Events, and journal lines. Input is outside data:
//! anything that is not what it claims gives an error to count, never a panic.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::record::{AuditRecord, Severity, Source, cut, plural};
use crate::fields::text;
use crate::fleet::event::EventSummary;
use crate::journal::Entry;
use crate::journal::event::EVENT_REASON_PREFIX;

/// What one audit line gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Record(Box<AuditRecord>),
    /// A well-formed event the timeline leaves out (the RequestReceived stage: the
    /// ResponseComplete of the same request says everything it says, and more).
    Skipped,
}

#[derive(Deserialize)]
struct UserInfo {
    #[serde(default)]
    username: String,
}

#[derive(Deserialize, Default)]
struct ObjectRef {
    #[serde(default)]
    resource: String,
    #[serde(default)]
    subresource: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
struct ResponseStatus {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct AuditEvent {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    stage: String,
    #[serde(rename = "requestURI", default)]
    request_uri: String,
    verb: String,
    user: UserInfo,
    #[serde(rename = "impersonatedUser", default)]
    impersonated: Option<UserInfo>,
    #[serde(rename = "objectRef", default)]
    object_ref: Option<ObjectRef>,
    #[serde(rename = "responseStatus", default)]
    response_status: Option<ResponseStatus>,
    #[serde(rename = "requestReceivedTimestamp", default)]
    received: Option<Timestamp>,
    #[serde(rename = "stageTimestamp", default)]
    stage_time: Option<Timestamp>,
}

/// One line of an audit log: an `audit.k8s.io/v1` Event.
pub fn audit_line(cluster: &Arc<str>, line: &str) -> Result<Parsed, String> {
    let event: AuditEvent = serde_json::from_str(line).map_err(|e| e.to_string())?;
    audit_event(cluster, event, line)
}

fn audit_event(cluster: &Arc<str>, e: AuditEvent, raw: &str) -> Result<Parsed, String> {
    if !e.api_version.starts_with("audit.k8s.io/") || e.kind != "Event" {
        return Err(format!("not an audit.k8s.io Event (apiVersion {:?}, kind {:?})", e.api_version, e.kind));
    }
    if e.stage == "RequestReceived" {
        return Ok(Parsed::Skipped);
    }
    let time = e.stage_time.or(e.received).ok_or("no stageTimestamp or requestReceivedTimestamp")?;
    let mut user = e.user.username;
    if let Some(imp) = e.impersonated.filter(|u| !u.username.is_empty()) {
        user = format!("{user} as {}", imp.username);
    }
    let object = e.object_ref.unwrap_or_default();
    let resource = if object.subresource.is_empty() {
        object.resource
    } else {
        format!("{}/{}", object.resource, object.subresource)
    };
    let status = e.response_status.unwrap_or_default();
    let (outcome, severity) = match (e.stage.as_str(), status.code) {
        ("ResponseStarted", _) => ("started".to_owned(), Severity::Ok),
        ("Panic", _) => ("panic".to_owned(), Severity::Fail),
        (_, Some(code)) => {
            let text = if status.reason.is_empty() { code.to_string() } else { format!("{code} {}", status.reason) };
            let severity = match code {
                ..400 => Severity::Ok,
                404 | 409 | 410 => Severity::Warn,
                _ => Severity::Fail,
            };
            (text, severity)
        }
        (stage, None) => (stage.to_owned(), Severity::Ok),
    };
    Ok(Parsed::Record(Box::new(AuditRecord {
        time,
        cluster: cluster.clone(),
        source: Source::Audit,
        user,
        verb: e.verb,
        resource,
        namespace: object.namespace,
        name: object.name,
        outcome,
        severity,
        message: e.request_uri,
        id: None,
        raw: cut(raw.to_owned()),
    })))
}

/// The body an API server's audit webhook posts: an `audit.k8s.io/v1` EventList. Per
/// item, its record or why it is not one; an error when the body is not an EventList.
pub fn event_list(cluster: &Arc<str>, body: &[u8]) -> Result<Vec<Result<Parsed, String>>, String> {
    let list: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if text(&list, "/kind") != "EventList" || !text(&list, "/apiVersion").starts_with("audit.k8s.io/") {
        return Err("not an audit.k8s.io EventList".to_owned());
    }
    let items = list.get("items").and_then(Value::as_array).ok_or("an EventList without items")?;
    Ok(items
        .iter()
        .map(|item| {
            let event = AuditEvent::deserialize(item).map_err(|e| e.to_string())?;
            audit_event(cluster, event, &item.to_string())
        })
        .collect())
}

/// One journal line.
pub fn journal_line(line: &str) -> Result<AuditRecord, String> {
    let entry: Entry = serde_json::from_str(line).map_err(|e| e.to_string())?;
    Ok(AuditRecord::from_journal(&entry, ""))
}

/// A core/v1 Event as a record of `cluster`. fleetdeck's own Events carry their journal
/// entry and become that entry's record, so a journal line read locally and posted on the
/// hub is one record. None when it has no time at all.
pub fn kube_event(cluster: &Arc<str>, event: &EventSummary) -> Option<AuditRecord> {
    if event.reason.starts_with(EVENT_REASON_PREFIX)
        && let Some(entry) = event.journal_entry.as_deref().and_then(|l| serde_json::from_str::<Entry>(l).ok())
    {
        return Some(AuditRecord::from_journal(&entry, "hub Event"));
    }
    let time = event.time?;
    let mut message = event.message.clone();
    if event.count > 1 {
        message.push_str(&format!(" (×{})", event.count));
    }
    let id = if event.uid.is_empty() {
        format!("{}/{}/{}", event.namespace, event.name, event.count)
    } else {
        format!("{}/{}", event.uid, event.count)
    };
    let warning = event.is_warning();
    let object = &event.involved_object;
    Some(AuditRecord {
        time,
        cluster: cluster.clone(),
        source: super::record::Source::Event,
        user: event.reporting_component.clone(),
        verb: event.reason.clone(),
        resource: plural(&object.kind),
        namespace: object.namespace.clone(),
        name: object.name.clone(),
        outcome: if warning { "Warning".to_owned() } else { "Normal".to_owned() },
        severity: if warning { Severity::Warn } else { Severity::Ok },
        message,
        id: Some(format!("{cluster}/{id}").into_boxed_str()),
        raw: cut(serde_json::to_string(event).unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn hub() -> Arc<str> {
        Arc::from("hub")
    }

    fn fold(v: &Value) -> EventSummary {
        EventSummary::fold(v, crate::journal::event::JOURNAL_ANNOTATION)
    }

    fn record(line: &str) -> AuditRecord {
        match audit_line(&hub(), line) {
            Ok(Parsed::Record(r)) => *r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn metadata_level_events() {
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"6f1b","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?limit=500","verb":"list","user":{"username":"alice","groups":["system:authenticated"]},"sourceIPs":["10.0.0.7"],"userAgent":"kubectl/v1.33.1","objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-24T10:00:00.123456Z","stageTimestamp":"2026-11-24T10:00:00.130000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}"#;
        let r = record(line);
        assert_eq!(
            (r.user.as_str(), r.verb.as_str(), r.resource.as_str(), r.object(), r.outcome.as_str()),
            ("alice", "list", "pods", "default/".to_owned(), "200")
        );
        assert_eq!(r.time.to_string(), "2026-11-24T10:00:00.13Z");
        assert_eq!(r.severity, Severity::Ok);
        assert_eq!(r.message, "/api/v1/namespaces/default/pods?limit=500");
    }

    #[test]
    fn request_response_events_with_objects_and_subresources() {
        let line = json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete",
            "requestURI":"/apis/apps/v1/namespaces/shop/deployments/web/scale","verb":"patch","user":{"username":"system:serviceaccount:ci:deployer","uid":"u1"},
            "objectRef":{"resource":"deployments","subresource":"scale","namespace":"shop","name":"web","apiGroup":"apps","apiVersion":"v1"},
            "responseStatus":{"metadata":{},"code":200},"requestObject":{"spec":{"replicas":5}},"responseObject":{"kind":"Scale","spec":{"replicas":5}},
            "requestReceivedTimestamp":"2026-11-24T10:00:01Z","stageTimestamp":"2026-11-24T10:00:01.01Z"}).to_string();
        let r = record(&line);
        assert_eq!(r.resource, "deployments/scale");
        assert_eq!(r.object(), "shop/web");
        assert!(r.raw.contains("\"replicas\":5"), "the objects are kept for the detail");
    }

    #[test]
    fn failed_requests_impersonation_and_watches() {
        let failed = json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"delete","user":{"username":"bob"},
            "objectRef":{"resource":"secrets","namespace":"kube-system","name":"token"},
            "responseStatus":{"metadata":{},"status":"Failure","reason":"Forbidden","message":"secrets \"token\" is forbidden","code":403},
            "requestReceivedTimestamp":"2026-11-24T10:00:02Z","stageTimestamp":"2026-11-24T10:00:02Z"}).to_string();
        let r = record(&failed);
        assert_eq!((r.outcome.as_str(), r.severity), ("403 Forbidden", Severity::Fail));

        let imp = json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","user":{"username":"admin"},
            "impersonatedUser":{"username":"carol","groups":["dev"]},"objectRef":{"resource":"nodes","name":"n1"},
            "responseStatus":{"code":200},"stageTimestamp":"2026-11-24T10:00:03Z"}).to_string();
        assert_eq!(record(&imp).user, "admin as carol");

        let watch = json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseStarted","verb":"watch","user":{"username":"system:kube-controller-manager"},
            "objectRef":{"resource":"configmaps"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-24T10:00:04Z","stageTimestamp":"2026-11-24T10:00:04Z"}).to_string();
        let r = record(&watch);
        assert_eq!((r.verb.as_str(), r.outcome.as_str(), r.object()), ("watch", "started", String::new()));

        let received = json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"RequestReceived","verb":"get","user":{"username":"a"},
            "requestReceivedTimestamp":"2026-11-24T10:00:04Z"}).to_string();
        assert_eq!(audit_line(&hub(), &received), Ok(Parsed::Skipped));
    }

    #[test]
    fn garbage_is_an_error() {
        for line in [
            "",
            "not json",
            "{}",
            "[1,2]",
            r#"{"kind":"Event","apiVersion":"v1","verb":"get","user":{}}"#,
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get","user":{"username":"a"}}"#,
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":7,"user":{"username":"a"}}"#,
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get","user":{"username":"a"},"stageTimestamp":"yesterday"}"#,
        ] {
            assert!(audit_line(&hub(), line).is_err(), "{line:?}");
        }
    }

    #[test]
    fn an_event_list_gives_each_item() {
        let body = json!({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[
            {"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"create","user":{"username":"a"},"objectRef":{"resource":"pods","namespace":"x","name":"p"},"responseStatus":{"code":201},"stageTimestamp":"2026-11-24T10:00:05Z"},
            {"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get"}]}).to_string();
        let items = event_list(&hub(), body.as_bytes()).unwrap();
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0], Ok(Parsed::Record(r)) if r.outcome == "201"));
        assert!(items[1].is_err());
        assert!(event_list(&hub(), b"{\"kind\":\"Status\"}").is_err());
    }

    #[test]
    fn kubernetes_events_and_fleetdecks_own() {
        let warning = json!({"metadata":{"name":"web.1","namespace":"shop","uid":"e1"},"involvedObject":{"kind":"Pod","namespace":"shop","name":"web-1"},
            "reason":"BackOff","message":"Back-off restarting failed container","type":"Warning","count":3,
            "source":{"component":"kubelet"},"lastTimestamp":"2026-11-24T10:00:06Z"});
        let r = kube_event(&hub(), &fold(&warning)).unwrap();
        assert_eq!(
            (r.user.as_str(), r.verb.as_str(), r.resource.as_str(), r.severity),
            ("kubelet", "BackOff", "pods", Severity::Warn)
        );
        assert_eq!(r.message, "Back-off restarting failed container (×3)");
        assert_eq!(r.id.as_deref(), Some("hub/e1/3"));
        assert!(kube_event(&hub(), &fold(&json!({"reason": "x"}))).is_none(), "no time at all");

        let entry = Entry::chain(crate::journal::entry::tests::draft(1), 1, crate::journal::GENESIS);
        let posted = fold(&crate::journal::event::journal_event(&entry, "production-eu-1", "laptop"));
        assert!(posted.admitted(EVENT_REASON_PREFIX));
        let r = kube_event(&hub(), &posted).unwrap();
        assert_eq!(r.source, Source::Journal);
        assert_eq!(r.id.as_deref(), Some(entry.hash.as_str()), "the same id as the local journal's line");
        assert_eq!(journal_line(&entry.to_line()).unwrap().id, r.id);
    }

    proptest! {
        #[test]
        fn no_line_panics_the_parser(line in ".{0,400}") {
            let _ = audit_line(&hub(), &line);
            let _ = journal_line(&line);
            let _ = event_list(&hub(), line.as_bytes());
        }

        #[test]
        fn no_shape_of_json_panics_the_parsers(v in json_value()) {
            let line = v.to_string();
            let _ = audit_line(&hub(), &line);
            let _ = kube_event(&hub(), &fold(&v));
            let _ = event_list(&hub(), line.as_bytes());
        }

        #[test]
        fn mangled_real_lines_never_panic(cut_at in 0usize..600, flip in 0usize..600, byte in any::<u8>()) {
            let line = json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","user":{"username":"a"},
                "objectRef":{"resource":"pods","namespace":"x","name":"p"},"responseStatus":{"code":200},"stageTimestamp":"2026-11-24T10:00:05Z"}).to_string();
            let mut bytes = line.into_bytes();
            if flip < bytes.len() { bytes[flip] = byte; }
            bytes.truncate(cut_at.min(bytes.len()));
            let _ = audit_line(&hub(), &String::from_utf8_lossy(&bytes));
        }
    }

    /// Arbitrary JSON, with the audit and Event field names likely to appear.
    fn json_value() -> impl Strategy<Value = Value> {
        let keys = prop_oneof![
            Just("kind".to_owned()),
            Just("apiVersion".to_owned()),
            Just("verb".to_owned()),
            Just("user".to_owned()),
            Just("username".to_owned()),
            Just("objectRef".to_owned()),
            Just("responseStatus".to_owned()),
            Just("code".to_owned()),
            Just("stageTimestamp".to_owned()),
            Just("items".to_owned()),
            Just("reason".to_owned()),
            Just("metadata".to_owned()),
            Just("annotations".to_owned()),
            Just("type".to_owned()),
            Just("count".to_owned()),
            Just("lastTimestamp".to_owned()),
            "[a-z]{1,6}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
            prop_oneof![
                Just("audit.k8s.io/v1".to_owned()),
                Just("Event".to_owned()),
                Just("EventList".to_owned()),
                Just("2026-11-24T10:00:05Z".to_owned()),
                Just("FleetdeckReconcile".to_owned()),
                ".{0,12}"
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::vec((keys.clone(), inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }
}
