//! What a rollback tells stakeholders: the alert posted to Alertmanager, the webhook's
//! body (documented in the README), and each channel's evidence.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{facts, incident_of};
use crate::fleet::run::{Evidence, Run, Verdict};
use crate::workflow::register::evidence;

/// The alert posted to Alertmanager (`POST /api/v2/alerts`).
pub fn alert(run: &Run, now: Timestamp) -> Value {
    let f = |k: &str| run.facts.get(k).cloned().unwrap_or_default();
    let (incident, reason) = incident_of(run);
    let trigger = run.facts.get(facts::TRIGGER).map_or("operator", |_| "trigger");
    json!([{
        "labels": {
            "alertname": "FleetdeckRollback",
            "severity": "critical",
            "cluster": run.cluster,
            "trigger": trigger_kind(run),
            "run": run.id,
        },
        "annotations": {
            "summary": format!("rollback of {} started by {}", run.cluster, run.by.label()),
            "description": f(facts::TRIGGER),
            "incident": incident,
            "reason": reason,
            "started_by": trigger,
        },
        "startsAt": now.to_string(),
    }])
}

/// The trigger's kind from its line (`service disruption`, `security`, …), or `manual`.
fn trigger_kind(run: &Run) -> String {
    let Some(line) = run.facts.get(facts::TRIGGER) else { return "manual".into() };
    for kind in crate::fleet::trigger::TriggerKind::ALL {
        if line.contains(kind.label()) {
            return kind.id().to_owned();
        }
    }
    "manual".into()
}

/// The webhook's JSON body (documented in the README).
pub fn webhook_body(run: &Run, now: Timestamp) -> Value {
    let f = |k: &str| run.facts.get(k).cloned();
    let (incident, reason) = incident_of(run);
    json!({
        "event": "rollback-started",
        "cluster": run.cluster,
        "run": run.id,
        "target": f(facts::TARGET),
        "trigger": trigger_kind(run),
        "trigger_line": f(facts::TRIGGER),
        "triggered_at": f(facts::TRIGGERED_AT),
        "incident": incident,
        "reason": reason,
        "by": run.by.label(),
        "at": now.to_string(),
    })
}

/// The evidence of a notification channel: sent, or why not (a warning: failures to
/// notify do not stop the rollback).
pub fn notified(channel: &str, result: Result<String, String>) -> Evidence {
    match result {
        Ok(what) => evidence(Verdict::Pass, format!("{channel}: {what}")),
        Err(why) => evidence(Verdict::Warn, format!("{channel}: not notified: {why}")),
    }
}
