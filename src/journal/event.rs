//! The Event a journal entry is posted as on the hub, so every operator's audit pane
//! shows every operator's writes: its reason, the annotation that carries the entry, and
//! the builder.

use serde_json::{Value, json};

use super::{Entry, Phase};

/// Every journal Event's reason starts with this.
pub const EVENT_REASON_PREFIX: &str = "Fleetdeck";
/// The annotation of a journal Event that holds the whole entry (one JSON line).
pub const JOURNAL_ANNOTATION: &str = "fleetdeck.io/journal-entry";

/// The Event a journal entry is posted as: reason `Fleetdeck<Action>` (with `Failed` for
/// a failed outcome), the whole entry in an annotation so other sessions show it as a
/// journal line, named after the entry's hash so a retry cannot post it twice.
pub fn journal_event(entry: &Entry, namespace: &str, host: &str) -> Value {
    let action: String = entry
        .action
        .split(|c: char| !c.is_alphanumeric())
        .map(|w| w.chars().take(1).flat_map(char::to_uppercase).chain(w.chars().skip(1)).collect::<String>())
        .collect();
    let failed = entry.result.as_ref().is_some_and(|r| !r.ok);
    let phase = match (entry.phase, failed) {
        (Phase::Intent, _) => "",
        (Phase::Outcome, false) => "Done",
        (Phase::Outcome, true) => "Failed",
    };
    let time = entry.time.to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": format!("fleetdeck.{}", &entry.hash[..16]),
            "namespace": namespace,
            "annotations": {
                JOURNAL_ANNOTATION: entry.to_line(),
            },
        },
        "involvedObject": {
            "apiVersion": entry.object.api_version,
            "kind": entry.object.kind,
            "namespace": entry.object.namespace,
            "name": entry.object.name,
        },
        "reason": format!("{EVENT_REASON_PREFIX}{action}{phase}"),
        "message": entry.summary(),
        "type": if failed { "Warning" } else { "Normal" },
        "source": {"component": "fleetdeck", "host": host},
        "reportingComponent": "fleetdeck",
        "reportingInstance": host,
        "firstTimestamp": time,
        "lastTimestamp": time,
        "count": 1,
    })
}
