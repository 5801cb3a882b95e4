//! One watcher per (cluster, kind): list then watch with backoff, every
//! object folded into its summary at once, and changes sent on the bounded channel to
//! the model: a lone change at once, a burst coalesced per object into a batch per
//! window (`engine.coalesce`). A relist is sent whole, so it replaces what was known
//! instead of merging into it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use jiff::Timestamp;
use kube::api::{DynamicObject, ListParams, ObjectList, WatchParams};
use kube::core::WatchEvent;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{Body, Http, api_error, kube_error};
use super::errors::classify_watch;
use super::event::{ClusterId, EngineEvent};
use super::resources::{fold, resource};
use super::watch_lines::EventLines;
use crate::fleet::failure::{ErrorInfo, Failure};
use crate::fleet::kind::Kind;
use crate::fleet::summary::{ObjectKey, Summary};

/// Why a watcher stopped on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Shutdown,
    /// The kind is not served (its CRD is gone): rediscovery may start it again.
    NotInstalled,
    /// Not allowed to read an optional kind.
    Forbidden,
}

pub async fn run(
    http: Http,
    cluster: ClusterId,
    kind: Kind,
    coalesce: Duration,
    tx: mpsc::Sender<EngineEvent>,
    answers_again: Arc<Notify>,
    shutdown: CancellationToken,
) -> Stopped {
    let mut watched = Watched::new(http, kind);
    let mut backoff = Backoff::default();
    loop {
        if tx.send(EngineEvent::WatchStarted { cluster, kind }).await.is_err() {
            return Stopped::Shutdown;
        }
        // A fresh list after every failure: the relist is what tells the model the watch
        // has recovered, and it replaces whatever changed meanwhile.
        let outcome = watch_once(&mut watched, cluster, kind, coalesce, &tx, &shutdown, &mut backoff).await;
        match outcome {
            Outcome::Stopped(why) => return why,
            Outcome::Failed => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Stopped::Shutdown,
            _ = tokio::time::sleep(backoff.next()) => {}
            // The cluster answers probes again: no reason to wait out the backoff.
            _ = answers_again.notified() => backoff.reset(),
        }
    }
}

/// What one (cluster, kind) lists and watches.
struct Watched {
    http: Http,
    url: String,
    labels: Option<String>,
    fields: Option<String>,
}

/// The server ends a watch after its `timeoutSeconds`, drawn for each watch between five
/// and ten minutes as client-go's reflectors do: the fleet's thousands of watches do not
/// all end together, and a third less often than after kube's fixed 290 s (each restart
/// is a request and a new stream on the server and here). A watch that has said nothing
/// for ten seconds longer than its timeout is taken as lost and started again.
fn watch_seconds() -> u32 {
    rand::random_range(300..600)
}
const WATCH_GRACE: Duration = Duration::from_secs(10);

impl Watched {
    fn new(http: Http, kind: Kind) -> Self {
        let r = resource(kind);
        let url = <DynamicObject as kube::Resource>::url_path(&r.api, r.namespace);
        Self { http, url, labels: r.label_selector.map(str::to_owned), fields: r.field_selector.map(str::to_owned) }
    }

    /// Every object, page by page (client-go's 500 a page), and the version to watch from.
    async fn list(&mut self, kind: Kind) -> Result<(Vec<(ObjectKey, Summary)>, String), WatchError> {
        let mut params = ListParams {
            label_selector: self.labels.clone(),
            field_selector: self.fields.clone(),
            ..ListParams::default()
        }
        .limit(500);
        let mut items = Vec::new();
        loop {
            let request = kube::core::Request::new(&self.url)
                .list(&params)
                .map_err(|e| WatchError::List(kube::Error::BuildRequest(e)))?;
            let page: ObjectList<DynamicObject> = self.http.request(request).await.map_err(WatchError::List)?;
            items.extend(page.items.iter().map(|o| fold(kind, o)));
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(next) => params.continue_token = Some(next),
                None => {
                    let version = page.metadata.resource_version.filter(|v| !v.is_empty());
                    return version.map(|v| (items, v)).ok_or(WatchError::NoResourceVersion);
                }
            }
        }
    }

    /// A watch from `version`, with bookmarks, that the server ends after `seconds`.
    async fn watch(&mut self, version: &str, seconds: u32) -> Result<EventLines<Body>, WatchError> {
        let params = WatchParams {
            label_selector: self.labels.clone(),
            field_selector: self.fields.clone(),
            timeout: Some(seconds),
            ..WatchParams::default()
        };
        let mut request = kube::core::Request::new(&self.url)
            .watch(&params, version)
            .map_err(|e| WatchError::Start(kube::Error::BuildRequest(e)))?;
        // As kube does: no compression on watches (one gzip member per event).
        request.headers_mut().insert(http::header::ACCEPT_ENCODING, http::HeaderValue::from_static("identity"));
        let response = self.http.send(request.map(kube::client::Body::from)).await.map_err(WatchError::Start)?;
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            let body = response.into_body().collect().await.map_err(|e| WatchError::Start(kube_error(e)))?.to_bytes();
            return Err(WatchError::Start(api_error(status, &String::from_utf8_lossy(&body))));
        }
        Ok(EventLines::new(response.into_body()))
    }
}

/// A list then a watch, resumed from the last version seen when the server ends it.
struct Watching<'a> {
    watched: &'a mut Watched,
    version: String,
    events: Option<EventLines<Body>>,
    /// When the current watch started, how long nothing may come before it is taken as
    /// lost, and until when.
    started: Option<Instant>,
    idle: Duration,
    idle_until: Instant,
}

/// A change a watch saw.
enum Change {
    Apply(Box<DynamicObject>),
    Delete(Box<DynamicObject>),
}

impl Watching<'_> {
    /// The next change. Cancel-safe: nothing read is lost when the future is dropped.
    async fn next(&mut self) -> Result<Change, WatchError> {
        loop {
            let events = match &mut self.events {
                Some(events) => events,
                None => {
                    // A server that ends every watch at once is not asked again at once.
                    if let Some(started) = self.started.filter(|s| s.elapsed() < Duration::from_secs(1)) {
                        Box::pin(tokio::time::sleep_until(started + Duration::from_secs(1))).await;
                    }
                    let seconds = watch_seconds();
                    let events = Box::pin(self.watched.watch(&self.version, seconds)).await?;
                    self.started = Some(Instant::now());
                    self.idle = Duration::from_secs(seconds.into()) + WATCH_GRACE;
                    self.idle_until = Instant::now() + self.idle;
                    self.events.insert(events)
                }
            };
            let event = match tokio::time::timeout_at(self.idle_until, events.next()).await {
                Ok(event) => event.map_err(WatchError::Stream)?,
                Err(_idle) => None,
            };
            self.idle_until = Instant::now() + self.idle;
            let version = |o: &DynamicObject| o.metadata.resource_version.clone().filter(|v| !v.is_empty());
            // Boxed: the object is what the task would otherwise keep room for (488 bytes).
            let change = match event {
                // The server's timeout (or a lost connection): watch again from here.
                None => None,
                Some(WatchEvent::Added(o) | WatchEvent::Modified(o)) => {
                    self.version = version(&o).ok_or(WatchError::NoResourceVersion)?;
                    Some(Change::Apply(Box::new(o)))
                }
                Some(WatchEvent::Deleted(o)) => {
                    self.version = version(&o).ok_or(WatchError::NoResourceVersion)?;
                    Some(Change::Delete(Box::new(o)))
                }
                Some(WatchEvent::Bookmark(b)) => {
                    self.version = b.metadata.resource_version;
                    continue;
                }
                Some(WatchEvent::Error(status)) => return Err(WatchError::Status(status)),
            };
            match change {
                Some(change) => return Ok(change),
                None => self.events = None,
            }
        }
    }
}

/// Where a list-then-watch failed.
#[derive(Debug)]
pub enum WatchError {
    List(kube::Error),
    /// The watch request was refused or could not be sent.
    Start(kube::Error),
    /// The watch's stream broke or carried something that is no event.
    Stream(kube::Error),
    /// An error event in the stream (410 Gone: the version is too old).
    Status(Box<kube::core::Status>),
    NoResourceVersion,
}

/// Exponential backoff with jitter, from 1 s to 30 s, reset by a successful list.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let base = Duration::from_secs(1u64 << self.failures.min(5).saturating_sub(1)).min(Duration::from_secs(30));
        let jitter = rand::random_range(0..=base.as_millis() as u64 / 4);
        base + Duration::from_millis(jitter)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

enum Outcome {
    Stopped(Stopped),
    /// The watch failed (reported); start again after the backoff.
    Failed,
}

async fn watch_once(
    watched: &mut Watched,
    cluster: ClusterId,
    kind: Kind,
    coalesce: Duration,
    tx: &mpsc::Sender<EngineEvent>,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
) -> Outcome {
    let listed = tokio::select! {
        _ = shutdown.cancelled() => return Outcome::Stopped(Stopped::Shutdown),
        // Boxed (and the watch's start below): an idle watch's task keeps only its small
        // waiting state, not the room a list's or a request's future takes.
        listed = Box::pin(watched.list(kind)) => listed,
    };
    let (items, version) = match listed {
        Ok(listed) => listed,
        Err(err) => return Box::pin(failed(err, cluster, kind, HashMap::new(), None, tx)).await,
    };
    backoff.reset();
    if Box::pin(tx.send(EngineEvent::Relist { cluster, kind, items, at: Timestamp::now() })).await.is_err() {
        return Outcome::Stopped(Stopped::Shutdown);
    }
    let mut watching =
        Watching { watched, version, events: None, started: None, idle: WATCH_GRACE, idle_until: Instant::now() };
    let mut pending: HashMap<ObjectKey, Option<Summary>> = HashMap::new();
    let mut first_pending: Option<Instant> = None;
    // Changes go out at once when none went out for a window (a lone change is not held
    // back), else a window after the last batch (a burst goes out in batches).
    let mut last_sent = Instant::now() - coalesce;
    loop {
        let flush_at = first_pending.map(|t| t.max(last_sent + coalesce));
        let far = Instant::now() + Duration::from_secs(3600);
        let sent = tokio::select! {
            _ = shutdown.cancelled() => return Outcome::Stopped(Stopped::Shutdown),
            _ = tokio::time::sleep_until(flush_at.unwrap_or(far)), if flush_at.is_some() => {
                let observed = first_pending.take().map(|i| i.into_std()).unwrap_or_else(std::time::Instant::now);
                let changes: Vec<_> = pending.drain().collect();
                last_sent = Instant::now();
                // Boxed, like the other sends here: select!'s handlers cannot share room
                // with its branches, and this task waits in them for as long as it lives.
                Box::pin(tx.send(EngineEvent::Changes { cluster, kind, changes, observed, at: Timestamp::now() })).await
            }
            change = watching.next() => match change {
                Ok(Change::Apply(object)) => {
                    let (key, summary) = fold(kind, &object);
                    pending.insert(key, Some(summary));
                    first_pending.get_or_insert_with(Instant::now);
                    Ok(())
                }
                Ok(Change::Delete(object)) => {
                    let (key, _) = fold(kind, &object);
                    pending.insert(key, None);
                    first_pending.get_or_insert_with(Instant::now);
                    Ok(())
                }
                Err(err) => return Box::pin(failed(err, cluster, kind, pending, first_pending, tx)).await,
            }
        };
        if sent.is_err() {
            return Outcome::Stopped(Stopped::Shutdown);
        }
    }
}

/// Reports a failed list or watch, after the changes gathered before it (still true).
async fn failed(
    err: WatchError,
    cluster: ClusterId,
    kind: Kind,
    mut pending: HashMap<ObjectKey, Option<Summary>>,
    first_pending: Option<Instant>,
    tx: &mpsc::Sender<EngineEvent>,
) -> Outcome {
    let (failure, message) = classify_watch(&err);
    tracing::debug!(cluster, ?kind, %message, "watch error");
    if failure == Failure::NotFound && kind.crd_group().is_some() {
        let _ = tx.send(EngineEvent::NotInstalled { cluster, kind }).await;
        return Outcome::Stopped(Stopped::NotInstalled);
    }
    if !pending.is_empty() {
        let observed = first_pending.map(|i| i.into_std()).unwrap_or_else(std::time::Instant::now);
        let changes: Vec<_> = pending.drain().collect();
        let _ = tx.send(EngineEvent::Changes { cluster, kind, changes, observed, at: Timestamp::now() }).await;
    }
    let error = ErrorInfo::new(failure, message, Timestamp::now());
    if tx.send(EngineEvent::WatchFailed { cluster, kind, error }).await.is_err() {
        return Outcome::Stopped(Stopped::Shutdown);
    }
    if failure == Failure::Forbidden && kind.optional() {
        return Outcome::Stopped(Stopped::Forbidden);
    }
    Outcome::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_task_keeps_little_while_it_waits() {
        // Nine a spoke for the session: a request's future awaited inline would keep its
        // room in every one of them (2.7 KB before the lists and starts were boxed).
        let http = super::super::client::unconnected();
        let (tx, _rx) = mpsc::channel(1);
        let task =
            run(http, 7, Kind::Node, Duration::from_millis(100), tx, Arc::new(Notify::new()), CancellationToken::new());
        let size = std::mem::size_of_val(&task);
        assert!(size <= 1536, "a watch task takes {size} bytes (1.1 KB today)");
    }
}
