//! The audit webhook receiver: API servers started with `--audit-webhook-config-file`
//! POST an `audit.k8s.io/v1` EventList per batch. The cluster is the URL path's last
//! segment (`https://host:8443/audit/production-eu-1`), else "webhook". TLS when a
//! certificate and key are configured. A body that is not an EventList is answered 400
//! and counted; one bad item does not lose the others.

use std::path::PathBuf;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::feed::{Feed, SourceStatus};
use super::parse::{Parsed, event_list};

/// The largest body accepted (the API server's default batch is far smaller).
const MAX_BODY: usize = 32 << 20;

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `host:port`.
    pub listen: String,
    /// PEM certificate chain and key: TLS when set.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A TLS acceptor of a PEM certificate chain and key (the webhook's and `serve`'s).
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("reading {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("reading {}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Listens until `shutdown`; how it goes is sent as the source's status.
pub async fn serve(settings: WebhookSettings, tx: mpsc::Sender<Feed>, shutdown: CancellationToken) {
    let mut status = SourceStatus::new(format!("webhook {}", settings.listen));
    let acceptor = match &settings.tls {
        Some((cert, key)) => match tls_acceptor(cert, key) {
            Ok(a) => Some(a),
            Err(e) => {
                status.set(&format!("TLS: {e}"), false);
                let _ = tx.send(Feed::Status(status)).await;
                return;
            }
        },
        None => None,
    };
    let listener = match TcpListener::bind(&settings.listen).await {
        Ok(l) => l,
        Err(e) => {
            status.set(&format!("cannot listen: {e}"), false);
            let _ = tx.send(Feed::Status(status)).await;
            return;
        }
    };
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| settings.listen.clone());
    status.set(&format!("listening on {scheme}://{address}"), true);
    let _ = tx.send(Feed::Status(status.clone())).await;
    let status = Arc::new(Mutex::new(status));
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let (tx, status, acceptor) = (tx.clone(), status.clone(), acceptor.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| receive(req, tx.clone(), status.clone()));
            let builder = auto::Builder::new(TokioExecutor::new());
            match acceptor {
                Some(a) => {
                    if let Ok(tls) = a.accept(stream).await {
                        let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                }
            }
        });
    }
}

fn answer(code: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_owned())));
    *r.status_mut() = code;
    r
}

async fn receive(
    req: Request<Incoming>,
    tx: mpsc::Sender<Feed>,
    status: Arc<Mutex<SourceStatus>>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    if req.method() != Method::POST {
        return Ok(answer(StatusCode::METHOD_NOT_ALLOWED, "POST an audit.k8s.io/v1 EventList"));
    }
    let cluster =
        req.uri().path().trim_end_matches('/').rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("webhook");
    let cluster: Arc<str> = Arc::from(cluster);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(answer(StatusCode::BAD_REQUEST, &format!("reading the body: {e}"))),
    };
    let (reply, items) = match event_list(&cluster, &body) {
        Ok(items) => (answer(StatusCode::OK, "{}"), items),
        Err(e) => (answer(StatusCode::BAD_REQUEST, &e), vec![Err(e)]),
    };
    let mut records = Vec::new();
    let snapshot = {
        let mut s = status.lock().await;
        for item in items {
            s.lines += 1;
            match item {
                Ok(Parsed::Record(r)) => records.push(*r),
                Ok(Parsed::Skipped) => {}
                Err(e) => {
                    s.malformed += 1;
                    s.last_error = Some(format!("{cluster}: {e}"));
                }
            }
        }
        s.clone()
    };
    if !records.is_empty() {
        let _ = tx.send(Feed::Records(records)).await;
    }
    let _ = tx.send(Feed::Status(snapshot)).await;
    Ok(reply)
}
