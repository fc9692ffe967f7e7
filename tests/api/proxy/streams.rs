//! Streaming through the proxy: the long-lived GET stream, a POST answered with SSE, and a
//! request body passed on as it arrives.

use axum::{Router, body::Body};
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::{StatusCode, header};
use serde_json::json;
use tokio::time::timeout;

use super::support::{PATIENCE, Setup, config, eventually, read_events, rpc, spawn_gateway};

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

#[tokio::test]
async fn a_request_body_reaches_the_mcp_server_before_the_client_has_finished_sending_it() {
    // Arrange: an upstream that answers as soon as the first chunk arrives, and a client body
    // that stays open until the test ends. A proxy that buffered would never see an answer.
    let app = Router::new().fallback(|body: Body| async move {
        let first = body.into_data_stream().next().await;
        match first {
            Some(Ok(chunk)) => String::from_utf8_lossy(&chunk).into_owned(),
            _ => "no chunk".to_owned(),
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let upstream = url::Url::parse(&format!("http://{addr}/upload")).expect("url");
    let gateway = spawn_gateway(upstream, &config()).await;
    let (send, receive) = tokio::sync::mpsc::channel::<Bytes>(4);
    let body = futures_util::stream::unfold(receive, |mut receive| async move {
        let chunk = receive.recv().await?;
        Some((Ok::<_, std::io::Error>(chunk), receive))
    });
    send.send(Bytes::from_static(b"first chunk"))
        .await
        .expect("queued");

    // Act
    let response = timeout(
        PATIENCE,
        reqwest::Client::new()
            .post(format!("http://{gateway}/t/acme/mcp/demo"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body))
            .send(),
    )
    .await
    .expect("answered while the upload is still open")
    .expect("sent");

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let text = timeout(PATIENCE, response.text()).await.expect("in time");
    assert_eq!(text.expect("text"), "first chunk");
    drop(send);
}
