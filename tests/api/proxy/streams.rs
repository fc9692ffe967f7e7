//! Streaming through the proxy: the long-lived GET stream and a POST answered with SSE.

use reqwest::{StatusCode, header};
use serde_json::json;

use super::harness::{Setup, eventually, read_events, rpc};

#[tokio::test]
async fn the_get_stream_delivers_events_through_the_proxy_while_it_stays_open() {
    // Arrange
    let setup = Setup::initialized().await;

    // Act
    let mut stream = setup
        .with_session(setup.http.get(&setup.url))
        .header(header::ACCEPT, "text/event-stream")
        .send()
        .await
        .expect("stream opened");
    let events = read_events(&mut stream, 3).await;

    // Assert: three events arrived and the stream is still open at both ends.
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(
        stream.headers()[header::CONTENT_TYPE].to_str().ok(),
        Some("text/event-stream")
    );
    let counters: Vec<_> = events
        .iter()
        .map(|e| e["params"]["data"]["counter"].clone())
        .collect();
    assert_eq!(counters, [json!(1), json!(2), json!(3)]);
    assert_eq!(setup.handle.sse_streams_open(), 1);

    // Closing the client side releases the MCP server's stream too.
    drop(stream);
    eventually(|| setup.handle.sse_streams_open() == 0).await;
}

#[tokio::test]
async fn a_countdown_answered_with_sse_streams_progress_then_the_result() {
    let setup = Setup::initialized().await;
    let call = rpc(
        11,
        "tools/call",
        json!({ "name": "countdown", "arguments": { "n": 3 }, "_meta": { "progressToken": "p" } }),
    );

    let mut response = setup.post().json(&call).send().await.expect("sent");
    let events = read_events(&mut response, 5).await;

    assert_eq!(
        events.len(),
        4,
        "three progress notifications, then the result"
    );
    assert_eq!(events[0]["method"], "notifications/progress");
    assert_eq!(events[3]["id"], 11);
}
