//! `GET /mcp`: the long-lived server-to-client SSE stream of a session.
//!
//! Every tick it sends a `notifications/message` carrying a counter, which is also the SSE event
//! id, so a client reconnecting with `Last-Event-ID: k` continues at `k + 1`. The stream ends
//! when the client disconnects (the body is dropped at the next write), when its session ends,
//! or when the server shuts down.

use std::{convert::Infallible, sync::Arc};

use axum::{
    extract::State,
    response::{
        IntoResponse, Response,
        sse::{Event, Sse},
    },
};
use futures_util::stream;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use tokio::{
    sync::watch,
    time::{Interval, MissedTickBehavior},
};

use super::{error::TransportError, handle::OpenStream, headers, jsonrpc, state::Shared};

/// A stream sends at most this many events (about 55 hours at the default tick), then ends;
/// the client may reconnect with `Last-Event-ID`.
const MAX_EVENTS_PER_STREAM: u64 = 1_000_000;

struct Ticker {
    shared: Arc<Shared>,
    session: String,
    next_id: u64,
    sent: u64,
    interval: Interval,
    closing: watch::Receiver<bool>,
    _open: OpenStream,
}

pub(super) async fn open(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match ticker(&shared, &headers) {
        Ok(ticker) => {
            let events = stream::unfold(ticker, next_event);
            (no_proxy_buffering(), Sse::new(events)).into_response()
        }
        Err(error) => error.into_response(),
    }
}

fn ticker(shared: &Arc<Shared>, headers: &HeaderMap) -> Result<Ticker, TransportError> {
    if !headers::accepts_sse(headers) {
        return Err(TransportError::SseNotAccepted);
    }
    headers::check_protocol_version(headers)?;
    let session = headers::live_session(headers, &shared.sessions)?;
    let mut interval = tokio::time::interval(shared.options.tick);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    Ok(Ticker {
        shared: Arc::clone(shared),
        session,
        next_id: headers::last_event_id(headers).map_or(1, |id| id.saturating_add(1)),
        sent: 0,
        interval,
        closing: shared.handle.closing(),
        _open: shared.handle.stream_opened(),
    })
}

async fn next_event(mut ticker: Ticker) -> Option<(Result<Event, Infallible>, Ticker)> {
    if ticker.sent >= MAX_EVENTS_PER_STREAM {
        return None;
    }
    tokio::select! {
        _ = ticker.interval.tick() => {}
        _ = ticker.closing.wait_for(|closing| *closing) => return None,
    }
    if !ticker.shared.sessions.contains(&ticker.session) {
        return None;
    }
    let id = ticker.next_id;
    ticker.next_id = id.saturating_add(1);
    ticker.sent += 1;
    let message = jsonrpc::notification(
        "notifications/message",
        json!({ "level": "info", "logger": "demo", "data": { "counter": id } }),
    );
    let event = Event::default()
        .id(id.to_string())
        .data(message.to_string());
    Some((Ok(event), ticker))
}

/// Tells nginx-style proxies not to buffer the stream (axum already sends each event as its own
/// body frame and `Cache-Control: no-cache`).
pub(super) fn no_proxy_buffering() -> [(HeaderName, HeaderValue); 1] {
    [(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    )]
}
