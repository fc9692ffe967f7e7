//! The `GET` SSE stream: numbered events, resumption, release on disconnect, shutdown.

use std::time::Duration;

use demo_mcp_server::{self, DemoMcpOptions};
use reqwest::StatusCode;
use tokio::time::timeout;

use super::client_support::{Mcp, PATIENCE, eventually, read_events};

#[tokio::test]
async fn a_get_stream_delivers_numbered_events_while_open() {
    let mcp = Mcp::initialized().await;

    let mut response = mcp.get_stream().send().await.expect("stream opened");
    let events = read_events(&mut response, 3).await;

    assert_eq!(response.status(), StatusCode::OK);
    let ids: Vec<Option<&str>> = events.iter().map(|e| e.id.as_deref()).collect();
    assert_eq!(ids, [Some("1"), Some("2"), Some("3")]);
    assert_eq!(events[2].data["method"], "notifications/message");
    assert_eq!(events[2].data["params"]["data"]["counter"], 3);
    assert_eq!(mcp.handle.sse_streams_open(), 1);
}

#[tokio::test]
async fn a_reconnecting_stream_continues_after_the_last_event_id() {
    let mcp = Mcp::initialized().await;

    let mut response = mcp
        .get_stream()
        .header("last-event-id", "41")
        .send()
        .await
        .expect("stream opened");
    let events = read_events(&mut response, 1).await;

    assert_eq!(events[0].id.as_deref(), Some("42"));
}

#[tokio::test]
async fn a_stream_is_released_when_the_client_disconnects() {
    let mcp = Mcp::initialized().await;
    let mut response = mcp.get_stream().send().await.expect("stream opened");
    read_events(&mut response, 1).await;

    drop(response);

    eventually(|| mcp.handle.sse_streams_open() == 0).await;
}

#[tokio::test]
async fn a_get_without_accepting_sse_is_405() {
    let mcp = Mcp::initialized().await;

    let response = mcp
        .get_accepting("application/json")
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn serve_stops_on_shutdown_even_with_a_stream_open() {
    // Arrange
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = DemoMcpOptions {
        tick: Duration::from_millis(20),
        ..DemoMcpOptions::default()
    };
    let server = tokio::spawn(demo_mcp_server::serve(listener, options, async {
        let _ = stopped.await;
    }));
    let mut mcp = Mcp::fast().await;
    mcp.url = format!("http://{addr}/mcp");
    mcp.initialize().await;
    let mut stream = mcp.get_stream().send().await.expect("stream opened");
    read_events(&mut stream, 1).await;

    // Act
    let _ = stop.send(());

    // Assert
    let finished = timeout(PATIENCE, server).await.expect("stopped in time");
    assert!(matches!(finished, Ok(Ok(()))));
}
