//! What the engine tells the model.

use std::time::Instant;

use jiff::Timestamp;

use crate::fleet::failure::ErrorInfo;
use crate::fleet::kind::Kind;
use crate::fleet::probes::{Endpoint, Handshake, Sample};
use crate::fleet::summary::{ObjectKey, Summary};

/// A cluster's index in the fleet (the order of `ContextSpec`s given to the engine).
pub type ClusterId = usize;

#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// The API server answered: its version, the cluster's identity, and how long the
    /// first request (which opened the connection) took.
    Connected { cluster: ClusterId, version: String, uid: Option<String>, handshake: Handshake, at: Timestamp },
    /// Building the client or the first reads failed (retried with backoff).
    ConnectFailed { cluster: ClusterId, error: ErrorInfo },
    /// A watch is starting (its list is under way).
    WatchStarted { cluster: ClusterId, kind: Kind },
    /// The complete set of a kind, replacing what was known.
    Relist { cluster: ClusterId, kind: Kind, items: Vec<(ObjectKey, Summary)>, at: Timestamp },
    /// Changes after the list, coalesced (`None`: deleted). `observed` is when the first
    /// of them arrived from the server.
    Changes {
        cluster: ClusterId,
        kind: Kind,
        changes: Vec<(ObjectKey, Option<Summary>)>,
        observed: Instant,
        at: Timestamp,
    },
    /// The watch failed; it retries with backoff.
    WatchFailed { cluster: ClusterId, kind: Kind, error: ErrorInfo },
    /// The kind's CRD is not installed on the cluster.
    NotInstalled { cluster: ClusterId, kind: Kind },
    /// One API round trip.
    Probe { cluster: ClusterId, sample: Sample },
    /// The server has no `/readyz` (older servers, some proxies): probes go to this
    /// endpoint from now on.
    ProbesAt { cluster: ClusterId, endpoint: Endpoint },
    /// What the credentials may write (SelfSubjectAccessReview), asked once connected.
    Access { cluster: ClusterId, writes: Result<Vec<String>, ErrorInfo> },
}

impl EngineEvent {
    pub fn cluster(&self) -> ClusterId {
        match self {
            EngineEvent::Connected { cluster, .. }
            | EngineEvent::ConnectFailed { cluster, .. }
            | EngineEvent::WatchStarted { cluster, .. }
            | EngineEvent::Relist { cluster, .. }
            | EngineEvent::Changes { cluster, .. }
            | EngineEvent::WatchFailed { cluster, .. }
            | EngineEvent::NotInstalled { cluster, .. }
            | EngineEvent::Probe { cluster, .. }
            | EngineEvent::ProbesAt { cluster, .. }
            | EngineEvent::Access { cluster, .. } => *cluster,
        }
    }
}
