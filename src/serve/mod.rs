//! `fleetdeck serve`: the engine and the model without a terminal, running continuously
//! (watches and probes as the TUI runs them), serving the fleet's judgments for
//! Prometheus: `GET /metrics` (OpenMetrics), `/healthz`, `/readyz` (ready once every
//! cluster was listed and probed, or is clearly failing).
//!
//! One task owns the model, as in the TUI: requests reach it over a channel and get
//! their answer back, so a scrape sees the model at one instant, never half an update.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use color_eyre::eyre::{Result, WrapErr, eyre};
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use crate::app::model::Model;
use crate::app::msg::Msg;
use crate::app::update::update;
use crate::check::{CheckSettings, settled};
use crate::cluster::{ContextSpec, Engine, EngineEvent};
use crate::config::Config;

mod metrics;

use metrics::Counted;

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
    let mut counted = Counted::new(Timestamp::now());
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
                        let _ = reply.send(scrape(&mut model, &counted, settings.shard.as_deref(), now));
                    }
                    Ask::Ready(reply) => {
                        let _ = reply.send(ready(&model, &readiness, now));
                    }
                }
            }
            event = events.recv() => match event {
                Some(event) => {
                    let id = event.cluster();
                    if let Some(c) = model.fleet.cluster(id) {
                        counted.count(&c.context, &event);
                    }
                    let (kind, observed) = match &event {
                        EngineEvent::Relist { kind, .. } => (Some(*kind), None),
                        EngineEvent::Changes { kind, observed, .. } => (Some(*kind), Some(*observed)),
                        _ => (None, None),
                    };
                    update(&mut model, Msg::Engine(event));
                    counted.applied(&model, id, kind, observed);
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

/// The metrics at `now`: the report's snapshot families, what was counted, and what is
/// drawn from the model.
fn scrape(model: &mut Model, counted: &Counted, shard: Option<&str>, now: Timestamp) -> String {
    model.now = now;
    let derived = model.derived();
    let report = crate::derive::report::report(&model.fleet, &derived, now);
    crate::derive::metrics::openmetrics_with(&report, shard, |registry| {
        counted.register(registry);
        registry.register_collector(Box::new(metrics::drawn(model, &derived, now)));
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
