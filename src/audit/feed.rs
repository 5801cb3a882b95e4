//! Starting the audit sources and gathering what they read on one channel for the model's
//! owner: the Events kept from earlier sessions, the journal (followed, so another
//! fleetdeck process's writes on this machine appear too), the configured audit log
//! files, and the webhook receiver.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::follow::{self, FollowSpec, Format};
use super::record::AuditRecord;
use super::store::EventStore;
use super::webhook::{self, WebhookSettings};

/// What the sources send.
#[derive(Debug, Clone)]
pub enum Feed {
    Records(Vec<AuditRecord>),
    Status(SourceStatus),
}

/// How a source is doing, for the pane's header and its problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    /// "hub /var/log/audit.log", "webhook 127.0.0.1:8443".
    pub name: String,
    /// "following", "waiting for the file to appear", "listening".
    pub state: String,
    pub ok: bool,
    pub lines: u64,
    pub malformed: u64,
    pub rotations: u64,
    pub truncations: u64,
    /// The last malformed line or failure, said once.
    pub last_error: Option<String>,
}

impl SourceStatus {
    pub fn new(name: String) -> Self {
        Self {
            name,
            state: "starting".to_owned(),
            ok: true,
            lines: 0,
            malformed: 0,
            rotations: 0,
            truncations: 0,
            last_error: None,
        }
    }

    pub fn set(&mut self, state: &str, ok: bool) {
        if self.state != state {
            self.state = state.to_owned();
        }
        self.ok = ok;
    }
}

#[derive(Debug, Clone)]
pub struct FeedSettings {
    pub journal: PathBuf,
    /// The Event store; none: Events are not kept across sessions.
    pub events: Option<PathBuf>,
    pub events_kept: usize,
    pub files: Vec<FollowSpec>,
    pub poll: Duration,
    pub webhook: Option<WebhookSettings>,
}

/// The running sources; `stop` ends them.
pub struct AuditFeed {
    stop: Arc<AtomicBool>,
    shutdown: CancellationToken,
    /// Where newly seen Events are kept.
    pub store: Option<EventStore>,
}

/// The journal's chain checked once at start (as `fleetdeck journal verify` does): a
/// damaged journal is said in the pane's source status, not found out later.
async fn check_journal(path: PathBuf, tx: mpsc::Sender<Feed>) {
    let journal = crate::journal::Journal::at(path.clone());
    let verdict = tokio::task::spawn_blocking(move || journal.verify()).await;
    let mut status = SourceStatus::new(format!("journal chain {}", path.display()));
    match verdict {
        Ok(Ok(v)) => match v.problem {
            None if v.unfinished.is_empty() => status.set(&format!("intact, {} entries", v.intact), true),
            None => status.set(
                &format!(
                    "intact, {} entries; {} writes without an outcome (interrupted; an operator session resolves them)",
                    v.intact,
                    v.unfinished.len()
                ),
                false,
            ),
            Some((line, problem)) => {
                status.set(&format!("damaged at line {line}: {problem} (see fleetdeck journal verify)"), false)
            }
        },
        Ok(Err(e)) => status.set(&format!("cannot be checked: {e:#}"), false),
        Err(e) => status.set(&format!("cannot be checked: {e}"), false),
    }
    let _ = tx.send(Feed::Status(status)).await;
}

/// Capacity of the channel, in batches (followers wait when it is full).
const CAPACITY: usize = 16;

impl AuditFeed {
    pub fn start(settings: FeedSettings) -> (AuditFeed, mpsc::Receiver<Feed>) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let shutdown = CancellationToken::new();
        let store = settings.events.as_ref().map(|path| {
            let (store, kept, status) = EventStore::open(path.clone(), settings.events_kept);
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(Feed::Status(status)).await;
                for chunk in kept.chunks(follow::BATCH) {
                    if tx.send(Feed::Records(chunk.to_vec())).await.is_err() {
                        return;
                    }
                }
            });
            store
        });
        tokio::spawn(check_journal(settings.journal.clone(), tx.clone()));
        let journal = FollowSpec { cluster: Arc::from(""), path: settings.journal.clone(), format: Format::Journal };
        for spec in std::iter::once(journal).chain(settings.files.iter().cloned()) {
            let name = spec.name();
            // Followers are not joined: they end within one poll of `stop`, and quitting
            // is never held up by a slow disk.
            if let Err(e) = follow::spawn(spec, settings.poll, tx.clone(), stop.clone()) {
                let mut status = SourceStatus::new(name);
                status.set(&format!("cannot start: {e}"), false);
                let _ = tx.try_send(Feed::Status(status));
            }
        }
        if let Some(w) = settings.webhook {
            tokio::spawn(webhook::serve(w, tx.clone(), shutdown.clone()));
        }
        (AuditFeed { stop, shutdown, store }, rx)
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.shutdown.cancel();
    }
}
