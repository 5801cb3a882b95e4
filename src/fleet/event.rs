//! A core/v1 Event, folded at ingest into what the audit timeline shows of it: who
//! reported what about which object, when, how often. The rest of the object (its
//! managedFields, its other annotations) never leaves the watcher.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::fields::{int, text, time};

/// The object an Event is about.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct InvolvedObject {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// An Event as the audit timeline shows it; serialized (Kubernetes field names) as the
/// record's whole entry in the audit detail.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// `Warning` or `Normal`.
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
    pub message: String,
    /// How often it happened (at least 1).
    pub count: i64,
    /// `reportingComponent`, else `source.component`.
    pub reporting_component: String,
    pub involved_object: InvolvedObject,
    /// `lastTimestamp`, else `eventTime`, `firstTimestamp`, the creation time.
    pub time: Option<Timestamp>,
    /// The annotation a fleetdeck journal Event carries its entry in, when it has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_entry: Option<String>,
}

/// The kinds whose Normal Events the timeline shows (Warnings are shown whatever they
/// are about): the kinds the panes show.
const SHOWN: [&str; 13] = [
    "Node",
    "Deployment",
    "Kustomization",
    "GitRepository",
    "OCIRepository",
    "HelmRelease",
    "Backup",
    "Restore",
    "Schedule",
    "BackupStorageLocation",
    "PolicyReport",
    "ClusterPolicyReport",
    "Namespace",
];

impl EventSummary {
    /// Folds an Event; `journal_annotation` names the annotation fleetdeck's own Events
    /// carry their journal entry in.
    pub fn fold(v: &Value, journal_annotation: &str) -> Self {
        let reporter = [text(v, "/reportingComponent"), text(v, "/source/component")]
            .into_iter()
            .find(|r| !r.is_empty())
            .unwrap_or_default();
        let journal_entry = v
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(journal_annotation))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Self {
            uid: text(v, "/metadata/uid"),
            namespace: text(v, "/metadata/namespace"),
            name: text(v, "/metadata/name"),
            kind: text(v, "/type"),
            reason: text(v, "/reason"),
            message: text(v, "/message"),
            count: int(v, "/count").max(1),
            reporting_component: reporter,
            involved_object: InvolvedObject {
                kind: text(v, "/involvedObject/kind"),
                namespace: text(v, "/involvedObject/namespace"),
                name: text(v, "/involvedObject/name"),
            },
            time: time(v, "/lastTimestamp")
                .or_else(|| time(v, "/eventTime"))
                .or_else(|| time(v, "/firstTimestamp"))
                .or_else(|| time(v, "/metadata/creationTimestamp")),
            journal_entry,
        }
    }

    pub fn is_warning(&self) -> bool {
        self.kind == "Warning"
    }

    /// Whether the timeline shows it: Warnings always; Normal ones about the kinds the
    /// panes show, and fleetdeck's own (reasons starting with `own_prefix`).
    pub fn admitted(&self, own_prefix: &str) -> bool {
        self.is_warning() || self.reason.starts_with(own_prefix) || SHOWN.contains(&self.involved_object.kind.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_fold_what_the_timeline_shows() {
        let e = EventSummary::fold(
            &json!({"metadata":{"name":"web.1","namespace":"shop","uid":"e1","managedFields":[{"big":"x"}]},
                "involvedObject":{"kind":"Pod","namespace":"shop","name":"web-1"},"reason":"BackOff","type":"Warning",
                "count":3,"source":{"component":"kubelet"},"firstTimestamp":"2026-11-24T10:00:00Z","lastTimestamp":"2026-11-24T10:00:06Z"}),
            "fleetdeck.io/journal-entry",
        );
        assert_eq!((e.reporting_component.as_str(), e.count, e.is_warning()), ("kubelet", 3, true));
        assert_eq!(e.time.map(|t| t.to_string()).as_deref(), Some("2026-11-24T10:00:06Z"));
        assert!(e.admitted("Fleetdeck"));
        let raw = serde_json::to_value(&e).unwrap();
        assert_eq!(raw["involvedObject"]["name"], "web-1");
        assert!(raw.get("managedFields").is_none() && raw.get("journalEntry").is_none());
        let normal =
            EventSummary::fold(&json!({"type":"Normal","reason":"Pulled","involvedObject":{"kind":"Pod"}}), "x");
        assert!(!normal.admitted("Fleetdeck"));
        assert_eq!((normal.count, normal.time), (1, None), "odd shapes fold to defaults");
    }
}
