//! One watcher per (cluster, kind): list then watch with backoff (kube-runtime), every
//! object folded into its summary at once, and changes sent on the bounded channel to
//! the model: a lone change at once, a burst coalesced per object into a batch per
//! window (`engine.coalesce`). A relist is sent whole, so it replaces what was known
//! instead of merging into it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::errors::classify_watch;
use super::event::{ClusterId, EngineEvent};
use super::resources::{fold, resource};
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
    client: kube::Client,
    cluster: ClusterId,
    kind: Kind,
    coalesce: Duration,
    tx: mpsc::Sender<EngineEvent>,
    answers_again: Arc<Notify>,
    shutdown: CancellationToken,
) -> Stopped {
    let r = resource(kind);
    let api: Api<DynamicObject> = match r.namespace {
        Some(ns) => Api::namespaced_with(client, ns, &r.api),
        None => Api::all_with(client, &r.api),
    };
    let mut config = watcher::Config::default();
    if let Some(fs) = r.field_selector {
        config = config.fields(fs);
    }
    if let Some(ls) = r.label_selector {
        config = config.labels(ls);
    }
    let mut backoff = Backoff::default();
    loop {
        if tx.send(EngineEvent::WatchStarted { cluster, kind }).await.is_err() {
            return Stopped::Shutdown;
        }
        // A fresh list after every failure: the relist is what tells the model the watch
        // has recovered, and it replaces whatever changed meanwhile.
        let outcome = watch_once(&api, config.clone(), cluster, kind, coalesce, &tx, &shutdown, &mut backoff).await;
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

#[allow(clippy::too_many_arguments)]
async fn watch_once(
    api: &Api<DynamicObject>,
    config: watcher::Config,
    cluster: ClusterId,
    kind: Kind,
    coalesce: Duration,
    tx: &mpsc::Sender<EngineEvent>,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
) -> Outcome {
    let mut stream = watcher(api.clone(), config).boxed();
    let mut init: Vec<(ObjectKey, Summary)> = Vec::new();
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
                tx.send(EngineEvent::Changes { cluster, kind, changes, observed, at: Timestamp::now() }).await
            }
            event = stream.next() => match event {
                None => return Outcome::Failed,
                Some(Ok(watcher::Event::Init)) => {
                    init.clear();
                    Ok(())
                }
                Some(Ok(watcher::Event::InitApply(object))) => {
                    init.push(fold(kind, &object));
                    Ok(())
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    backoff.reset();
                    // The new complete set supersedes changes not yet sent.
                    pending.clear();
                    first_pending = None;
                    tx.send(EngineEvent::Relist { cluster, kind, items: std::mem::take(&mut init), at: Timestamp::now() }).await
                }
                Some(Ok(watcher::Event::Apply(object))) => {
                    let (key, summary) = fold(kind, &object);
                    pending.insert(key, Some(summary));
                    first_pending.get_or_insert_with(Instant::now);
                    Ok(())
                }
                Some(Ok(watcher::Event::Delete(object))) => {
                    let (key, _) = fold(kind, &object);
                    pending.insert(key, None);
                    first_pending.get_or_insert_with(Instant::now);
                    Ok(())
                }
                Some(Err(err)) => {
                    let (failure, message) = classify_watch(&err);
                    tracing::debug!(cluster, ?kind, %message, "watch error");
                    if failure == Failure::NotFound && kind.crd_group().is_some() {
                        let _ = tx.send(EngineEvent::NotInstalled { cluster, kind }).await;
                        return Outcome::Stopped(Stopped::NotInstalled);
                    }
                    // Changes gathered before the failure are still true: send them.
                    if !pending.is_empty() {
                        let observed = first_pending.take().map(|i| i.into_std()).unwrap_or_else(std::time::Instant::now);
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
                    return Outcome::Failed;
                }
            }
        };
        if sent.is_err() {
            return Outcome::Stopped(Stopped::Shutdown);
        }
    }
}
