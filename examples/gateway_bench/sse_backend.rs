//! The streaming backend: an MCP-like server that answers every `POST` with an SSE stream
//! (`text/event-stream`) of [`EVENTS`] events, each in a write of its own, as the Python MCP
//! SDK's servers answer a `tools/call` (progress notifications, then the result).
//!
//! It exists because the demo MCP server answers in one write, and a proxy that leaves Nagle's
//! algorithm on (no `TCP_NODELAY` on its accepted sockets) only stalls on a response written in
//! several pieces: the second small write waits for the client's delayed ACK, ~40 ms (issue 13,
//! item 1). The body returns `Pending` once before each event after the first, so hyper flushes
//! every event separately; the sockets have `TCP_NODELAY`, so the backend itself never stalls.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Events per response (flushed one by one).
pub const EVENTS: usize = 3;
/// The session id it hands out on every answer (it keeps no sessions).
const SESSION: &str = "bench-sse";
/// A pause after a failed `accept`, so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Starts the backend on a loopback port of its own (on the calling runtime); its URL.
pub async fn spawn() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(answer);
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}/mcp"))
}

/// Reads the whole request (as a server parsing a JSON-RPC message does), then streams.
async fn answer(request: http::Request<Incoming>) -> Result<http::Response<Events>, Infallible> {
    let _ = request.into_body().collect().await;
    let mut response = http::Response::new(Events::default());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    headers.insert("mcp-session-id", http::HeaderValue::from_static(SESSION));
    Ok(response)
}

/// The `i`th event: progress notifications, then the `tools/call` result.
fn event(i: usize) -> Bytes {
    let data = if i + 1 < EVENTS {
        format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":7,"progress":{},"total":{}}}}}"#,
            i + 1,
            EVENTS - 1
        )
    } else {
        r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello"}],"isError":false}}"#.to_owned()
    };
    Bytes::from(format!("event: message\ndata: {data}\n\n"))
}

/// The SSE body: one frame per event, `Pending` (with an immediate wake-up) before each but the
/// first, which makes hyper write what it has before the next event.
#[derive(Default)]
pub struct Events {
    next: usize,
    yielded: bool,
}

impl Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.next >= EVENTS {
            return Poll::Ready(None);
        }
        if self.next > 0 && !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        let i = self.next;
        self.next += 1;
        Poll::Ready(Some(Ok(Frame::data(event(i)))))
    }
}
