//! Watches: a stream of `{"type": ..., "object": ...}` lines, from a resourceVersion or
//! from the current state, with bookmarks, the initial-events-end bookmark of streaming
//! lists, 410 Gone for versions older than the history, and the faults that cut or
//! poison watches.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::api::ListOptions;
use super::cluster::Cluster;
use super::fault::OutageMode;
use super::request::Output;
use super::resource::ResourceType;
use super::status::ApiError;
use super::store::{Change, ChangeKind, StoredObject};
use super::table;

/// The parameters of one watch.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub rt: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub options: ListOptions,
    pub resource_version: Option<String>,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Option<Duration>,
    pub output: Output,
}

/// Why a watch ended (for the audit log's ResponseComplete).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    Timeout,
    ClientGone,
    Dropped,
    Gone,
    ResourceRemoved,
}

struct Encoder {
    rt: Arc<ResourceType>,
    output: Output,
    first_table: bool,
}

impl Encoder {
    fn frame(&mut self, kind: &str, object: &StoredObject) -> Bytes {
        match self.output {
            Output::Json | Output::Yaml | Output::AggregatedDiscovery => {
                let mut out = Vec::with_capacity(object.json.len() + 32);
                out.extend_from_slice(b"{\"type\":\"");
                out.extend_from_slice(kind.as_bytes());
                out.extend_from_slice(b"\",\"object\":");
                out.extend_from_slice(&object.json);
                out.extend_from_slice(b"}\n");
                Bytes::from(out)
            }
            Output::Metadata => self.value_frame(kind, table::partial_metadata(&object.value())),
            Output::Table(include) => {
                let value = object.value();
                let meta = json!({"resourceVersion": object.rv.to_string()});
                let mut t = table::table(&self.rt, &[value], meta, include, Timestamp::now());
                if !self.first_table {
                    t["columnDefinitions"] = json!([]);
                }
                self.first_table = false;
                self.value_frame(kind, t)
            }
        }
    }

    fn value_frame(&self, kind: &str, object: Value) -> Bytes {
        let mut line = json!({"type": kind, "object": object}).to_string();
        line.push('\n');
        Bytes::from(line)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        self.value_frame(
            "BOOKMARK",
            json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta}),
        )
    }

    fn error(&self, err: &ApiError) -> Bytes {
        self.value_frame("ERROR", err.to_status())
    }
}

fn in_scope(req: &WatchRequest, change: &Change) -> bool {
    change.gr.group == req.rt.group
        && change.gr.resource == req.rt.plural
        && req.namespace.as_deref().is_none_or(|ns| ns.is_empty() || ns == change.namespace)
}

/// The event type a change is for this watch, given its selectors: an object that starts
/// matching is ADDED, one that stops matching is DELETED.
fn event_type(req: &WatchRequest, change: &Change) -> Option<&'static str> {
    if !in_scope(req, change) {
        return None;
    }
    let now = req.options.matches(&change.namespace, &change.name, &change.object);
    let before = change.previous.as_ref().map(|p| req.options.matches(&change.namespace, &change.name, p));
    match (change.kind, before, now) {
        (ChangeKind::Added, _, true) => Some("ADDED"),
        (ChangeKind::Modified, Some(true), true) => Some("MODIFIED"),
        (ChangeKind::Modified, Some(false) | None, true) => Some("ADDED"),
        (ChangeKind::Modified, Some(true), false) => Some("DELETED"),
        (ChangeKind::Deleted, Some(true), _) => Some("DELETED"),
        _ => None,
    }
}

fn gone(rv: u64, oldest: u64) -> ApiError {
    ApiError::gone(format!("too old resource version: {rv} ({oldest})"))
}

/// Starts a watch: the initial state is read at once (errors are answered as HTTP
/// errors), then a task streams changes into the returned receiver.
pub fn start(
    cluster: Arc<Cluster>,
    req: WatchRequest,
    on_end: impl FnOnce(WatchEnd) + Send + 'static,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let mut encoder = Encoder { rt: req.rt.clone(), output: req.output, first_table: true };
    let mut initial: Vec<Bytes> = Vec::new();
    let faults = cluster.faults.current();
    let asked: Option<u64> = match req.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?),
    };
    let (mut notify, mut cursor) = {
        let st = cluster.lock();
        let notify = st.store.subscribe();
        match asked {
            Some(rv) if !req.send_initial_events => {
                if faults.gone_storm {
                    initial.push(encoder.error(&gone(rv, st.store.rv())));
                } else {
                    match st.store.changes_since(rv) {
                        Ok(changes) => {
                            for change in &changes {
                                if let Some(kind) = event_type(&req, change) {
                                    initial.push(encoder.frame(kind, &change.object));
                                }
                            }
                        }
                        Err(too_old) => initial.push(encoder.error(&gone(rv, too_old.oldest))),
                    }
                }
            }
            _ => {
                let ns = if req.rt.namespaced { req.namespace.as_deref() } else { None };
                for (key, object) in st.store.list(&req.rt.group_resource(), ns.filter(|n| !n.is_empty()), None) {
                    if req.options.matches(&key.0, &key.1, object) {
                        initial.push(encoder.frame("ADDED", object));
                    }
                }
                if req.send_initial_events {
                    initial.push(encoder.bookmark(st.store.rv(), true));
                }
            }
        }
        (notify, st.store.rv())
    };
    let poisoned = initial.last().is_some_and(|f| f.starts_with(b"{\"type\":\"ERROR\""));
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let timeout = req.timeout.unwrap_or_else(|| Duration::from_secs(rand::rng().random_range(1800..3600)));
    tokio::spawn(async move {
        let end = async {
            for frame in initial {
                if tx.send(frame).await.is_err() {
                    return WatchEnd::ClientGone;
                }
            }
            if poisoned {
                return WatchEnd::Gone;
            }
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            let mut bookmark = tokio::time::interval(cluster.settings.bookmark_interval);
            bookmark.reset();
            let mut drops = cluster.faults.subscribe_drops();
            let mut fault_rx = cluster.faults.subscribe();
            let drop_at = |every: Option<Duration>| every.map(|d| tokio::time::Instant::now() + d);
            let mut drop_due = drop_at(fault_rx.borrow().drop_watches_every);
            loop {
                let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
                tokio::select! {
                    _ = &mut deadline => return WatchEnd::Timeout,
                    _ = drops.changed() => return WatchEnd::Dropped,
                    _ = tokio::time::sleep_until(drop_due.unwrap_or(far)), if drop_due.is_some() => return WatchEnd::Dropped,
                    changed = fault_rx.changed() => {
                        if changed.is_err() { return WatchEnd::Dropped; }
                        let f = fault_rx.borrow_and_update().clone();
                        if f.gone_storm {
                            let _ = tx.send(encoder.error(&gone(cursor, cursor + 1))).await;
                            return WatchEnd::Gone;
                        }
                        if f.outage == Some(OutageMode::Refused) {
                            return WatchEnd::Dropped;
                        }
                        if f.drop_watches_every.is_none() {
                            drop_due = None;
                        } else if drop_due.is_none() {
                            drop_due = drop_at(f.drop_watches_every);
                        }
                        cluster.faults.pass_hang().await;
                    }
                    _ = bookmark.tick(), if req.bookmarks => {
                        if tx.send(encoder.bookmark(cursor, false)).await.is_err() {
                            return WatchEnd::ClientGone;
                        }
                    }
                    changed = notify.changed() => {
                        if changed.is_err() { return WatchEnd::Dropped; }
                        let (frames, next) = {
                            let st = cluster.lock();
                            if st.registry.lookup(&req.rt.group, &req.rt.version, &req.rt.plural).is_none() {
                                return WatchEnd::ResourceRemoved;
                            }
                            match st.store.changes_since(cursor) {
                                Ok(changes) => {
                                    let next = changes.last().map_or(cursor, |c| c.rv);
                                    let frames: Vec<Bytes> = changes
                                        .iter()
                                        .filter_map(|c| event_type(&req, c).map(|k| encoder.frame(k, &c.object)))
                                        .collect();
                                    (frames, next)
                                }
                                Err(too_old) => (vec![encoder.error(&gone(cursor, too_old.oldest))], u64::MAX),
                            }
                        };
                        for frame in frames {
                            if tx.send(frame).await.is_err() {
                                return WatchEnd::ClientGone;
                            }
                        }
                        if next == u64::MAX {
                            return WatchEnd::Gone;
                        }
                        cursor = next;
                    }
                    _ = tx.closed() => return WatchEnd::ClientGone,
                }
            }
        }
        .await;
        on_end(end);
    });
    Ok(rx)
}
