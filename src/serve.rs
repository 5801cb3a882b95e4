//! `fleetdeck serve`: the engine and the model without a terminal, running continuously
//! (watches and probes as the TUI runs them), serving the fleet's judgments for
//! Prometheus: `GET /metrics` (OpenMetrics), `/healthz`, `/readyz` (ready once every
//! cluster was listed and probed, or is clearly failing).
//!
//! One task owns the model, as in the TUI: requests reach it over a channel and get
//! their answer back, so a scrape sees the model at one instant, never half an update.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use color_eyre::eyre::{Result, WrapErr, eyre};
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use jiff::Timestamp;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{mpsc, oneshot};

use crate::app::model::Model;
use crate::app::msg::Msg;
use crate::app::update::update;
use crate::check::{CheckSettings, settled};
use crate::cluster::{ContextSpec, Engine, EngineEvent};
use crate::config::Config;

/// The buckets of the probe histogram, in seconds: dense around the 100 ms target.
pub const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0];

type Labels = Vec<(String, String)>;

/// What `serve` counts as the engine reports: the API probe histogram and failed probes
/// per cluster, and watch failures and relists per cluster and kind. Shared with each
/// scrape's registry (a family is a handle).
#[derive(Clone)]
pub struct ProbeMetrics {
    pub latency: Family<Labels, Histogram, fn() -> Histogram>,
    pub failed: Family<Labels, Counter<u64, AtomicU64>>,
    pub watch_failures: Family<Labels, Counter<u64, AtomicU64>>,
    pub relists: Family<Labels, Counter<u64, AtomicU64>>,
}

impl Default for ProbeMetrics {
    fn default() -> Self {
        fn histogram() -> Histogram {
            Histogram::new(LATENCY_BUCKETS)
        }
        Self {
            latency: Family::new_with_constructor(histogram),
            failed: Family::default(),
            watch_failures: Family::default(),
            relists: Family::default(),
        }
    }
}

impl ProbeMetrics {
    /// Counts what an engine event says of the watches and probes.
    fn count(&self, cluster: &str, event: &EngineEvent) {
        let of = |kind: crate::fleet::kind::Kind| {
            vec![("cluster".to_owned(), cluster.to_owned()), ("kind".to_owned(), kind.label().to_owned())]
        };
        match event {
            EngineEvent::Probe { sample, .. } => self.observe(cluster, sample),
            EngineEvent::WatchFailed { kind, .. } => _ = self.watch_failures.get_or_create(&of(*kind)).inc(),
            EngineEvent::Relist { kind, .. } => _ = self.relists.get_or_create(&of(*kind)).inc(),
            _ => {}
        }
    }

    /// A probe of `cluster`: its answer's time, or a failure. Probes fleetdeck's own
    /// runtime delayed are not charged (as on the latency pane).
    fn observe(&self, cluster: &str, sample: &crate::fleet::probes::Sample) {
        if !sample.charged() {
            return;
        }
        let labels = vec![("cluster".to_owned(), cluster.to_owned())];
        match &sample.outcome {
            Ok(took) => self.latency.get_or_create(&labels).observe(took.as_secs_f64()),
            Err(_) => _ = self.failed.get_or_create(&labels).inc(),
        }
    }
}

/// A request for the task that owns the model.
enum Ask {
    Metrics(oneshot::Sender<String>),
    /// Ready, or why not.
    Ready(oneshot::Sender<Result<(), String>>),
}

/// How `serve` runs.
#[derive(Clone)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    /// The `shard` label of every series.
    pub shard: Option<String>,
    /// TLS, when a certificate and key are configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The bearer token `/metrics` and `/readyz` require.
    pub token: Option<String>,
}

impl ServeSettings {
    /// From `[serve]`, with the command line's listen address and shard.
    pub fn of(config: &Config, listen: Option<SocketAddr>, shard: Option<String>) -> Result<Self> {
        let s = &config.serve;
        let listen = match listen {
            Some(l) => l,
            None => s.listen.parse().wrap_err_with(|| format!("serve.listen = {:?}", s.listen))?,
        };
        let tls = if s.tls_cert.as_os_str().is_empty() {
            None
        } else {
            Some(crate::audit::webhook::tls_acceptor(&s.tls_cert, &s.tls_key).map_err(|e| eyre!("serve TLS: {e}"))?)
        };
        let token = if s.bearer_token_file.as_os_str().is_empty() {
            None
        } else {
            let path = &s.bearer_token_file;
            let text = std::fs::read_to_string(path).wrap_err_with(|| format!("reading {}", path.display()))?;
            let token = text.trim().to_owned();
            if token.is_empty() {
                return Err(eyre!("{} holds no token", path.display()));
            }
            Some(token)
        };
        Ok(Self { listen, shard, tls, token })
    }
}

/// Compares in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(contexts: Vec<ContextSpec>, config: &Config, settings: ServeSettings) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .wrap_err_with(|| format!("cannot listen on {}", settings.listen))?;
    tracing::info!(listen = %settings.listen, clusters = contexts.len(), "serving metrics");
    let mut model = Model::new(&contexts, crate::launch::model_settings(config, false), Timestamp::now());
    let (engine, mut events) = Engine::start(contexts, crate::launch::engine_settings(config));
    // Ready once each cluster is listed with one probe answered, or clearly failing.
    let readiness = CheckSettings { probes: 1, ..CheckSettings::of(config) };
    let probes = ProbeMetrics::default();
    let (asks, mut asked) = mpsc::channel::<Ask>(64);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => _ = t.recv().await, None => std::future::pending().await } } => {}
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(connection(stream, asks.clone(), settings.tls.clone(), settings.token.clone()));
                }
            }
            Some(ask) = asked.recv() => {
                let now = Timestamp::now();
                update(&mut model, Msg::Tick(now));
                match ask {
                    Ask::Metrics(reply) => {
                        let _ = reply.send(scrape(&mut model, &probes, settings.shard.as_deref(), now));
                    }
                    Ask::Ready(reply) => {
                        let _ = reply.send(ready(&model, &readiness, now));
                    }
                }
            }
            event = events.recv() => match event {
                Some(event) => {
                    if let Some(c) = model.fleet.cluster(event.cluster()) {
                        probes.count(&c.context, &event);
                    }
                    update(&mut model, Msg::Engine(event));
                }
                None => break,
            },
            _ = tick.tick() => {
                update(&mut model, Msg::Tick(Timestamp::now()));
            }
        }
    }
    engine.stop().await;
    Ok(())
}

/// The metrics at `now`: the report's snapshot families and the probe histogram.
fn scrape(model: &mut Model, probes: &ProbeMetrics, shard: Option<&str>, now: Timestamp) -> String {
    model.now = now;
    let derived = model.derived();
    let report = crate::derive::report::report(&model.fleet, &derived, now);
    crate::derive::metrics::openmetrics_with(&report, shard, |registry| {
        registry.register_with_unit(
            "api_probe_duration",
            "API probe round trips (GET /readyz), from where fleetdeck runs",
            prometheus_client::registry::Unit::Seconds,
            probes.latency.clone(),
        );
        registry.register("api_probe_failures", "API probes that failed or timed out", probes.failed.clone());
        registry.register(
            "watch_failures",
            "watch attempts that failed (retried with backoff)",
            probes.watch_failures.clone(),
        );
        registry.register(
            "watch_relists",
            "complete lists of a kind (the first, and after a 410 or a failure)",
            probes.relists.clone(),
        );
        // Drawn from the model at the scrape: gone with what they describe.
        let runs: Family<Labels, prometheus_client::metrics::gauge::Gauge> = Family::default();
        let storage: Family<Labels, prometheus_client::metrics::gauge::Gauge> = Family::default();
        for c in model.fleet.clusters() {
            for s in c.storage.values() {
                let labels = vec![("cluster".to_owned(), c.context.clone()), ("location".to_owned(), s.name.clone())];
                storage.get_or_create(&labels).set(i64::from(s.phase == "Available"));
            }
        }
        if let Some(hub) = model.fleet.hub() {
            let (ttl, host) = (model.fleet.settings.lock_ttl, model.fleet.settings.host.clone());
            for r in hub.runs.values() {
                let labels = vec![
                    ("workflow".to_owned(), r.workflow.name().to_owned()),
                    ("state".to_owned(), r.state_at(now, ttl, &host).name().to_owned()),
                ];
                runs.get_or_create(&labels).inc();
            }
        }
        registry.register(
            "backup_storage_available",
            "whether a Velero storage location is Available (1) or not (0)",
            storage,
        );
        registry.register("runs", "workflow runs on the hub, by workflow and state", runs);
        // Per spoke and Kustomization: its state (one series per state) and how long it
        // has been behind its source.
        let states: Family<Labels, prometheus_client::metrics::gauge::Gauge> = Family::default();
        let behind: Family<Labels, prometheus_client::metrics::gauge::Gauge<f64, AtomicU64>> = Family::default();
        for &id in derived.order.iter() {
            let (Some(view), Some(c)) = (derived.cluster(id), model.fleet.cluster(id)) else { continue };
            for cell in view.rows.sync.iter().flat_map(|row| row.present()) {
                let of = |extra: Option<(&str, &str)>| {
                    let mut l = vec![
                        ("cluster".to_owned(), c.context.clone()),
                        ("kustomization".to_owned(), cell.key.1.clone()),
                    ];
                    l.extend(extra.map(|(k, v)| (k.to_owned(), v.to_owned())));
                    l
                };
                for category in ["in_sync", "pending", "failed", "suspended"] {
                    let current = i64::from(cell.state.category() == category);
                    states.get_or_create(&of(Some(("state", category)))).set(current);
                }
                let seconds =
                    cell.state.behind_since().map_or(0.0, |since| crate::fleet::ago(now, since).as_secs_f64());
                behind.get_or_create(&of(None)).set(seconds);
            }
        }
        registry.register(
            "kustomization_state",
            "a spoke's Kustomization on the hub, one series per state (1 for the current)",
            states,
        );
        registry.register_with_unit(
            "kustomization_behind_source",
            "how long a spoke's Kustomization has been behind its source's revision (0 when at it)",
            prometheus_client::registry::Unit::Seconds,
            behind,
        );
    })
}

/// Ready once every cluster told what it will tell (listed and probed, or failing).
fn ready(model: &Model, settings: &CheckSettings, now: Timestamp) -> Result<(), String> {
    let waiting: Vec<&str> = (0..model.fleet.clusters().len())
        .filter(|&i| !settled(model, i, settings, now))
        .map(|i| model.fleet.clusters()[i].context.as_str())
        .collect();
    if waiting.is_empty() { Ok(()) } else { Err(format!("waiting for {}", waiting.join(", "))) }
}

async fn connection(
    stream: tokio::net::TcpStream,
    asks: mpsc::Sender<Ask>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    token: Option<String>,
) {
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let (asks, token) = (asks.clone(), token.clone());
        async move { Ok::<_, Infallible>(answer(request, asks, token.as_deref()).await) }
    });
    let http = hyper::server::conn::http1::Builder::new();
    let served = match tls {
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(tls) => http.serve_connection(hyper_util::rt::TokioIo::new(tls), service).await,
            Err(e) => {
                tracing::debug!(error = %e, "a metrics connection failed its TLS handshake");
                return;
            }
        },
        None => http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await,
    };
    if let Err(e) = served {
        tracing::debug!(error = %e, "a metrics connection ended");
    }
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn answer(
    request: Request<hyper::body::Incoming>,
    asks: mpsc::Sender<Ask>,
    token: Option<&str>,
) -> Response<Full<Bytes>> {
    let plain = "text/plain; charset=utf-8";
    if request.method() != hyper::Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, plain, "only GET\n".into());
    }
    // Liveness stays open; what tells of the fleet needs the token when one is set.
    if let Some(token) = token
        && request.uri().path() != "/healthz"
    {
        let given = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            let mut r = text(StatusCode::UNAUTHORIZED, plain, "a bearer token is required\n".into());
            r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, hyper::header::HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    match request.uri().path() {
        "/healthz" => text(StatusCode::OK, plain, "ok\n".into()),
        "/metrics" => {
            let (reply, answer) = oneshot::channel();
            if asks.send(Ask::Metrics(reply)).await.is_err() {
                return text(StatusCode::SERVICE_UNAVAILABLE, plain, "stopping\n".into());
            }
            match answer.await {
                Ok(body) => text(StatusCode::OK, OPENMETRICS, body),
                Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, plain, "stopping\n".into()),
            }
        }
        "/readyz" => {
            let (reply, answer) = oneshot::channel();
            if asks.send(Ask::Ready(reply)).await.is_err() {
                return text(StatusCode::SERVICE_UNAVAILABLE, plain, "stopping\n".into());
            }
            match answer.await {
                Ok(Ok(())) => text(StatusCode::OK, plain, "ready\n".into()),
                Ok(Err(why)) => text(StatusCode::SERVICE_UNAVAILABLE, plain, format!("{why}\n")),
                Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, plain, "stopping\n".into()),
            }
        }
        _ => text(StatusCode::NOT_FOUND, plain, "not found: /metrics, /healthz, /readyz\n".into()),
    }
}
