//! The engine's connection to the fleet: a client per kubeconfig context, built
//! concurrently; per cluster a probe loop and one watcher per kind, folding objects into
//! summaries and sending coalesced batches on a bounded channel to the model's owner.
//! One cluster's failure, slowness or missing CRD never blocks another.

pub mod access;
pub mod chain;
pub mod client;
pub mod conn;
pub mod contexts;
pub mod errors;
pub mod event;
pub mod exec;
pub mod lag;
pub mod notify;
pub mod probe;
pub mod resources;
pub mod runbook;
pub mod transport;
pub mod watch;
mod watch_lines;
pub mod write;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use contexts::{ContextSpec, Selection};
pub use event::{ClusterId, EngineEvent};

/// How the engine talks to clusters.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connect_timeout: Duration,
    /// How long an exec credential plugin may take to answer.
    pub exec_timeout: Duration,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    /// How long changes to an object are gathered before they are sent.
    pub coalesce: Duration,
    /// How often discovery is run again (a CRD installed later starts its watcher).
    pub rediscover_every: Duration,
    /// Capacity of the channel to the model (watchers wait when it is full).
    pub channel_capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            exec_timeout: Duration::from_secs(30),
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            coalesce: Duration::from_millis(100),
            rediscover_every: Duration::from_secs(60),
            channel_capacity: 4096,
        }
    }
}

/// The running engine; dropping it does not stop it, `stop` does.
pub struct Engine {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Starts one connection task per context; events arrive on the returned receiver.
    pub fn start(contexts: Vec<ContextSpec>, settings: Settings) -> (Engine, mpsc::Receiver<EngineEvent>) {
        crate::fd_limit::raise(contexts.len() * 4 + 256);
        let (tx, rx) = mpsc::channel(settings.channel_capacity);
        let shutdown = CancellationToken::new();
        let settings = Arc::new(settings);
        let tasks = contexts
            .into_iter()
            .enumerate()
            .map(|(id, spec)| tokio::spawn(conn::run(id, spec, settings.clone(), tx.clone(), shutdown.clone())))
            .collect();
        (Engine { shutdown, tasks }, rx)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
