//! A watch's events read from the response body chunk by chunk. kube's `request_events`
//! reads every watch through its own 8 KiB line buffer, which an idle watch keeps for as
//! long as it is open: nine watches a cluster, 74 MB at 1,001 clusters. Here a watch holds
//! only the part of a line not complete yet, which is nothing between events.

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use hyper::body::Body;
use kube::api::DynamicObject;
use kube::core::{Status, WatchEvent};
use tower::BoxError;

/// The events of one watch response (`B`: kube's response body, or a test's).
pub struct EventLines<B> {
    body: B,
    /// Bytes received and not yet returned as events: the rest of the last chunk, or the
    /// start of a line still arriving.
    buf: Vec<u8>,
    /// Where the next line starts in `buf`.
    start: usize,
}

impl<B> EventLines<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    pub fn new(body: B) -> Self {
        Self { body, buf: Vec::new(), start: 0 }
    }

    /// The next event; `Ok(None)` when the server ended the watch (its `timeoutSeconds`, or
    /// the connection cut mid-chunk, which a new watch from the last version resumes).
    pub async fn next(&mut self) -> Result<Option<WatchEvent<DynamicObject>>, kube::Error> {
        loop {
            if let Some(end) = self.buf[self.start..].iter().position(|b| *b == b'\n') {
                let line = &self.buf[self.start..self.start + end];
                self.start += end + 1;
                let event = if line.iter().all(u8::is_ascii_whitespace) { None } else { Some(parse(line)) };
                if self.start == self.buf.len() {
                    // Every byte read is spent: give the memory back while the watch idles.
                    self.buf = Vec::new();
                    self.start = 0;
                }
                match event {
                    Some(event) => return event.map(Some),
                    None => continue,
                }
            }
            self.buf.drain(..self.start);
            self.start = 0;
            match self.body.frame().await {
                None => return Ok(None),
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            self.buf.extend_from_slice(chunk);
                            let n = chunk.len();
                            data.advance(n);
                        }
                    }
                }
                Some(Err(e)) => {
                    let e: BoxError = e.into();
                    if ends_the_stream(e.as_ref()) {
                        return Ok(None);
                    }
                    return Err(kube::Error::ReadEvents(std::io::Error::other(e)));
                }
            }
        }
    }
}

/// One line of a watch: an event, or a `Status` the server sent instead of one.
fn parse(line: &[u8]) -> Result<WatchEvent<DynamicObject>, kube::Error> {
    serde_json::from_slice::<WatchEvent<DynamicObject>>(line).map_err(|e| {
        match serde_json::from_slice::<Status>(line) {
            Ok(status) => kube::Error::Api(status.boxed()),
            Err(_) => kube::Error::SerdeError(e),
        }
    })
}

/// A connection cut while the server was still sending (a TLS close without notify, a
/// chunk cut short), which kube-runtime also takes as the watch's end: a new watch
/// resumes from the last version seen.
fn ends_the_stream(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(io.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        if err.to_string().contains("unexpected EOF during chunk") {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    type Chunks = http_body_util::StreamBody<
        futures::stream::Iter<std::vec::IntoIter<Result<hyper::body::Frame<Bytes>, std::io::Error>>>,
    >;

    fn body(chunks: &[&str]) -> Chunks {
        let chunks: Vec<_> = chunks.iter().map(|c| Ok(hyper::body::Frame::data(Bytes::from(c.to_string())))).collect();
        http_body_util::StreamBody::new(futures::stream::iter(chunks))
    }

    #[tokio::test]
    async fn a_cut_connection_ends_the_watch_and_another_error_fails_it() {
        let cut: Vec<Result<hyper::body::Frame<Bytes>, std::io::Error>> = vec![Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify",
        ))];
        let mut lines = EventLines::new(http_body_util::StreamBody::new(futures::stream::iter(cut)));
        assert!(lines.next().await.unwrap().is_none());
        let reset: Vec<Result<hyper::body::Frame<Bytes>, std::io::Error>> =
            vec![Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset"))];
        let mut lines = EventLines::new(http_body_util::StreamBody::new(futures::stream::iter(reset)));
        assert!(matches!(lines.next().await, Err(kube::Error::ReadEvents(_))));
    }

    const ADDED: &str =
        r#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","resourceVersion":"5"}}}"#;

    #[tokio::test]
    async fn events_split_across_chunks_and_several_in_one_come_out_one_by_one() {
        let (a, b) = ADDED.split_at(40);
        let two = format!("{ADDED}\n\n{ADDED}\n");
        let mut lines = EventLines::new(body(&[
            a,
            b,
            "\n",
            &two,
            r#"{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"9"}}}"#,
            "\n",
        ]));
        for _ in 0..3 {
            match lines.next().await.unwrap() {
                Some(WatchEvent::Added(o)) => assert_eq!(o.metadata.name.as_deref(), Some("n1")),
                other => panic!("{other:?}"),
            }
        }
        match lines.next().await.unwrap() {
            Some(WatchEvent::Bookmark(b)) => assert_eq!(b.metadata.resource_version, "9"),
            other => panic!("{other:?}"),
        }
        assert!(lines.next().await.unwrap().is_none());
        // Nothing is held once every line is read.
        assert_eq!(lines.buf.capacity(), 0);
    }

    #[tokio::test]
    async fn a_status_line_is_an_api_error_and_garbage_a_serde_error() {
        let status = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}"#;
        let mut lines = EventLines::new(body(&[status, "\n", "{not json\n"]));
        match lines.next().await {
            Err(kube::Error::Api(s)) => assert_eq!(s.code, 410),
            other => panic!("{other:?}"),
        }
        assert!(matches!(lines.next().await, Err(kube::Error::SerdeError(_))));
    }

    #[tokio::test]
    async fn an_error_event_in_the_stream_is_an_event() {
        let error = r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"gone","reason":"Expired","code":410}}"#;
        let mut lines = EventLines::new(body(&[error, "\n"]));
        match lines.next().await.unwrap() {
            Some(WatchEvent::Error(s)) => assert_eq!(s.code, 410),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_line_cut_off_by_the_end_of_the_stream_ends_it_quietly() {
        let mut lines = EventLines::new(body(&[&ADDED[..30]]));
        assert!(lines.next().await.unwrap().is_none());
    }
}
