//! One context's life: build its client, start probing, connect (version, identity,
//! discovery) with backoff, then run a watcher per kind that exists there, and look
//! again now and then for kinds whose CRD appeared.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::version::Info;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::client::Http;
use super::contexts::ContextSpec;
use super::errors::{classify, not_an_api, one_line};
use super::event::{ClusterId, EngineEvent};
use super::lag;
use super::watch::{self, Stopped};
use super::{Settings, client, exec, probe};
use crate::fleet::failure::{ErrorInfo, Failure};
use crate::fleet::kind::Kind;
use crate::fleet::probes::Handshake;

struct Facts {
    version: String,
    uid: Option<String>,
    groups: Groups,
    handshake: Handshake,
}

/// A GET of `path` for `request`'s JSON.
fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path).body(Vec::new()).expect("a path of ours is a valid URI")
}

async fn connect(http: &mut Http, timeout: Duration) -> Result<Facts, ErrorInfo> {
    let fail = |e: &kube::Error| {
        let (f, m) = classify(e);
        ErrorInfo::new(f, m, Timestamp::now())
    };
    let after = humantime::format_duration(timeout);
    let timed =
        |what: &str| ErrorInfo::new(Failure::Timeout, format!("{what} timed out after {after}"), Timestamp::now());
    // The first request opens the connection (TCP, TLS, HTTP/2): its time is the
    // handshake's, a figure of its own, not a probe.
    let due = tokio::time::Instant::now();
    let (version, took, busy) =
        lag::timed(due, tokio::time::timeout(timeout, http.request::<Info>(get("/version")))).await;
    let version = match version.map_err(|_| timed("GET /version"))? {
        Ok(v) if !v.git_version.is_empty() => v,
        // JSON, but not the API's: what the server said instead, in its own words.
        Ok(_) | Err(kube::Error::SerdeError(_)) => {
            let said = what_it_said(http, timeout).await;
            return Err(ErrorInfo::new(Failure::Other, not_an_api(&said), Timestamp::now()));
        }
        Err(e) => return Err(fail(&e)),
    };
    let handshake = Handshake { took, busy };
    let groups = tokio::time::timeout(timeout, http.request::<GroupList>(get("/apis")))
        .await
        .map_err(|_| timed("GET /apis"))?
        .map_err(|e| fail(&e))?;
    let uid =
        match tokio::time::timeout(timeout, http.request::<Namespace>(get("/api/v1/namespaces/kube-system"))).await {
            Ok(Ok(ns)) => ns.metadata.uid,
            // Identity is best effort: a user who may not read namespaces still sees the rest.
            _ => None,
        };
    Ok(Facts { version: version.git_version, uid, groups: served(groups), handshake })
}

/// The start of what a server that is not an API server answered to GET /version.
async fn what_it_said(http: &mut Http, timeout: Duration) -> String {
    match tokio::time::timeout(timeout, http.request_text(get("/version"))).await {
        Ok(Ok(body)) => match one_line(&body, 60) {
            line if line.is_empty() => "an empty body".to_owned(),
            line => format!("{line:?}"),
        },
        _ => "something that is not the API's JSON".to_owned(),
    }
}

/// Sleeps until `at`, or for ever.
async fn sleep_until(at: Option<Timestamp>) {
    match at {
        // A time already past is no wait (a negative duration does not convert).
        Some(at) => {
            tokio::time::sleep(Duration::try_from(Timestamp::now().duration_until(at)).unwrap_or_default()).await
        }
        None => std::future::pending().await,
    }
}

/// Runs the exec plugin again before its token expires; when it fails, the old token
/// serves until it expires (requests then fail as Unauthorized) and the plugin is tried
/// again in 30 s. When to renew next.
async fn renew(
    plugin: Option<&kube::config::ExecConfig>,
    bearer: Option<&client::Bearer>,
    settings: &Settings,
    context: &str,
) -> Option<Timestamp> {
    let (plugin, bearer) = (plugin?, bearer?);
    let retry = Timestamp::now() + jiff::SignedDuration::from_secs(30);
    match exec::run(plugin, settings.exec_timeout).await {
        Ok(got) => match got.token.as_deref().and_then(client::bearer_header) {
            Some(header) => {
                *bearer.write().unwrap_or_else(|e| e.into_inner()) = header;
                tracing::info!(context, "exec credential renewed");
                got.refresh_at()
            }
            None => {
                tracing::warn!(context, "exec plugin renewed with no usable token");
                Some(retry)
            }
        },
        Err((_, message)) => {
            tracing::warn!(context, %message, "renewing the exec credential");
            Some(retry)
        }
    }
}

/// The kinds a cluster watches.
fn kinds(is_hub: bool) -> impl Iterator<Item = Kind> {
    Kind::ALL.into_iter().filter(move |k| is_hub || !k.hub_only())
}

/// The API groups of watched kinds that a cluster serves (the only groups the task keeps:
/// a cluster serves dozens).
type Groups = Vec<&'static str>;

/// `/apis` as far as the task reads it: the groups' names (not their versions, read into
/// strings every minute for a thousand clusters).
#[derive(serde::Deserialize)]
struct GroupList {
    groups: Vec<GroupName>,
}

#[derive(serde::Deserialize)]
struct GroupName {
    name: String,
}

fn served(list: GroupList) -> Groups {
    let mut groups: Groups = Kind::ALL.iter().filter_map(|k| k.crd_group()).collect();
    groups.sort_unstable();
    groups.dedup();
    groups.retain(|g| list.groups.iter().any(|served| served.name == *g));
    groups
}

/// What a connected cluster's task keeps for the session: its name and role, the plugin
/// and token to renew, the connection and what it serves.
struct Connected {
    name: String,
    is_hub: bool,
    plugin: Option<Box<kube::config::ExecConfig>>,
    bearer: Option<client::Bearer>,
    renew_at: Option<Timestamp>,
    http: Http,
    groups: Groups,
}

/// One context's task. The connecting (the kubeconfig's configuration, an exec plugin's
/// run, the first requests) is boxed from the start, so what it held goes once it is
/// done: the task then keeps only the session's state ([`Connected`]) for as long as
/// it runs.
pub fn run(
    cluster: ClusterId,
    spec: ContextSpec,
    settings: Arc<Settings>,
    tx: mpsc::Sender<EngineEvent>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let connecting = Box::pin(connect_with_backoff(cluster, spec, settings.clone(), tx.clone(), shutdown.clone()));
    async move {
        if let Some(connected) = connecting.await {
            serve(cluster, connected, &settings, &tx, &shutdown).await;
        }
    }
}

/// Builds the context's client and connects with backoff, reporting every failure; None
/// when the session ends first (or the context cannot connect at all: it then waits for
/// the end, its row saying why).
async fn connect_with_backoff(
    cluster: ClusterId,
    spec: ContextSpec,
    settings: Arc<Settings>,
    tx: mpsc::Sender<EngineEvent>,
    shutdown: CancellationToken,
) -> Option<Connected> {
    let failed = |error: ErrorInfo| EngineEvent::ConnectFailed { cluster, error };
    // Only the name and role stay with the task: the configuration (its certificates and
    // keys among it) goes into the client.
    let ContextSpec { name, is_hub, config, .. } = spec;
    let mut config = match config {
        Ok(config) => config,
        // The kubeconfig could not be read into a client configuration.
        Err(message) => {
            let _ = tx.send(failed(ErrorInfo::new(Failure::Config, message, Timestamp::now()))).await;
            shutdown.cancelled().await;
            return None;
        }
    };
    // An exec plugin runs until it gives a credential: one that fails or hangs is run
    // again with backoff (its user may log in meanwhile), its words on the row.
    let plugin = config.auth_info.exec.clone().map(Box::new);
    let mut credential = None;
    if let Some(exec) = &plugin {
        let mut backoff = Duration::from_secs(1);
        loop {
            let ran = tokio::select! {
                _ = shutdown.cancelled() => return None,
                ran = exec::run(exec, settings.exec_timeout) => ran,
            };
            match ran {
                Ok(got) => {
                    got.apply(&mut config);
                    credential = Some(got);
                    break;
                }
                Err((failure, message)) => {
                    tx.send(failed(ErrorInfo::new(failure, message, Timestamp::now()))).await.ok()?;
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
    let bearer = credential.as_ref().and_then(exec::Credential::bearer);
    let renew_at = credential.as_ref().and_then(exec::Credential::refresh_at);
    let mut http = match client::build(config, settings.connect_timeout, bearer.clone()) {
        Ok(built) => built,
        Err((failure, message)) => {
            let _ = tx.send(failed(ErrorInfo::new(failure, message, Timestamp::now()))).await;
            shutdown.cancelled().await;
            return None;
        }
    };
    let mut backoff = Duration::from_secs(1);
    let facts = loop {
        match connect(&mut http, settings.connect_timeout.max(settings.probe_timeout)).await {
            Ok(facts) => break facts,
            Err(error) => {
                tx.send(failed(error)).await.ok()?;
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    };
    let connected = EngineEvent::Connected {
        cluster,
        version: facts.version,
        uid: facts.uid,
        handshake: facts.handshake,
        at: Timestamp::now(),
    };
    tx.send(connected).await.ok()?;
    Some(Connected { name, is_hub, plugin, bearer, renew_at, http, groups: facts.groups })
}

/// A connected cluster's session: its access review, probes and watchers, renewing
/// its credential and looking again for kinds whose CRD appeared, until the end.
async fn serve(
    cluster: ClusterId,
    connected: Connected,
    settings: &Settings,
    tx: &mpsc::Sender<EngineEvent>,
    shutdown: &CancellationToken,
) {
    let Connected { name, is_hub, plugin, bearer, mut renew_at, mut http, mut groups } = connected;
    // Whether these credentials could write, asked beside the watches, once.
    // It ends on its own (no handle kept, so the finished task's memory goes with it).
    {
        let (client, tx, timeout, shutdown) = (http.kube(), tx.clone(), settings.probe_timeout, shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                writes = super::access::review(&client, timeout) => {
                    let _ = tx.send(EngineEvent::Access { cluster, writes }).await;
                }
            }
        });
    }
    // Told by the prober when the cluster answers again after failures.
    let answers_again = Arc::new(tokio::sync::Notify::new());
    // Probes start once the first request has opened the connection, so they, and the
    // watchers after them, share it instead of racing to open their own.
    let probes = tokio::spawn(probe::run(
        http.clone(),
        cluster,
        settings.probe_interval,
        settings.probe_timeout,
        tx.clone(),
        answers_again.clone(),
        shutdown.clone(),
    ));

    let mut watchers: HashMap<Kind, JoinHandle<Stopped>> = HashMap::new();
    let mut reported_missing: BTreeSet<Kind> = BTreeSet::new();
    // Discovery again every `rediscover_every`, from a point in it drawn per cluster: a
    // fleet connected in the same seconds does not ask all at once every minute.
    let first = settings.rediscover_every.mul_f64(1.0 + rand::random::<f64>());
    let mut rediscover = tokio::time::interval_at(tokio::time::Instant::now() + first, settings.rediscover_every);
    loop {
        for kind in kinds(is_hub) {
            if watchers.get(&kind).is_some_and(|h| !h.is_finished()) {
                continue;
            }
            let installed = kind.crd_group().is_none_or(|g| groups.contains(&g));
            if installed {
                reported_missing.remove(&kind);
                let handle = tokio::spawn(watch::run(
                    http.clone(),
                    cluster,
                    kind,
                    settings.coalesce,
                    tx.clone(),
                    answers_again.clone(),
                    shutdown.child_token(),
                ));
                watchers.insert(kind, handle);
            } else if reported_missing.insert(kind) {
                let _ = tx.send(EngineEvent::NotInstalled { cluster, kind }).await;
            }
        }
        // Every request below is boxed: the task lives as long as the session, and an
        // inline request future would keep its room (kilobytes) for good.
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sleep_until(renew_at) => {
                renew_at = Box::pin(renew(plugin.as_deref(), bearer.as_ref(), settings, &name)).await;
            }
            _ = rediscover.tick() => {
                if let Ok(Ok(list)) = tokio::time::timeout(settings.probe_timeout, Box::pin(http.request::<GroupList>(get("/apis")))).await {
                    groups = served(list);
                }
            }
        }
    }
    probes.abort();
    for (_, handle) in watchers {
        handle.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_task_keeps_little_for_the_session() {
        // A thousand clusters' tasks live for the session: their futures' room is paid
        // a thousand times over (3.3 KB before the connecting was boxed, 1.0 KB after).
        let settings = Arc::new(Settings::default());
        let (tx, _rx) = mpsc::channel(1);
        let shutdown = CancellationToken::new();
        let spec = ContextSpec::unconnected("spoke-1", false);
        let task = run(7, spec, settings.clone(), tx.clone(), shutdown.clone());
        let http = client::unconnected();
        let connected = Connected {
            name: "spoke-1".into(),
            is_hub: false,
            plugin: None,
            bearer: None,
            renew_at: None,
            http,
            groups: vec![],
        };
        let session = serve(7, connected, &settings, &tx, &shutdown);
        let (task, session) = (std::mem::size_of_val(&task), std::mem::size_of_val(&session));
        assert!(task <= 1536 && session <= 1536, "task {task} bytes, session {session} bytes");
    }

    #[test]
    fn only_the_watched_kinds_groups_are_kept() {
        let list: GroupList = serde_json::from_value(serde_json::json!({
            "groups": [
                {"name": "apps", "versions": []},
                {"name": "velero.io", "versions": []},
                {"name": "wgpolicyk8s.io", "versions": []},
                {"name": "example.com", "versions": []},
            ]
        }))
        .unwrap();
        assert_eq!(served(list), vec!["velero.io", "wgpolicyk8s.io"]);
    }
}
