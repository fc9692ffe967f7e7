//! Request bodies on their way to the MCP server: streamed chunk by chunk under the size limit,
//! or buffered when small, so the request can be replayed after a token refresh or its
//! JSON-RPC `id` read for error answers.

use std::sync::{Arc, OnceLock};

use axum::body::{Body, BodyDataStream, Bytes, HttpBody};
use bytes::BytesMut;
use futures_util::StreamExt;
use http::{HeaderMap, header};

use super::upstream_error::Failure;

/// A client sending this many empty data frames while being buffered is not uploading.
const MAX_EMPTY_FRAMES: usize = 1024;

/// How to treat a body.
#[derive(Clone, Copy, Debug)]
pub(super) enum Plan {
    /// Pass it on as it arrives.
    Stream,
    /// Keep it in memory if it fits in this many bytes; stream it otherwise.
    Buffer(usize),
}

/// The body as it will be sent.
pub(super) enum Outbound {
    /// No body at all (GET, DELETE…): nothing is sent, not even `Content-Length: 0`.
    Empty,
    /// The whole body, in memory; can be sent again.
    Buffered(Bytes),
    /// Sent as it arrives from the client; can be sent once.
    Streamed {
        body: Body,
        /// The client's `Content-Length`, exact because hyper enforced it on the way in.
        length: Option<u64>,
        /// Set by the stream when it stops the upload, so a failed send can say why.
        fault: Arc<OnceLock<Failure>>,
    },
}

impl Outbound {
    /// A second copy for a replay; `None` once the body is a stream.
    pub(super) fn try_clone(&self) -> Option<Self> {
        match self {
            Self::Empty => Some(Self::Empty),
            Self::Buffered(bytes) => Some(Self::Buffered(bytes.clone())),
            Self::Streamed { .. } => None,
        }
    }

    pub(super) fn buffered(&self) -> Option<&Bytes> {
        match self {
            Self::Buffered(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The body to send, with its length set in `headers` for a stream whose length the
    /// client declared, and the fault cell of a stream.
    pub(super) fn into_body(
        self,
        headers: &mut HeaderMap,
    ) -> (Body, Option<Arc<OnceLock<Failure>>>) {
        match self {
            Self::Empty => (Body::empty(), None),
            Self::Buffered(bytes) => (Body::from(bytes), None),
            Self::Streamed {
                body,
                length,
                fault,
            } => {
                if let Some(length) = length {
                    headers.insert(header::CONTENT_LENGTH, length.into());
                }
                (body, Some(fault))
            }
        }
    }
}

/// The client's declared `Content-Length`, if any.
pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Applies the size limit (at once when the client declared a length) and the plan.
pub(super) async fn prepare(
    body: Body,
    declared: Option<u64>,
    plan: Plan,
    max: usize,
) -> Result<Outbound, Failure> {
    let max_len = u64::try_from(max).unwrap_or(u64::MAX);
    if declared.is_some_and(|length| length > max_len) {
        return Err(Failure::TooLarge);
    }
    if body.is_end_stream() {
        // An explicit `Content-Length: 0` is sent on as such; no length means no body at all.
        return Ok(match declared {
            Some(0) => Outbound::Buffered(Bytes::new()),
            _ => Outbound::Empty,
        });
    }
    match plan {
        Plan::Buffer(limit)
            if declared.is_none_or(|length| length <= u64::try_from(limit).unwrap_or(0)) =>
        {
            buffer(body.into_data_stream(), limit.min(max), declared, max).await
        }
        _ => Ok(stream(None, body.into_data_stream(), declared, max)),
    }
}

/// Reads up to `limit` bytes; a body that turns out longer is streamed on with what was read.
async fn buffer(
    mut data: BodyDataStream,
    limit: usize,
    declared: Option<u64>,
    max: usize,
) -> Result<Outbound, Failure> {
    let mut kept = BytesMut::new();
    let mut empty_frames = 0;
    // Bounded: every round adds at least one byte, or counts towards MAX_EMPTY_FRAMES.
    while kept.len() <= limit {
        match data.next().await {
            None => return Ok(Outbound::Buffered(kept.freeze())),
            Some(Err(_)) => return Err(Failure::ClientBody),
            Some(Ok(chunk)) if chunk.is_empty() => {
                empty_frames += 1;
                if empty_frames > MAX_EMPTY_FRAMES {
                    return Err(Failure::ClientBody);
                }
            }
            Some(Ok(chunk)) => kept.extend_from_slice(&chunk),
        }
    }
    if kept.len() > max {
        return Err(Failure::TooLarge);
    }
    Ok(stream(Some(kept.freeze()), data, declared, max))
}

/// Passes the body on chunk by chunk, counting; past `max` bytes the upload is cut off (the
/// MCP server sees a broken request, never a truncated one that looks complete).
fn stream(
    prefix: Option<Bytes>,
    rest: BodyDataStream,
    length: Option<u64>,
    max: usize,
) -> Outbound {
    let fault = Arc::new(OnceLock::new());
    let watch = Arc::clone(&fault);
    let mut seen = prefix.as_ref().map_or(0, Bytes::len);
    let rest = rest.map(move |chunk| match chunk {
        Ok(bytes) => {
            seen = seen.saturating_add(bytes.len());
            if seen > max {
                let _ = watch.set(Failure::TooLarge);
                Err(std::io::Error::other("request body over the limit"))
            } else {
                Ok(bytes)
            }
        }
        Err(_) => {
            let _ = watch.set(Failure::ClientBody);
            Err(std::io::Error::other("client body failed"))
        }
    });
    let all = futures_util::stream::iter(prefix.map(Ok)).chain(rest);
    Outbound::Streamed {
        body: Body::from_stream(all),
        length,
        fault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &'static [&'static [u8]]) -> Body {
        let chunks = parts
            .iter()
            .map(|p| Ok::<_, std::io::Error>(Bytes::from_static(p)));
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn a_small_body_is_buffered_and_replayable() {
        let body = prepare(chunked(&[b"ab", b"cd"]), None, Plan::Buffer(8), 16).await;
        let body = body.map_err(|f| f.kind());
        assert!(matches!(&body, Ok(Outbound::Buffered(b)) if b == "abcd"));
        assert!(body.is_ok_and(|b| b.try_clone().is_some()));
    }

    #[tokio::test]
    async fn a_body_past_the_buffer_is_streamed_and_not_replayable() {
        let body = prepare(chunked(&[b"abcd", b"efgh"]), None, Plan::Buffer(4), 16).await;
        assert!(matches!(body, Ok(Outbound::Streamed { .. })));
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let body = prepare(chunked(&[b"x"]), Some(17), Plan::Stream, 16).await;
        assert!(matches!(body, Err(Failure::TooLarge)));
    }

    #[tokio::test]
    async fn an_empty_body_sends_nothing() {
        let body = prepare(Body::empty(), None, Plan::Buffer(8), 16).await;
        assert!(matches!(body, Ok(Outbound::Empty)));
    }
}
