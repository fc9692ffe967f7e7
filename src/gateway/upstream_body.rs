//! The MCP server's response body as relayed to the client: it owns the connection it arrives
//! on and drives it from the task that sends the body on (the client's connection task), so
//! each chunk (each SSE event) goes from the MCP server's socket to the client's without a
//! hand-off to another task.
//!
//! Once the body is complete the connection goes back to the pool; dropped before that (the
//! client went away, the stream was cut on shutdown) it is closed, never reused mid-message.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::body::{Bytes, HttpBody};
use hyper::body::{Frame, Incoming, SizeHint};

use crate::self_wake::SelfWakes;

use super::upstream_pool::{Conn, Key, Pool};

pub(super) struct UpstreamBody {
    incoming: Incoming,
    /// The connection until the body is complete (then pooled) or failed (then closed).
    conn: Option<Conn>,
    /// Absorbs the wake-ups the connection and `incoming` give each other.
    driving: SelfWakes,
    pool: Arc<Pool>,
    key: Key,
}

impl UpstreamBody {
    pub(super) fn new(
        incoming: Incoming,
        conn: Conn,
        driving: SelfWakes,
        pool: Arc<Pool>,
        key: Key,
    ) -> Self {
        Self {
            incoming,
            conn: Some(conn),
            driving,
            pool,
            key,
        }
    }

    /// The body is complete: the connection may serve another request. Idle, it wakes no
    /// one (whoever takes it next drives it with their own waker).
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put(self.key.clone(), conn);
        }
    }
}

impl HttpBody for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let Self {
            incoming,
            conn,
            driving,
            ..
        } = this;
        let frame = match driving.poll(cx, |cx| {
            if let Some(conn) = conn.as_mut() {
                // What it read is in `incoming` now; `Ready` (closed) leaves that to be read.
                let _ = conn.drive(cx);
            }
            Pin::new(&mut *incoming).poll_frame(cx)
        }) {
            Poll::Ready(frame) => frame,
            Poll::Pending => return Poll::Pending,
        };
        match &frame {
            None => this.release(),
            Some(Ok(_)) if this.incoming.is_end_stream() => this.release(),
            Some(Err(_)) => this.conn = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for UpstreamBody {
    /// hyper's server stops polling a body whose length says it is complete, and an empty body
    /// (`HEAD`, `204`) is never polled: complete, the connection is reusable all the same.
    fn drop(&mut self) {
        if self.conn.is_some() && self.incoming.is_end_stream() {
            self.release();
        }
    }
}
