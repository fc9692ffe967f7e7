//! The `countdown` tool over SSE: `n` progress notifications, one per tick, then the response,
//! then the stream ends (the transport's "POST answered with a stream" case).

use std::{convert::Infallible, time::Duration};

use axum::response::{
    IntoResponse, Response,
    sse::{Event, Sse},
};
use futures_util::stream;
use serde_json::{Value, json};
use tokio::time::{Interval, MissedTickBehavior};

use super::{jsonrpc, stream::no_proxy_buffering, tools};

struct Countdown {
    request_id: Value,
    progress_token: Value,
    n: u32,
    /// The next step to report; `n + 1` means the response is due, beyond it the stream ends.
    step: u32,
    interval: Interval,
}

pub(super) fn stream(request_id: Value, progress_token: Value, n: u32, tick: Duration) -> Response {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let state = Countdown {
        request_id,
        progress_token,
        n,
        step: 1,
        interval,
    };
    let events = stream::unfold(state, next_event);
    (no_proxy_buffering(), Sse::new(events)).into_response()
}

async fn next_event(mut state: Countdown) -> Option<(Result<Event, Infallible>, Countdown)> {
    let message = if state.step <= state.n {
        state.interval.tick().await;
        jsonrpc::notification(
            "notifications/progress",
            json!({
                "progressToken": state.progress_token,
                "progress": state.step,
                "total": state.n,
                "message": format!("{} left", state.n - state.step),
            }),
        )
    } else if state.step == state.n.saturating_add(1) {
        jsonrpc::success(&state.request_id, tools::countdown_result(state.n))
    } else {
        return None;
    };
    state.step = state.step.saturating_add(1);
    Some((Ok(Event::default().data(message.to_string())), state))
}
