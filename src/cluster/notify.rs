//! Notifications leave fleetdeck as JSON POSTs (Alertmanager's `/api/v2/alerts`, a
//! webhook), over HTTP or HTTPS with the system's roots, with a timeout.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// POSTs `body` to `url`; the status on a 2xx answer, else why not.
pub async fn post_json(url: &str, body: &Value, timeout: Duration) -> Result<u16, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let request = http::Request::post(uri)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, concat!("fleetdeck/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let answer = async {
        let response = client.request(request).await.map_err(|e| describe(&e))?;
        let status = response.status();
        let text = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            let text = String::from_utf8_lossy(&text);
            let first = text.lines().next().unwrap_or_default().chars().take(200).collect::<String>();
            Err(format!("answered {status}{}", if first.is_empty() { String::new() } else { format!(": {first}") }))
        }
    };
    match tokio::time::timeout(timeout, answer).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {}", humantime::format_duration(timeout))),
    }
}

/// The innermost cause of a client error (`connection refused`), not hyper's wrapper.
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last.split(" (os error").next().unwrap_or(&last).to_owned()
}
