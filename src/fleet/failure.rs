//! What went wrong talking to a cluster, classified the way an operator acts on it.

use jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failure {
    /// 401: the credentials are not accepted (expired, revoked).
    Unauthorized,
    /// 403: accepted, but not allowed to read this.
    Forbidden,
    /// Connection refused, DNS, TLS: the API server cannot be reached.
    Unreachable,
    /// No answer in time.
    Timeout,
    /// 404: the kind or object is not there (a CRD that is not installed).
    NotFound,
    /// 410: a watch resumed from a version the server no longer has.
    Gone,
    /// 5xx from the API server.
    Server(u16),
    /// The kubeconfig or fleetdeck's configuration cannot give a working client (a user
    /// or cluster it does not define, a certificate file that is not there): the user's
    /// to fix, and retrying will not help.
    Config,
    /// Anything else (other 4xx, malformed answers).
    Other,
}

impl Failure {
    /// The short label shown in tables.
    pub fn label(self) -> String {
        match self {
            Failure::Unauthorized => "unauthorized".into(),
            Failure::Forbidden => "forbidden".into(),
            Failure::Unreachable => "unreachable".into(),
            Failure::Timeout => "timeout".into(),
            Failure::NotFound => "not found".into(),
            Failure::Gone => "gone".into(),
            Failure::Server(code) => format!("HTTP {code}"),
            Failure::Config => "kubeconfig".into(),
            Failure::Other => "error".into(),
        }
    }

    /// Failures that say the cluster cannot be talked to at all.
    pub fn is_connectivity(self) -> bool {
        matches!(self, Failure::Unreachable | Failure::Timeout)
    }

    pub fn is_auth(self) -> bool {
        matches!(self, Failure::Unauthorized)
    }
}

/// A failure with its message and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    pub failure: Failure,
    pub message: String,
    pub at: Timestamp,
}

impl ErrorInfo {
    /// A word or two for a table cell with no room for the message: `refused`, `TLS`,
    /// `timeout`, `HTTP 503`, `exec plugin`. The messages these are read from are the
    /// ones fleetdeck's own error classification writes.
    pub fn cause(&self) -> String {
        let m = self.message.as_str();
        let starts = |p: &str| m.starts_with(p) || m.contains(&format!(": {p}"));
        if m.starts_with("exec plugin") {
            "exec plugin".into()
        } else if starts("connection refused") {
            "refused".into()
        } else if starts("connection reset") {
            "reset".into()
        } else if starts("host not found") {
            "DNS".into()
        } else if starts("TLS") {
            "TLS".into()
        } else if starts("not a Kubernetes API") {
            "not an API".into()
        } else {
            self.failure.label()
        }
    }

    pub fn new(failure: Failure, message: impl Into<String>, at: Timestamp) -> Self {
        Self { failure, message: message.into(), at }
    }
}
