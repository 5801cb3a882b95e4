//! A cluster's one HTTP/2 connection, spoken with the `h2` crate itself.
//!
//! A request is a stream opened by the task that sends it, and its answer is read by the
//! task that waits for it; the connection's own task does the socket's I/O and nothing
//! else. hyper's client puts a dispatch channel, a task per request and a pool keyed by
//! the URI's authority between the two: each answer crossed two more tasks, about 13 %
//! of fleetdeck's idle CPU at a thousand clusters, and they kept 14 KB a cluster. A
//! server that does not offer HTTP/2 by ALPN (a TLS proxy that speaks HTTP/1.1) and a
//! plain-http URL (`kubectl proxy`) are spoken to through hyper's pooled HTTP/1.1
//! client instead, one connection a concurrent request, as before.
//!
//! A request's time on the wire: the connection's socket notes when it last wrote and
//! last read, so an answer carries ([`Wire`]) the time from the write that sent the
//! request to the read that brought the answer, without the turns fleetdeck's own
//! runtime took before and after (the answers of a probe slot are read one after
//! another on one thread).
//!
//! Keep-alive: nothing is sent on a quiet connection; the prober's requests every few
//! seconds are its traffic. When a probe times out the connection is suspected and
//! pinged: a connection that does not answer the ping within [`PING_TIMEOUT`] is closed,
//! so its watches end and the next request connects again (what hyper's keep-alive ping
//! did every 30 s on every connection).

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::sync::Notify;
use tower::BoxError;

/// How long a suspected connection has to answer a ping before it is closed.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Flow-control windows as hyper's client has them: a large list is read at the link's
/// speed, not one 64 KB window a round trip.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

type Legacy = hyper_util::client::legacy::Client<
    hyper_timeout::TimeoutConnector<hyper_rustls::HttpsConnector<HttpConnector>>,
    kube::client::Body,
>;

/// Where a cluster is and how to open its connection.
struct Dial {
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
}

/// The connection in use, with its number (to forget the one that failed, not a newer
/// one) and the bell that has its task ping.
#[derive(Clone)]
struct Live {
    number: u64,
    send: h2::client::SendRequest<Bytes>,
    suspect: Arc<Notify>,
    clock: Arc<Clock>,
}

/// A cluster's transport: its HTTP/2 connection when the server offers it, else hyper's
/// HTTP/1.1 client.
pub struct Transport {
    dial: Option<Dial>,
    live: Mutex<Option<Live>>,
    /// Held while connecting, so the requests of a cluster wait for one connection
    /// instead of each opening its own; counts the connections opened.
    dialing: tokio::sync::Mutex<u64>,
    legacy: OnceLock<Legacy>,
    /// What the HTTP/1.1 client is built of, when it is needed.
    legacy_tls: rustls::ClientConfig,
    legacy_name: Option<ServerName<'static>>,
    connect_timeout: Duration,
}

/// The body of an answer on either transport.
pub enum Body {
    H2(h2::RecvStream),
    Http1(hyper::body::Incoming),
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Http1(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Body::H2(stream) => match ready!(stream.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Read, so the server may send as much again.
                    let _ = stream.flow_control().release_capacity(data.len());
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
                None => match ready!(stream.poll_trailers(cx)) {
                    Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                    Ok(None) => Poll::Ready(None),
                    Err(e) => Poll::Ready(Some(Err(e.into()))),
                },
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::H2(stream) => stream.is_end_stream(),
            Body::Http1(body) => body.is_end_stream(),
        }
    }
}

type Connection = h2::client::Connection<tokio_rustls::client::TlsStream<Clocked<tokio::net::TcpStream>>, Bytes>;

/// The time an answer took on the wire: from the socket's write that sent its request
/// to the read that brought it. In the answer's extensions, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire(pub Duration);

/// When a connection's socket last wrote and last read, in nanoseconds from [`since`].
#[derive(Debug, Default)]
struct Clock {
    wrote: AtomicU64,
    read: AtomicU64,
}

/// The instant the clocks count from.
fn since() -> std::time::Instant {
    static SINCE: OnceLock<std::time::Instant> = OnceLock::new();
    *SINCE.get_or_init(std::time::Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(since().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Clock {
    /// The wire time of an answer whose request was queued at `queued`: the last write
    /// after it to the last read after that; `None` when the two do not bracket one
    /// exchange (something else was written after the answer came).
    fn wire_since(&self, queued: u64) -> Option<Duration> {
        let (wrote, read) = (self.wrote.load(Ordering::Relaxed), self.read.load(Ordering::Relaxed));
        (queued <= wrote && wrote <= read).then(|| Duration::from_nanos(read - wrote))
    }
}

/// A socket that notes the times of its reads and writes on its [`Clock`].
struct Clocked<T> {
    io: T,
    clock: Arc<Clock>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Clocked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.clock.read.store(now_nanos(), Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Clocked<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        this.clock.wrote.store(now_nanos(), Ordering::Relaxed);
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
        this.clock.wrote.store(now_nanos(), Ordering::Relaxed);
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl Transport {
    /// The transport of `url`, with the TLS configuration of its kubeconfig (ALPN is
    /// this transport's to set) and the server name to verify, when not the URL's host.
    pub fn new(
        url: &http::Uri,
        tls: rustls::ClientConfig,
        server_name: Option<ServerName<'static>>,
        connect_timeout: Duration,
    ) -> Result<Self, String> {
        let host = url.host().ok_or_else(|| format!("no host in the server URL {url}"))?;
        // An IPv6 literal's brackets belong to the URL only.
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let https = url.scheme() != Some(&http::uri::Scheme::HTTP);
        let dial = if https {
            let server_name = match &server_name {
                Some(name) => name.clone(),
                None => ServerName::try_from(host.clone()).map_err(|e| format!("server name {host:?}: {e}"))?,
            };
            let mut h2_tls = tls.clone();
            h2_tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let port = url.port_u16().unwrap_or(443);
            Some(Dial { host, port, server_name, tls: Arc::new(h2_tls) })
        } else {
            None
        };
        Ok(Self {
            dial,
            live: Mutex::new(None),
            dialing: tokio::sync::Mutex::new(0),
            legacy: OnceLock::new(),
            legacy_tls: tls,
            legacy_name: server_name,
            connect_timeout,
        })
    }

    /// hyper's pooled HTTP/1.1 client, built the first time it is needed.
    fn legacy(&self) -> &Legacy {
        self.legacy.get_or_init(|| {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_connect_timeout(Some(self.connect_timeout));
            http.set_nodelay(true);
            let builder =
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(self.legacy_tls.clone()).https_or_http();
            let https = match self.legacy_name.clone() {
                Some(name) => builder
                    .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
                    .enable_http1()
                    .wrap_connector(http),
                None => builder.enable_http1().wrap_connector(http),
            };
            let mut connector = hyper_timeout::TimeoutConnector::new(https);
            connector.set_connect_timeout(Some(self.connect_timeout));
            hyper_util::client::legacy::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .build(connector)
        })
    }

    /// The connection to send on: the live one, or a new one (one at a time); `None`
    /// once the server chose HTTP/1.1.
    async fn connection(&self, dial: &Dial) -> Result<Option<Live>, BoxError> {
        if let Some(live) = self.current() {
            return Ok(Some(live));
        }
        let mut opened = self.dialing.lock().await;
        // Another request connected, or found HTTP/1.1, while this one waited.
        if let Some(live) = self.current() {
            return Ok(Some(live));
        }
        if self.legacy.get().is_some() {
            return Ok(None);
        }
        let Some((send, connection, clock)) = open(dial, self.connect_timeout).await? else {
            tracing::debug!(host = %dial.host, "the server does not offer HTTP/2: HTTP/1.1 from here on");
            self.legacy();
            return Ok(None);
        };
        *opened += 1;
        let suspect = Arc::new(Notify::new());
        tokio::spawn(drive(connection, suspect.clone()));
        let live = Live { number: *opened, send, suspect, clock };
        *self.lock() = Some(live.clone());
        Ok(Some(live))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn current(&self) -> Option<Live> {
        self.lock().clone()
    }

    /// Forgets connection `number` once it failed: the next request opens another.
    fn forget(&self, number: u64) {
        let mut live = self.lock();
        if live.as_ref().is_some_and(|l| l.number == number) {
            *live = None;
        }
    }

    /// Asks the connection in use to prove it is alive (a request on it timed out).
    pub fn suspect(&self) {
        if let Some(live) = self.current() {
            live.suspect.notify_one();
        }
    }

    /// Sends a request (its URI absolute): the answer whatever its status, or why there
    /// was none. A connection found closed before the request went out is replaced once.
    pub async fn send(&self, request: http::Request<kube::client::Body>) -> Result<http::Response<Body>, BoxError> {
        let http1 = |request| async { Ok(self.legacy().request(request).await?.map(Body::Http1)) };
        let Some(dial) = self.dial.as_ref().filter(|_| self.legacy.get().is_none()) else {
            return http1(request).await;
        };
        let mut again = true;
        let mut live = loop {
            let Some(mut live) = self.connection(dial).await? else {
                return http1(request).await;
            };
            match poll_fn(|cx| live.send.poll_ready(cx)).await {
                Ok(()) => break live,
                Err(e) => {
                    self.forget(live.number);
                    if !std::mem::take(&mut again) {
                        return Err(e.into());
                    }
                }
            }
        };
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let head = http::Request::from_parts(parts, ());
        let queued = now_nanos();
        let (answer, mut stream) = match live.send.send_request(head, body.is_empty()) {
            Ok(sent) => sent,
            Err(e) => {
                self.forget(live.number);
                return Err(e.into());
            }
        };
        if !body.is_empty() {
            // A failure to send the body shows in the answer (the server's reset or error).
            let _ = send_body(&mut stream, body).await;
        }
        let answer = answer.await.inspect_err(|e| {
            if e.is_io() || e.is_go_away() {
                self.forget(live.number);
            }
        })?;
        let mut answer = answer.map(Body::H2);
        if let Some(wire) = live.clock.wire_since(queued) {
            answer.extensions_mut().insert(Wire(wire));
        }
        Ok(answer)
    }
}

/// Opens a connection within `timeout`: TCP (clocked), TLS, and HTTP/2 when the
/// server chose it by ALPN (`None` when it chose HTTP/1.1).
async fn open(
    dial: &Dial,
    timeout: Duration,
) -> Result<Option<(h2::client::SendRequest<Bytes>, Connection, Arc<Clock>)>, BoxError> {
    let clock = Arc::new(Clock::default());
    let opening = async {
        let tcp = tokio::net::TcpStream::connect((dial.host.as_str(), dial.port)).await?;
        tcp.set_nodelay(true)?;
        let tcp = Clocked { io: tcp, clock: clock.clone() };
        let tls = tokio_rustls::TlsConnector::from(dial.tls.clone()).connect(dial.server_name.clone(), tcp).await?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Ok(None);
        }
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            // No HPACK dynamic table for the answers: what an API server varies on every
            // answer (date, audit id) would be copied into it and evicted again, two
            // allocations an answer, and it keeps up to 4 KB a connection to save a probe
            // answer a few dozen bytes.
            .header_table_size(0)
            .max_header_list_size(16 * 1024)
            .enable_push(false)
            .handshake(tls)
            .await?;
        Ok::<_, BoxError>(Some((send, connection, clock.clone())))
    };
    tokio::time::timeout(timeout, opening)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting timed out"))?
}

/// A request's body, as the server's flow control lets it go.
async fn send_body(stream: &mut h2::SendStream<Bytes>, mut body: Bytes) -> Result<(), h2::Error> {
    while !body.is_empty() {
        stream.reserve_capacity(body.len());
        let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(granted) => granted?,
            None => return Err(h2::Error::from(h2::Reason::STREAM_CLOSED)),
        };
        let chunk = body.split_to(granted.min(body.len()));
        stream.send_data(chunk, body.is_empty())?;
    }
    Ok(())
}

/// A connection's task: its I/O until it ends, and a ping when suspected; one that
/// does not answer is dropped, which closes the socket and ends its streams.
async fn drive<T>(mut connection: h2::client::Connection<T, Bytes>, suspect: Arc<Notify>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut pings = connection.ping_pong();
    let ended = loop {
        tokio::select! {
            ended = &mut connection => break ended,
            () = suspect.notified() => {}
        }
        // No ping to send (one already out, or the connection closing): nothing to wait for.
        let Some(pings) = pings.as_mut().and_then(|p| p.send_ping(h2::Ping::opaque()).is_ok().then_some(p)) else {
            continue;
        };
        let pong = tokio::time::timeout(PING_TIMEOUT, poll_fn(|cx| pings.poll_pong(cx)));
        tokio::select! {
            ended = &mut connection => break ended,
            answered = pong => if !matches!(answered, Ok(Ok(_))) {
                tracing::info!("no answer to a ping within {PING_TIMEOUT:?}: the connection is closed");
                return;
            }
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// The transport as a tower service, under kube's layers (base URI, credentials, headers).
#[derive(Clone)]
pub struct Service(pub Arc<Transport>);

impl tower::Service<http::Request<kube::client::Body>> for Service {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let transport = self.0.clone();
        Box::pin(async move { transport.send(request).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_time_is_the_write_after_the_request_to_the_read_after_that() {
        let clock = Clock::default();
        let at = |wrote: u64, read: u64| {
            clock.wrote.store(wrote, Ordering::Relaxed);
            clock.read.store(read, Ordering::Relaxed);
        };
        at(1_000, 4_000);
        assert_eq!(clock.wire_since(500), Some(Duration::from_nanos(3_000)), "written after queued, read after");
        assert_eq!(clock.wire_since(2_000), None, "the last write was before the request was queued");
        at(5_000, 4_000);
        assert_eq!(clock.wire_since(500), None, "something was written after the answer came");
    }
}
