//! One Kubernetes client per context, on one HTTP/2 connection where the server offers it.
//!
//! kube's default client speaks HTTP/1.1 only, one connection per concurrent request, so a
//! fleet of watches would open thousands of sockets. This client is assembled from kube's
//! own layers (base URI, kubeconfig authentication including exec plugins and refreshing
//! tokens, extra headers) over the cluster's own [`Transport`]: one HTTP/2 connection
//! (offered by ALPN) that every watch and probe of a cluster shares, or hyper's HTTP/1.1
//! client where the server offers no HTTP/2.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, USER_AGENT};
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use kube::client::ConfigExt;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

use super::transport::{self, Transport};
use crate::fleet::failure::Failure;

/// The user agent of every request, so API server audit logs name fleetdeck.
pub fn user_agent() -> String {
    format!("fleetdeck/{}", env!("CARGO_PKG_VERSION"))
}

/// Why a client could not be built: what kind of failure (credentials that cannot be
/// used, or configuration), and the message for that context's row.
pub type BuildError = (Failure, String);

/// A bearer token that can be replaced while the client runs (an exec plugin's, renewed
/// before it expires).
pub type Bearer = Arc<RwLock<HeaderValue>>;

/// The `Authorization` header of a token.
pub fn bearer_header(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The body of an answer: hyper's, or kube's behind a proxy.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A cluster's requests for the session's long-lived tasks (probes, watches, discovery):
/// the client's own layers (base URI, credentials, headers) onto the cluster's connection,
/// without the request buffer `kube::Client` puts in front of them. That buffer hands each
/// request to a worker task and its answer back over a channel, two task switches a
/// probe (15 % of fleetdeck's idle CPU at 1,001 clusters), and keeps a worker and two
/// 10 KB channel blocks per cluster. kube's API types get a `kube::Client` of their own
/// for the occasional request ([`Http::kube`]), on the same connection.
#[derive(Clone)]
pub struct Http {
    service: BoxCloneSyncService<http::Request<kube::client::Body>, http::Response<Body>, BoxError>,
    namespace: Arc<str>,
    /// The connection's transport, to be told when a request on it timed out (none
    /// behind a proxy).
    transport: Option<Arc<Transport>>,
}

/// A service error as kube gives it: its own (credentials), hyper's, or another layer's.
pub fn kube_error(err: BoxError) -> kube::Error {
    err.downcast::<kube::Error>()
        .map(|e| *e)
        .or_else(|err| err.downcast::<hyper::Error>().map(|e| kube::Error::HyperError(*e)))
        .unwrap_or_else(kube::Error::Service)
}

/// An error status's answer as kube has it: the server's `Status` when it sent one, else
/// a failure `Status` of the status code and the body's words.
pub fn api_error(status: StatusCode, body: &str) -> kube::Error {
    let status = serde_json::from_str::<kube::core::Status>(body).unwrap_or_else(|_| {
        kube::core::Status::failure(body.trim(), "Failed to parse error data").with_code(status.as_u16())
    });
    kube::Error::Api(status.boxed())
}

impl Http {
    fn new<S, B>(service: S, namespace: &str, transport: Option<Arc<Transport>>) -> Self
    where
        S: tower::Service<http::Request<kube::client::Body>, Response = http::Response<B>, Error = BoxError>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let service = service
            .map_response(|response: http::Response<B>| response.map(|body| body.map_err(Into::into).boxed_unsync()));
        Self { service: BoxCloneSyncService::new(service), namespace: namespace.into(), transport }
    }

    /// A `kube::Client` on the same connection, for kube's typed API: its request buffer
    /// lives as long as the client does.
    pub fn kube(&self) -> kube::Client {
        kube::Client::new(self.service.clone(), &*self.namespace)
    }

    /// Sends a request: the answer whatever its status, or why there was none. On this
    /// handle's own service (each task holds its clone): no copy of the layers a request.
    pub async fn send(
        &mut self,
        request: http::Request<kube::client::Body>,
    ) -> Result<http::Response<Body>, kube::Error> {
        let service = self.service.ready().await.map_err(kube_error)?;
        service.call(request).await.map_err(kube_error)
    }

    /// A request on this cluster's connection timed out: the connection is asked to
    /// prove it is alive, and closed if it does not.
    pub fn suspect(&self) {
        if let Some(transport) = &self.transport {
            transport.suspect();
        }
    }

    /// A request's body as text; an error status is an API error (the server's `Status`
    /// when it sent one), as `kube::Client::request_text` has it.
    pub async fn request_text(&mut self, request: http::Request<Vec<u8>>) -> Result<String, kube::Error> {
        let response = self.send(request.map(kube::client::Body::from)).await?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(kube_error)?.to_bytes();
        let text = String::from_utf8(body.to_vec()).map_err(kube::Error::FromUtf8)?;
        if status.is_client_error() || status.is_server_error() {
            return Err(api_error(status, &text));
        }
        Ok(text)
    }

    /// A request's JSON answer, as `kube::Client::request` has it.
    pub async fn request<T: serde::de::DeserializeOwned>(
        &mut self,
        request: http::Request<Vec<u8>>,
    ) -> Result<T, kube::Error> {
        let text = self.request_text(request).await?;
        serde_json::from_str(&text).map_err(kube::Error::SerdeError)
    }

    /// GET `path`: the answer's status, body and time on the wire when the transport
    /// knows it (a probe's).
    pub async fn get(&mut self, path: &str) -> Result<(StatusCode, Bytes, Option<Duration>), kube::Error> {
        let request = http::Request::get(path).body(kube::client::Body::empty()).map_err(kube::Error::HttpError)?;
        let (parts, body) = self.send(request).await?.into_parts();
        let wire = parts.extensions.get::<transport::Wire>().map(|w| w.0);
        Ok((parts.status, body.collect().await.map_err(kube_error)?.to_bytes(), wire))
    }
}

/// A client of a server that is never asked (nothing connects before a request), for
/// tests of the tasks' layout.
#[cfg(test)]
pub(crate) fn unconnected() -> Http {
    let config = kube::Config::new(http::Uri::from_static("https://127.0.0.1:1"));
    build(config, Duration::from_secs(1), None).expect("a client of a plain URL")
}

/// Builds the requests of a context; `bearer`, when given, authenticates every request.
pub fn build(mut config: kube::Config, connect_timeout: Duration, bearer: Option<Bearer>) -> Result<Http, BuildError> {
    fn configuration(what: &str, e: impl std::fmt::Display) -> BuildError {
        (Failure::Config, format!("{what}: {e}"))
    }
    config.connect_timeout = Some(connect_timeout);
    let agent = HeaderValue::from_str(&user_agent()).map_err(|e| configuration("user agent", e))?;
    config.headers.push((USER_AGENT, agent));
    if config.proxy_url.is_some() {
        // kube's own stack knows HTTP and SOCKS proxies; it speaks HTTP/1.1.
        if bearer.is_some() {
            return Err(configuration("proxy-url", "exec credential plugins are not supported behind a proxy"));
        }
        let client = kube::Client::try_from(config).map_err(|e| configuration("building the client", e))?;
        let namespace = client.default_namespace().to_owned();
        let through = tower::service_fn(move |request| {
            let client = client.clone();
            async move { client.send(request).await.map_err(BoxError::from) }
        });
        return Ok(Http::new(through, &namespace, None));
    }
    let mut tls = config.rustls_client_config().map_err(|e| configuration("TLS configuration", e))?;
    // No session resumption, as client-go has none: a cluster's one connection lives
    // for the session, so its tickets (two or more a handshake, kept with the handshake's
    // state: 5 KB a cluster) would serve only a reconnection, which then costs one full
    // handshake.
    tls.resumption = rustls::client::Resumption::disabled();
    let server_name = match config.tls_server_name.as_ref() {
        Some(name) => Some(
            rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| (Failure::Config, format!("tls-server-name {name:?}: {e}")))?,
        ),
        None => None,
    };
    let transport = Arc::new(
        Transport::new(&config.cluster_url, tls, server_name, connect_timeout)
            .map_err(|e| configuration("server", e))?,
    );
    // Credentials that cannot be used (an unreadable token file, an exec plugin that
    // cannot run) are the user's to fix, like rejected ones.
    let auth = config.auth_layer().map_err(|e| (Failure::Unauthorized, format!("credentials: {e}")))?;
    let headers = config.extra_headers_layer().map_err(|e| configuration("headers", e))?;
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(auth)
        .layer(headers)
        .map_request(move |mut request: http::Request<kube::client::Body>| {
            if let Some(bearer) = &bearer {
                let value = bearer.read().unwrap_or_else(|e| e.into_inner()).clone();
                request.headers_mut().insert(AUTHORIZATION, value);
            }
            request
        })
        .service(transport::Service(transport.clone()));
    Ok(Http::new(service, &config.default_namespace, Some(transport)))
}
