//! One journal entry and its place in the chain: each entry carries the SHA-256 of the
//! previous one, and its own hash over everything else it says, so an edited, removed or
//! reordered entry breaks the chain where it happened.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The format version written in every entry.
pub const FORMAT: u32 = 1;

/// When in a write's life an entry was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Recorded before the request is sent.
    Intent,
    /// Recorded with the server's answer, before the action is reported done.
    Outcome,
}

impl Phase {
    /// As written in the journal: "intent", "outcome".
    pub fn label(self) -> &'static str {
        match self {
            Phase::Intent => "intent",
            Phase::Outcome => "outcome",
        }
    }
}

/// Who acted: the kubeconfig user of the context written to, and the local account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// The kubeconfig user (AuthInfo) name of the context: a name, never a credential.
    pub kube_user: String,
    /// The local account fleetdeck runs as.
    pub local_user: String,
    pub host: String,
}

impl Operator {
    /// "alice@laptop as admin".
    pub fn label(&self) -> String {
        format!("{}@{} as {}", self.local_user, self.host, self.kube_user)
    }
}

/// The object written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Result {
    pub ok: bool,
    pub message: String,
}

/// What a caller records; the journal adds the sequence number and the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub time: Timestamp,
    pub phase: Phase,
    /// The same for a write's intent and outcome entries.
    pub write_id: String,
    /// The action, as the journal names it: reconcile, suspend, resume, backup, restore.
    pub action: String,
    /// The kubeconfig context written to.
    pub cluster: String,
    /// The spoke the action is about (its name on the hub, or the context).
    pub spoke: String,
    pub object: ObjectRef,
    pub operator: Operator,
    /// How the operator confirmed ("typed production-eu-1", "pressed Enter").
    pub confirmation: String,
    pub result: Option<Result>,
}

impl Draft {
    /// The outcome of an intent, recorded later (an interrupted write, found at start).
    pub fn outcome_of(intent: &Entry, ok: bool, message: String, time: Timestamp) -> Draft {
        Draft {
            time,
            phase: Phase::Outcome,
            write_id: intent.write_id.clone(),
            action: intent.action.clone(),
            cluster: intent.cluster.clone(),
            spoke: intent.spoke.clone(),
            object: intent.object.clone(),
            operator: intent.operator.clone(),
            confirmation: intent.confirmation.clone(),
            result: Some(Result { ok, message }),
        }
    }
}

/// A journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub v: u32,
    /// 1 for the first entry, then one more for each.
    pub seq: u64,
    pub time: Timestamp,
    pub phase: Phase,
    pub write_id: String,
    pub action: String,
    pub cluster: String,
    pub spoke: String,
    pub object: ObjectRef,
    pub operator: Operator,
    pub confirmation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Result>,
    /// The hash of the entry before (GENESIS for the first).
    pub prev: String,
    /// SHA-256 (hex) of this entry serialized with `hash` empty.
    pub hash: String,
}

impl Entry {
    /// The entry that follows `prev` (its seq and hash), hashed.
    pub fn chain(draft: Draft, seq: u64, prev: &str) -> Entry {
        let mut entry = Entry {
            v: FORMAT,
            seq,
            time: draft.time,
            phase: draft.phase,
            write_id: draft.write_id,
            action: draft.action,
            cluster: draft.cluster,
            spoke: draft.spoke,
            object: draft.object,
            operator: draft.operator,
            confirmation: draft.confirmation,
            result: draft.result,
            prev: prev.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        entry
    }

    /// The hash the entry's content gives (whatever its `hash` field says).
    pub fn computed_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash.clear();
        let bytes = serde_json::to_vec(&unhashed).unwrap_or_default();
        hex(&Sha256::digest(&bytes))
    }

    /// The line written to the file (without the newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// One line of text: "alice@laptop as admin: reconcile Kustomization prod-a/policies
    /// on hub (pressed Enter): written".
    pub fn summary(&self) -> String {
        let object = format!("{} {}/{}", self.object.kind, self.object.namespace, self.object.name);
        let outcome = match (&self.phase, &self.result) {
            (Phase::Intent, _) => "about to write".to_owned(),
            (Phase::Outcome, Some(r)) if r.ok => format!("written{}", suffix(&r.message)),
            (Phase::Outcome, Some(r)) => format!("failed: {}", r.message),
            (Phase::Outcome, None) => "no result recorded".to_owned(),
        };
        format!(
            "{}: {} {object} on {} ({}): {outcome}",
            self.operator.label(),
            self.action,
            self.cluster,
            self.confirmation
        )
    }
}

fn suffix(message: &str) -> String {
    if message.is_empty() { String::new() } else { format!(" ({message})") }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a line that is not an entry (a chain still links past it).
pub fn line_hash(line: &[u8]) -> String {
    hex(&Sha256::digest(line))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn draft(n: u32) -> Draft {
        Draft {
            time: Timestamp::from_second(1_800_000_000 + i64::from(n)).unwrap(),
            phase: if n.is_multiple_of(2) { Phase::Intent } else { Phase::Outcome },
            write_id: format!("w{}", n / 2),
            action: "reconcile".into(),
            cluster: "hub".into(),
            spoke: "production-eu-1".into(),
            object: ObjectRef {
                api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
                kind: "Kustomization".into(),
                namespace: "production-eu-1".into(),
                name: "policies".into(),
            },
            operator: Operator { kube_user: "admin".into(), local_user: "alice".into(), host: "laptop".into() },
            confirmation: "pressed Enter".into(),
            result: (!n.is_multiple_of(2)).then(|| Result { ok: true, message: String::new() }),
        }
    }

    #[test]
    fn the_hash_covers_every_field_and_the_line_round_trips() {
        let e = Entry::chain(draft(1), 1, GENESIS);
        assert_eq!(e.hash, e.computed_hash());
        assert_eq!(e.hash.len(), 64);
        let back: Entry = serde_json::from_str(&e.to_line()).unwrap();
        assert_eq!(back, e);
        let mut edited = e.clone();
        edited.confirmation = "typed production-eu-1".into();
        assert_ne!(edited.computed_hash(), e.hash);
        let mut relinked = e.clone();
        relinked.prev = line_hash(b"x");
        assert_ne!(relinked.computed_hash(), e.hash);
        assert!(e.summary().contains("alice@laptop as admin: reconcile Kustomization production-eu-1/policies on hub"));
    }

    #[test]
    fn unknown_fields_are_not_an_entry() {
        let mut v = serde_json::to_value(Entry::chain(draft(1), 1, GENESIS)).unwrap();
        v["token"] = "sneaked in".into();
        assert!(serde_json::from_value::<Entry>(v).is_err());
    }
}
