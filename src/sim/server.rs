//! The listener of one simulated cluster: TLS on 127.0.0.1 (HTTP/2 and HTTP/1.1 by
//! ALPN), with the outage faults applied at the socket: a refused outage closes the port
//! and every open connection; a hanging one accepts and never answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::cluster::Cluster;
use super::fault::OutageMode;
use super::http::{ConnInfo, handle};
use super::pki::peer_fingerprint;

/// Serves a cluster on `listener` until `shutdown` is cancelled.
pub async fn serve(cluster: Arc<Cluster>, listener: TcpListener, shutdown: CancellationToken) {
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(cluster = cluster.name(), error = %e, "listener has no address");
            return;
        }
    };
    let acceptor = TlsAcceptor::from(cluster.pki.server_config());
    let mut faults = cluster.faults.subscribe();
    let mut listener = Some(listener);
    loop {
        let refused = faults.borrow_and_update().outage == Some(OutageMode::Refused);
        if refused {
            listener = None;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = faults.changed() => {
                    if changed.is_err() { return; }
                    continue;
                }
            }
        }
        let current = match listener.take() {
            Some(l) => l,
            None => match rebind(addr, &shutdown).await {
                Some(l) => l,
                None => return,
            },
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = faults.changed() => {
                if changed.is_err() { return; }
                listener = Some(current);
            }
            accepted = current.accept() => {
                listener = Some(current);
                match accepted {
                    Ok((stream, peer)) => {
                        tokio::spawn(connection(cluster.clone(), acceptor.clone(), stream, peer, shutdown.clone()));
                    }
                    Err(e) => {
                        tracing::debug!(cluster = cluster.name(), error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }
}

/// Binds the cluster's port again after a refused outage (the port stays the same, as a
/// restarted API server's does).
async fn rebind(addr: SocketAddr, shutdown: &CancellationToken) -> Option<TcpListener> {
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return Some(l),
            Err(e) => {
                tracing::debug!(%addr, error = %e, "rebinding after an outage");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

async fn connection(
    cluster: Arc<Cluster>,
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let mut faults = cluster.faults.subscribe();
    let cut = async {
        let _ = faults.wait_for(|f| f.outage == Some(OutageMode::Refused)).await;
    };
    let serve = async {
        cluster.faults.pass_hang().await;
        let acceptor = if cluster.faults.current().http1_only { http1_only(&acceptor) } else { acceptor };
        let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(cluster = cluster.name(), %peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => return,
        };
        let certificate = peer_fingerprint(tls.get_ref().1.peer_certificates());
        cluster.stats.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
            cluster.stats.http2_connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let conn = Arc::new(ConnInfo { peer, certificate });
        let service_cluster = cluster.clone();
        let service = service_fn(move |req| handle(service_cluster.clone(), conn.clone(), req));
        let builder = auto::Builder::new(TokioExecutor::new());
        if let Err(e) = builder.serve_connection(TokioIo::new(tls), service).await {
            tracing::trace!(cluster = cluster.name(), %peer, error = %e, "connection ended");
        }
    };
    tokio::select! {
        _ = serve => {}
        _ = cut => {}
        _ = shutdown.cancelled() => {}
    }
}

/// The acceptor of a server that offers HTTP/1.1 only.
fn http1_only(acceptor: &TlsAcceptor) -> TlsAcceptor {
    let mut config = (**acceptor.config()).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}
