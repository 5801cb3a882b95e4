//! One line of the audit timeline, whatever it came from: fleetdeck's journal, a
//! Kubernetes Event, or a Kubernetes audit event. The fields the pane shows and filters
//! on are extracted once; the whole entry is kept (bounded) for the detail.

use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::journal::{Entry, Phase};

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// fleetdeck's own writes (the local journal, or other operators' through the hub).
    Journal,
    /// Kubernetes Events.
    Event,
    /// Kubernetes audit logs (files or the webhook).
    Audit,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Journal, Source::Event, Source::Audit];

    pub fn label(self) -> &'static str {
        match self {
            Source::Journal => "journal",
            Source::Event => "event",
            Source::Audit => "audit",
        }
    }
}

/// How a record's outcome reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Ok,
    Warn,
    Fail,
}

/// Longest whole entry kept for the detail (the rest is cut, and says so).
pub const RAW_LIMIT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub time: Timestamp,
    pub cluster: Arc<str>,
    pub source: Source,
    /// Who: a user (with "as X" when impersonating), an operator, or an Event's reporter.
    pub user: String,
    /// An API verb, a journal action, or an Event's reason.
    pub verb: String,
    /// The resource (plural, lower case), with its subresource after a slash.
    pub resource: String,
    pub namespace: String,
    pub name: String,
    /// "201", "403 Forbidden", "written", "Warning".
    pub outcome: String,
    pub severity: Severity,
    /// A line of text: the request URI, the Event's message, the journal's summary.
    pub message: String,
    /// What identifies the same record arriving twice (an Event relisted, a journal entry
    /// both read locally and posted on the hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Box<str>>,
    /// The whole entry as JSON, cut at RAW_LIMIT bytes.
    pub raw: Box<str>,
}

impl AuditRecord {
    /// "namespace/name", "namespace/" (a namespaced list), "name", or "" (a cluster-wide
    /// request).
    pub fn object(&self) -> String {
        match (self.namespace.is_empty(), self.name.is_empty()) {
            (true, _) => self.name.clone(),
            (false, true) => format!("{}/", self.namespace),
            (false, false) => format!("{}/{}", self.namespace, self.name),
        }
    }

    /// The journal entry as a record: `via` says where it was read ("" for the local
    /// journal, "hub Event" for another operator's).
    pub fn from_journal(entry: &Entry, via: &str) -> AuditRecord {
        let (outcome, severity) = match (&entry.phase, &entry.result) {
            (Phase::Intent, _) => ("intent".to_owned(), Severity::Ok),
            (Phase::Outcome, Some(r)) if r.ok => ("written".to_owned(), Severity::Ok),
            (Phase::Outcome, _) => ("failed".to_owned(), Severity::Fail),
        };
        let mut message = entry.summary();
        if !via.is_empty() {
            message.push_str(&format!(" [{via}]"));
        }
        AuditRecord {
            time: entry.time,
            cluster: Arc::from(entry.cluster.as_str()),
            source: Source::Journal,
            user: entry.operator.label(),
            verb: entry.action.clone(),
            resource: plural(&entry.object.kind),
            namespace: entry.object.namespace.clone(),
            name: entry.object.name.clone(),
            outcome,
            severity,
            message,
            id: Some(entry.hash.clone().into_boxed_str()),
            raw: cut(entry.to_line()),
        }
    }
}

/// A kind's resource name as the API server derives it by default.
pub use crate::fleet::run::plural_of as plural;

/// Keeps at most RAW_LIMIT bytes of an entry (on a character boundary).
pub fn cut(mut raw: String) -> Box<str> {
    if raw.len() > RAW_LIMIT {
        let mut end = RAW_LIMIT;
        while !raw.is_char_boundary(end) {
            end -= 1;
        }
        raw.truncate(end);
        raw.push_str(" …(cut)");
    }
    raw.into_boxed_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_follow_the_api_servers_default() {
        assert_eq!(plural("Kustomization"), "kustomizations");
        assert_eq!(plural("GitRepository"), "gitrepositories");
        assert_eq!(plural("Gateway"), "gateways");
        assert_eq!(plural("Ingress"), "ingresses");
        assert_eq!(plural("Node"), "nodes");
    }

    #[test]
    fn long_entries_are_cut_on_a_character_boundary() {
        let raw = "é".repeat(RAW_LIMIT);
        let cut = cut(raw);
        assert!(cut.len() <= RAW_LIMIT + 12);
        assert!(cut.ends_with("…(cut)"));
    }
}
