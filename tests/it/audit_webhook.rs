//! The audit webhook receiver with real EventList bodies, as an API server's webhook
//! backend posts them: over plain HTTP and over TLS with a configured certificate.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fleetdeck::audit::feed::{Feed, SourceStatus};
use fleetdeck::audit::webhook::{WebhookSettings, serve};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const LIST: &str = r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"RequestReceived","requestURI":"/api/v1/namespaces/shop/pods","verb":"create","user":{"username":"alice"},"sourceIPs":["10.0.0.7"],"objectRef":{"resource":"pods","namespace":"shop","apiVersion":"v1"},"requestReceivedTimestamp":"2026-11-24T10:00:00.000000Z","stageTimestamp":"2026-11-24T10:00:00.000000Z"},
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods","verb":"create","user":{"username":"alice"},"sourceIPs":["10.0.0.7"],"objectRef":{"resource":"pods","namespace":"shop","name":"web-1","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-11-24T10:00:00.000000Z","stageTimestamp":"2026-11-24T10:00:00.020000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"admins\""}},
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a2","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/secrets","verb":"list","user":{"username":"bob"},"objectRef":{"resource":"secrets","namespace":"kube-system"},"responseStatus":{"metadata":{},"status":"Failure","reason":"Forbidden","code":403},"requestReceivedTimestamp":"2026-11-24T10:00:01Z","stageTimestamp":"2026-11-24T10:00:01Z"},
{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get"}]}"#;

/// Waits for the receiver's "listening on" status; the address it listens on.
async fn listening(rx: &mut mpsc::Receiver<Feed>) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(Feed::Status(s))) if s.state.starts_with("listening on ") => {
                return s.state.rsplit("://").next().unwrap().to_owned();
            }
            Ok(Some(Feed::Status(s))) if !s.ok => panic!("{s:?}"),
            Ok(Some(_)) => {}
            other => panic!("no listening status: {other:?}"),
        }
    }
}

async fn post<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(io: S, path: &str, body: &str) -> (u16, String) {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let code = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

/// The records and the last status received within a short while.
async fn drain(rx: &mut mpsc::Receiver<Feed>) -> (Vec<fleetdeck::audit::AuditRecord>, Option<SourceStatus>) {
    let (mut records, mut status) = (Vec::new(), None);
    while let Ok(Some(f)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        match f {
            Feed::Records(r) => records.extend(r),
            Feed::Status(s) => status = Some(s),
        }
    }
    (records, status)
}

#[tokio::test]
async fn event_lists_over_http_name_their_cluster_by_path() {
    let (tx, mut rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let settings = WebhookSettings { listen: "127.0.0.1:0".into(), tls: None };
    tokio::spawn(serve(settings, tx, stop.clone()));
    let addr = listening(&mut rx).await;

    let (code, _) = post(TcpStream::connect(&addr).await.unwrap(), "/audit/production-eu-1", LIST).await;
    assert_eq!(code, 200);
    let (records, status) = drain(&mut rx).await;
    let seen: Vec<(&str, &str, &str)> =
        records.iter().map(|r| (&*r.cluster, r.user.as_str(), r.outcome.as_str())).collect();
    assert_eq!(seen, [("production-eu-1", "alice", "201"), ("production-eu-1", "bob", "403 Forbidden")]);
    let status = status.unwrap();
    assert_eq!((status.lines, status.malformed), (4, 1), "the item without user or time is counted");

    let (code, text) = post(TcpStream::connect(&addr).await.unwrap(), "/", "{\"kind\":\"Status\"}").await;
    assert_eq!(code, 400, "{text}");
    let (records, status) = drain(&mut rx).await;
    assert!(records.is_empty());
    assert_eq!(status.unwrap().malformed, 2);
    stop.cancel();
}

#[tokio::test]
async fn tls_when_a_certificate_is_configured() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    let (tx, mut rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let settings = WebhookSettings { listen: "127.0.0.1:0".into(), tls: Some((cert_path, key_path)) };
    tokio::spawn(serve(settings, tx, stop.clone()));
    let addr = listening(&mut rx).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let tls = connector.connect("localhost".try_into().unwrap(), tcp).await.unwrap();
    let (code, _) = post(tls, "/staging-eu-1", LIST).await;
    assert_eq!(code, 200);
    let (records, _) = drain(&mut rx).await;
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| &*r.cluster == "staging-eu-1"));

    // Plain HTTP to a TLS receiver gets nothing in.
    let plain = TcpStream::connect(&addr).await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(2), async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(plain)).await.ok()?;
        tokio::spawn(conn);
        sender.send_request(Request::post("/x").body(Full::new(Bytes::from(LIST))).ok()?).await.ok()
    })
    .await;
    assert!(!matches!(refused, Ok(Some(r)) if r.status() == 200));
    stop.cancel();
}
