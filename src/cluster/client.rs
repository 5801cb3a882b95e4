//! One Kubernetes client per context, on one HTTP/2 connection where the server offers it.
//!
//! kube's default client speaks HTTP/1.1 only, one connection per concurrent request, so a
//! fleet of watches would open thousands of sockets. This client is assembled from kube's
//! own layers (base URI, kubeconfig authentication including exec plugins and refreshing
//! tokens, extra headers) over a hyper client whose TLS connector offers `h2` and
//! `http/1.1` by ALPN: every watch and probe of a cluster then shares one connection.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::HeaderValue;
use http::header::{AUTHORIZATION, USER_AGENT};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::ConfigExt;
use tower::{BoxError, ServiceBuilder};

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

/// Builds the client of a context; `bearer`, when given, authenticates every request.
pub fn build(
    mut config: kube::Config,
    connect_timeout: Duration,
    bearer: Option<Bearer>,
) -> Result<kube::Client, BuildError> {
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
        return kube::Client::try_from(config).map_err(|e| configuration("building the client", e));
    }
    let mut tls = config.rustls_client_config().map_err(|e| configuration("TLS configuration", e))?;
    // One server per client: rustls's default session cache holds 256 servers' tickets
    // and allocates for all of them up front (14 KB a cluster).
    tls.resumption = rustls::client::Resumption::in_memory_sessions(4);
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
    let https = match config.tls_server_name.as_ref() {
        Some(name) => {
            let name = rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| (Failure::Config, format!("tls-server-name {name:?}: {e}")))?;
            builder
                .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
                .enable_http1()
                .enable_http2()
                .wrap_connector(http)
        }
        None => builder.enable_http1().enable_http2().wrap_connector(http),
    };
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(Some(connect_timeout));
    let client: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_keep_alive_interval(Some(Duration::from_secs(30)))
            .http2_keep_alive_timeout(Duration::from_secs(10))
            .http2_keep_alive_while_idle(true)
            .build(connector);
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
        .map_err(BoxError::from)
        .service(client);
    Ok(kube::Client::new(service, config.default_namespace))
}
