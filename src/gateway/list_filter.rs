//! The answer to `tools/list`, `resources/list` or `prompts/list` from a server with a policy,
//! filtered to what the user may use, in both forms the Streamable HTTP transport allows:
//!
//! * a JSON body: read whole (within `gateway.max_body_bytes`), filtered, sent with its new
//!   length;
//! * an SSE stream: each event is passed on as soon as it is complete; the event carrying the
//!   JSON-RPC response (a `result`) is rewritten, and after it the stream is passed through
//!   untouched.
//!
//! An answer that is neither (an error status, another content type) is relayed as it is.

use std::sync::Arc;

use axum::{body::Body, response::Response};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, stream};
use http::{HeaderValue, header};
use serde_json::Value;

use super::{auth::Authenticated, token_claims::TokenClaims, user_cache::CachedUser};
use crate::policy::{
    Evaluation, Policy, Subject,
    lists::{ListKind, filter_response},
};

/// Who a request is for, owned, so that a filter can decide after the answer arrives.
#[derive(Clone)]
pub struct Who {
    claims: Arc<TokenClaims>,
    user: Arc<CachedUser>,
    tenant: Arc<str>,
}

impl Who {
    pub fn new(auth: &Authenticated, user: Arc<CachedUser>) -> Self {
        Self {
            claims: auth.claims.clone(),
            user,
            tenant: auth.target.ctx.slug().into(),
        }
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn subject(&self) -> Subject<'_> {
        Subject {
            subject: &self.claims.sub,
            email: self.user.email.as_deref(),
            name: self.user.name.as_deref(),
            claims: &self.user.claims,
            scopes: &self.claims.scope,
            client_id: &self.claims.client_id,
            tenant: &self.tenant,
        }
    }
}

/// Filters one list answer.
pub struct ListFilter {
    policy: Arc<Policy>,
    who: Who,
    kind: ListKind,
    /// The largest JSON body read whole.
    limit: usize,
}

impl ListFilter {
    pub fn new(policy: Arc<Policy>, who: Who, kind: ListKind, limit: usize) -> Self {
        Self {
            policy,
            who,
            kind,
            limit,
        }
    }

    /// Removes what the user may not use from a JSON-RPC response; whether it changed.
    fn filter(&self, response: &mut Value) -> bool {
        let subject = self.who.subject();
        let evaluation = Evaluation::new(&self.policy, &subject);
        let removed = filter_response(&evaluation, self.kind, response);
        if removed > 0 {
            metrics::counter!("gateway_policy_list_items_hidden_total", "list" => self.kind.key)
                .increment(removed as u64);
        }
        removed > 0
    }

    pub async fn apply(self, response: Response) -> Response {
        if !response.status().is_success() {
            return response;
        }
        let media = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase());
        match media.as_deref() {
            Some("application/json") => self.json(response).await,
            Some("text/event-stream") => self.sse(response),
            _ => response,
        }
    }

    async fn json(self, response: Response) -> Response {
        let (mut parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, self.limit).await else {
            // Too large or broken mid-way: what was read is gone, so answer as a failed relay.
            tracing::warn!("a list answer could not be read to filter it");
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::empty());
        };
        let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
            return Response::from_parts(parts, Body::from(bytes));
        };
        if !self.filter(&mut value) {
            return Response::from_parts(parts, Body::from(bytes));
        }
        let filtered = Bytes::from(value.to_string());
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(filtered.len()));
        Response::from_parts(parts, Body::from(filtered))
    }

    fn sse(self, response: Response) -> Response {
        let (mut parts, body) = response.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        let state = SseState {
            filter: Some(self),
            pending: BytesMut::new(),
        };
        let events = stream::unfold(
            (body.into_data_stream(), state, false),
            |(mut body, mut state, mut ended)| async move {
                loop {
                    if ended {
                        return None;
                    }
                    match body.next().await {
                        Some(Ok(chunk)) => {
                            let out = state.push(&chunk);
                            if !out.is_empty() {
                                return Some((Ok::<_, axum::Error>(out), (body, state, ended)));
                            }
                        }
                        Some(Err(e)) => {
                            ended = true;
                            return Some((Err(e), (body, state, ended)));
                        }
                        None => {
                            ended = true;
                            let rest = state.pending.split().freeze();
                            if !rest.is_empty() {
                                return Some((Ok(rest), (body, state, ended)));
                            }
                        }
                    }
                }
            },
        );
        Response::from_parts(parts, Body::from_stream(events))
    }
}

/// The SSE rewriter between chunks: the filter until the result event was seen, and the bytes
/// of an event not yet complete.
struct SseState {
    filter: Option<ListFilter>,
    pending: BytesMut,
}

impl SseState {
    /// The bytes to send on for this chunk: every event it completes (the result event
    /// rewritten); once the result is out, the chunk as it is.
    fn push(&mut self, chunk: &Bytes) -> Bytes {
        let Some(filter) = &self.filter else {
            return chunk.clone();
        };
        self.pending.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        while let Some(end) = event_end(&self.pending) {
            let event = self.pending.split_to(end);
            match rewrite(filter, &event) {
                Some(rewritten) => {
                    out.extend_from_slice(&rewritten);
                    // The answer is out: the rest of the stream passes untouched.
                    out.extend_from_slice(&self.pending.split());
                    self.filter = None;
                    return out.freeze();
                }
                None => out.extend_from_slice(&event),
            }
        }
        out.freeze()
    }
}

/// The end (exclusive, blank line included) of the first complete event in `buffer`.
fn event_end(buffer: &[u8]) -> Option<usize> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The event rewritten if it carries the JSON-RPC response (a `result` or an `error`); `None`
/// for every other event (notifications, requests, comments), which passes as it is.
fn rewrite(filter: &ListFilter, event: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(event).ok()?;
    let mut other_lines = Vec::new();
    let mut data = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("data:") {
            Some(value) => data.push(value.strip_prefix(' ').unwrap_or(value)),
            None if line.is_empty() => {}
            None => other_lines.push(line),
        }
    }
    let mut value: Value = serde_json::from_str(&data.join("\n")).ok()?;
    if value.get("result").is_none() && value.get("error").is_none() {
        return None;
    }
    filter.filter(&mut value);
    let mut out = String::new();
    for line in other_lines {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&value.to_string());
    out.push_str("\n\n");
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ends_are_found_for_lf_and_crlf() {
        assert_eq!(event_end(b"data: 1\n\ndata: 2"), Some(9));
        assert_eq!(event_end(b"data: 1\r\n\r\n"), Some(11));
        assert_eq!(event_end(b"data: 1\n"), None);
    }
}
