//! Ending relayed SSE streams cleanly when the bridge shuts down.
//!
//! An SSE stream (`text/event-stream`) never ends by itself, so a graceful shutdown used to wait
//! the whole grace period for it and then cut it wherever it was, possibly mid-event. Once
//! [`Draining::start`] is called, every relayed SSE body ends at the next event boundary
//! (a blank line, WHATWG HTML §9.2.6): at once if it is between events, else right after the
//! event being sent. The client sees a complete last event and a cleanly terminated response,
//! and reconnects (with `Last-Event-ID`, MCP's resumability) to a replica that is not going away.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::body::{Body, Bytes, HttpBody};
use hyper::body::{Frame, SizeHint};
use tokio::sync::watch;

/// The shutdown signal for streams: cheap to clone, started once by `run_until`.
#[derive(Clone, Debug)]
pub struct Draining(Arc<watch::Sender<bool>>);

impl Default for Draining {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl Draining {
    /// From now on every relayed SSE stream ends at its next event boundary.
    pub fn start(&self) {
        self.0.send_replace(true);
    }

    /// Completes once draining started (never, if it does not).
    fn started(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            if rx.wait_for(|draining| *draining).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// `body` (an SSE stream) made to end at an event boundary once draining starts.
    pub(super) fn wrap(&self, body: Body) -> Body {
        Body::new(EndsWhenDraining {
            inner: body,
            draining: Box::pin(self.started()),
            stopping: false,
            ended: false,
            tail: Vec::with_capacity(4),
        })
    }
}

struct EndsWhenDraining {
    inner: Body,
    draining: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Draining started: end at the next boundary.
    stopping: bool,
    ended: bool,
    /// The last (up to 3) bytes relayed, to see a boundary across chunks.
    tail: Vec<u8>,
}

impl EndsWhenDraining {
    /// Between events: nothing relayed yet, or the last bytes end an event.
    fn at_boundary(&self) -> bool {
        self.tail.is_empty() || ends_event(&self.tail)
    }

    fn remember(&mut self, data: &[u8]) {
        self.tail
            .extend_from_slice(data.get(data.len().saturating_sub(3)..).unwrap_or_default());
        let excess = self.tail.len().saturating_sub(3);
        self.tail.drain(..excess);
    }

    fn end(&mut self) {
        self.ended = true;
        metrics::counter!("gateway_streams_ended_on_shutdown_total").increment(1);
    }
}

impl HttpBody for EndsWhenDraining {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if !this.stopping && this.draining.as_mut().poll(cx).is_ready() {
            this.stopping = true;
        }
        if this.stopping && this.at_boundary() {
            this.end();
            return Poll::Ready(None);
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(None) => {
                this.ended = true;
                return Poll::Ready(None);
            }
            other => return other,
        };
        let Some(data) = frame.data_ref().cloned() else {
            return Poll::Ready(Some(Ok(frame)));
        };
        if this.stopping
            && let Some(end) = boundary_end(&this.tail, &data)
        {
            this.end();
            return Poll::Ready(Some(Ok(Frame::data(data.slice(..end)))));
        }
        this.remember(&data);
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    /// Unknown: the stream may end early.
    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Whether `bytes` end with a blank line (an event's end) in any of SSE's line endings.
fn ends_event(bytes: &[u8]) -> bool {
    bytes.ends_with(b"\n\n") || bytes.ends_with(b"\r\r") || bytes.ends_with(b"\r\n\r\n")
}

/// Where in `chunk` the first event ends (exclusive), given the bytes relayed before it.
fn boundary_end(tail: &[u8], chunk: &[u8]) -> Option<usize> {
    let mut window = tail.to_vec();
    chunk.iter().enumerate().find_map(|(i, byte)| {
        window.push(*byte);
        if window.len() > 4 {
            window.remove(0);
        }
        ends_event(&window).then_some(i + 1)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;

    #[test]
    fn event_ends_are_found_across_chunks_and_line_endings() {
        assert_eq!(boundary_end(b"", b"data: a\n\ndata: b"), Some(9));
        assert_eq!(boundary_end(b"a\n", b"\ndata: b\n\n"), Some(1));
        assert_eq!(boundary_end(b"a\r\n\r", b"\ndata"), Some(1));
        assert_eq!(boundary_end(b"", b"data: a\r\n"), None);
        assert_eq!(boundary_end(b"", b"data: a\ndata: b\n"), None);
    }

    #[tokio::test]
    async fn a_stream_ends_after_the_event_it_is_sending_when_draining_starts() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let events = tokio_stream_from(rx);
        let draining = Draining::default();
        let mut body = draining.wrap(Body::from_stream(events)).into_data_stream();

        tx.send(Ok(Bytes::from_static(b"data: 1\n\ndata: ")))
            .await
            .unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), "data: 1\n\ndata: ");
        draining.start();
        tx.send(Ok(Bytes::from_static(b"2\n\ndata: 3\n\n")))
            .await
            .unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), "2\n\n");
        assert!(body.next().await.is_none(), "ended after event 2");
    }

    #[tokio::test]
    async fn an_idle_stream_between_events_ends_at_once_when_draining_starts() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let draining = Draining::default();
        let mut body = draining
            .wrap(Body::from_stream(tokio_stream_from(rx)))
            .into_data_stream();
        tx.send(Ok(Bytes::from_static(b"data: 1\n\n")))
            .await
            .unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), "data: 1\n\n");

        let started = draining.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            started.start();
        });
        let end = tokio::time::timeout(Duration::from_secs(2), body.next()).await;
        assert!(matches!(end, Ok(None)), "ended without another event");
        drop(tx);
    }

    fn tokio_stream_from(
        rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
    }
}
