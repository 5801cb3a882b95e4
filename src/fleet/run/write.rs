//! What a run's change sets write: the objects, how each is written, what a write gets at
//! the moment it is sent, how it failed, and what it replaced; and how a Secret is shown.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An object a step names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    /// The resource's plural, as the API path names it.
    pub plural: String,
    /// "" for cluster-scoped objects.
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(api_version: &str, kind: &str, plural: &str, namespace: &str, name: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The reference of an object (apiVersion, kind, metadata); the plural is the kind's
    /// lower case with an s, as for every kind fleetdeck writes but a few.
    pub fn of(object: &Value) -> Self {
        let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
        let kind = text("/kind");
        Self {
            api_version: text("/apiVersion"),
            plural: plural_of(&kind),
            kind,
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
        }
    }

    /// A Flux Kustomization's `spec.sourceRef`, its namespace defaulted to the
    /// Kustomization's own, as Flux does.
    pub fn source_of(kustomization: &Value) -> Self {
        let text = |p: &str| kustomization.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
        let kind = text("/spec/sourceRef/kind");
        let namespace = match text("/spec/sourceRef/namespace") {
            n if n.is_empty() => text("/metadata/namespace"),
            n => n,
        };
        Self {
            api_version: "source.toolkit.fluxcd.io/v1".to_owned(),
            plural: plural_of(&kind),
            kind,
            namespace,
            name: text("/spec/sourceRef/name"),
        }
    }

    /// "ServiceAccount kube-system/fleetdeck-hub", "Namespace edge-eu-1".
    pub fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    pub fn is_secret(&self) -> bool {
        self.kind == "Secret" && self.api_version == "v1"
    }
}

/// A kind's resource name as the API server derives it by default ("Kustomization" ->
/// "kustomizations", "GitRepository" -> "gitrepositories", "Ingress" -> "ingresses").
pub fn plural_of(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if lower.is_empty() {
        lower
    } else if let Some(stem) = lower.strip_suffix('y').filter(|s| !s.ends_with(['a', 'e', 'o', 'u'])) {
        format!("{stem}ies")
    } else if lower.ends_with('s') || lower.ends_with('x') || lower.ends_with("ch") || lower.ends_with("sh") {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// How a write changes its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    /// Create a new object (it must not exist).
    Create,
    /// A JSON merge patch of an existing object.
    Patch,
    Delete,
}

impl Verb {
    pub fn name(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// Data a write gets at the moment it is sent, never before and never recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fill {
    /// `data.value`: a kubeconfig for `server` with the cluster's CA (base64 PEM) and
    /// the token the token controller wrote into `token_secret` on `context`.
    Kubeconfig { context: String, token_secret: ObjectRef, server: String, ca_data: String, cluster: String },
}

/// What must hold after a write before the next one is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Settle {
    /// A `kubernetes.io/service-account-token` Secret has its token.
    TokenFilled { timeout_secs: u64 },
}

/// One write of a change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedWrite {
    /// The kubeconfig context written to.
    pub context: String,
    pub verb: Verb,
    pub object: ObjectRef,
    /// The new object (create) or the merge patch (patch); null for a delete.
    #[serde(default)]
    pub body: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<Fill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<Settle>,
}

impl PlannedWrite {
    /// "create ServiceAccount kube-system/fleetdeck-hub on edge-eu-1".
    pub fn label(&self) -> String {
        format!("{} {} on {}", self.verb.name(), self.object.label(), self.context)
    }
}

/// Why a write failed, as the operator acts on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WriteError {
    /// The object changed since it was read (409 on an update), or already exists.
    Conflict {
        message: String,
    },
    /// The credentials may not: `verb` on `resource` in `namespace` ("" cluster-wide).
    Forbidden {
        verb: String,
        resource: String,
        namespace: String,
        message: String,
    },
    NotFound {
        message: String,
    },
    /// The server refused the object (422, 400, an admission webhook).
    Invalid {
        message: String,
    },
    Timeout {
        message: String,
    },
    Unreachable {
        message: String,
    },
    /// Anything else (a 5xx, the journal could not record the intent).
    Other {
        message: String,
    },
}

impl WriteError {
    /// One line for the screen and the run record.
    pub fn describe(&self) -> String {
        match self {
            WriteError::Conflict { message } => format!("conflict: {message}"),
            WriteError::Forbidden { verb, resource, namespace, message } => {
                let place = if namespace.is_empty() { "cluster-wide".to_owned() } else { format!("in {namespace}") };
                format!("forbidden: the credentials may not {verb} {resource} {place} ({message})")
            }
            WriteError::NotFound { message } => format!("not found: {message}"),
            WriteError::Invalid { message } => format!("invalid: {message}"),
            WriteError::Timeout { message } => format!("timed out: {message}"),
            WriteError::Unreachable { message } => format!("unreachable: {message}"),
            WriteError::Other { message } => message.clone(),
        }
    }
}

/// Where a write of a change set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WriteState {
    #[default]
    Planned,
    /// Journaled and sent; no answer recorded (a run interrupted here re-reads the object).
    Sent,
    Applied,
    Failed,
}

impl WriteState {
    pub fn name(self) -> &'static str {
        match self {
            WriteState::Planned => "planned",
            WriteState::Sent => "sent",
            WriteState::Applied => "applied",
            WriteState::Failed => "failed",
        }
    }
}

/// A write as it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WriteRecord {
    pub state: WriteState,
    /// The journal's write id (intent and outcome entries).
    #[serde(default)]
    pub write_id: String,
    /// What the write replaced, so it can be undone: for a patch, the merge patch that
    /// restores the patched fields; for a delete, the object as it was (a Secret's data
    /// is never kept: such a delete cannot be undone). Null for a create.
    #[serde(default)]
    pub previous: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WriteError>,
    /// Retried once after a conflict.
    #[serde(default)]
    pub retried: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

/// A Secret's data as the screen, the journal and the run record may show it:
/// `<redacted: 2 keys, 1.4 KiB>`. Other objects are returned as they are.
pub fn redact(object: &Value) -> Value {
    let is_secret = object.get("kind").and_then(Value::as_str) == Some("Secret");
    if !is_secret {
        return object.clone();
    }
    let mut out = object.clone();
    for field in ["data", "stringData"] {
        if let Some(map) = object.get(field).and_then(Value::as_object) {
            let bytes: usize = map.values().map(|v| v.as_str().map_or(0, str::len)).sum();
            let keys = map.len();
            let size = if bytes >= 1024 { format!("{:.1} KiB", bytes as f64 / 1024.0) } else { format!("{bytes} B") };
            out[field] = Value::String(format!("<redacted: {keys} key{}, {size}>", if keys == 1 { "" } else { "s" }));
        }
    }
    if let Some(annotations) = out.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        // kubectl apply keeps the whole object here.
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    out
}
