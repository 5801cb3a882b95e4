//! HTTP/2 (as kubectl and Go clients speak it) and HTTP/1.1 on the same port, chosen by ALPN.

use crate::common;

use std::sync::Arc;

use bytes::Bytes;
use common::still_fleet;
use fleetdeck::sim::Access;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

async fn tls(server: &str, ca_pem: &str, alpn: &[&[u8]]) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    let der = base64_pem(ca_pem);
    roots.add(rustls::pki_types::CertificateDer::from(der)).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let addr = server.trim_start_matches("https://");
    let tcp = TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(Arc::new(config)).connect(ServerName::try_from("127.0.0.1").unwrap(), tcp).await.unwrap()
}

fn base64_pem(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_and_http1_are_served_on_one_port() {
    let fleet = still_fleet(1).await;
    let hub = fleet.hub().clone();
    let kubeconfig = fleet.kubeconfig(Access::ReadOnly);
    let token =
        kubeconfig["users"].as_array().unwrap().iter().find(|u| u["name"] == "hub-readonly").unwrap()["user"]["token"]
            .as_str()
            .unwrap()
            .to_owned();

    let stream = tls(&hub.info.server, &hub.info.ca_pem, &[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    // Two requests multiplexed on one connection, one of them a long-running watch.
    let request = |path: &str| {
        hyper::Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let mut watch_sender = sender.clone();
    let watch = watch_sender
        .send_request(request("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=5"))
        .await
        .unwrap();
    assert_eq!(watch.status(), 200);
    let mut get_sender = sender.clone();
    let version = get_sender.send_request(request("/version")).await.unwrap();
    assert_eq!(version.status(), 200);
    assert_eq!(version.version(), hyper::Version::HTTP_2);
    let body = version.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["gitVersion"], "v1.33.4");
    drop(watch);

    let stream = tls(&hub.info.server, &hub.info.ca_pem, &[b"http/1.1"]).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let readyz = sender.send_request(request("/readyz")).await.unwrap();
    assert_eq!(readyz.status(), 200);
    assert_eq!(readyz.version(), hyper::Version::HTTP_11);
    fleet.stop().await;
}
