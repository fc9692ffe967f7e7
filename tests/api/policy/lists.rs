//! `tools/list` answers filtered to what the user may use: as a JSON body (the demo server) and
//! as an SSE stream (a small scripted server), whose other events pass as they come.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, body::Body, response::Response, routing::post};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Notify;

use super::support::{POLICY, setup, setup_with};

fn names(list: &Value) -> Vec<String> {
    list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test]
async fn tools_list_over_json_shows_only_the_tools_the_user_may_call(pool: PgPool) {
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let r = s
        .post("demo", &token, Some(&session), list.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let length: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = r.bytes().await.unwrap();
    assert_eq!(length, body.len(), "the new length is sent");
    let body: Value = serde_json::from_slice(&body).unwrap();
    // whoami: denied by a rule; slow: the default; countdown: the admins' rule does not match.
    assert_eq!(names(&body), ["echo", "add"]);

    // The same server without a policy lists everything.
    let open = s.token("open", "mcp").await;
    let open_session = s.initialize("open", &open).await;
    let all: Value = s
        .post("open", &open, Some(&open_session), list)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(names(&all).len(), 5);
}

/// Answers every POST with an SSE stream: a progress notification, then (once `go` is
/// notified) the `tools/list` result with `echo`, `whoami` and `add`.
async fn scripted_sse_server(go: Arc<Notify>) -> SocketAddr {
    let app = Router::new().route(
        "/mcp",
        post(move || {
            let go = go.clone();
            async move {
                let first = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n";
                let result = json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": [
                    {"name": "echo"}, {"name": "whoami"}, {"name": "add"}]}});
                let last = format!("event: message\ndata: {result}\n\n");
                let events = futures_util::stream::iter([0, 1]).then(move |i| {
                    let go = go.clone();
                    let (first, last) = (first, last.clone());
                    async move {
                        if i == 0 {
                            Ok::<_, std::io::Error>(first.to_owned())
                        } else {
                            go.notified().await;
                            Ok(last)
                        }
                    }
                });
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(events))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[sqlx::test]
async fn tools_list_over_sse_rewrites_the_result_event_and_passes_the_others_as_they_come(
    pool: PgPool,
) {
    let go = Arc::new(Notify::new());
    let addr = scripted_sse_server(go.clone()).await;
    let (_, mcp) = demo_mcp_server::spawn(Default::default()).await.unwrap();
    let servers =
        format!("[[tenants.mcp_servers]]\nname = \"demo\"\nurl = \"http://{addr}/mcp\"\n{POLICY}");
    let s = setup_with(&pool, &servers, "", mcp).await;
    let token = s.token("demo", "mcp").await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let r = s
        .post("demo", &token, Some("session-1"), list)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut seen = String::new();

    // 1. The notification arrives while the server still holds back the result.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains("notifications/progress") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the notification is passed on at once")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains("\"tools\""));

    // 2. The result event, rewritten.
    go.notify_one();
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    let event = seen
        .split("\n\n")
        .find(|event| event.contains("\"tools\""))
        .expect("the result event");
    assert!(
        event.starts_with("event: message\n"),
        "its other fields are kept: {event}"
    );
    let data = event
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let result: Value = serde_json::from_str(data).unwrap();
    assert_eq!(result["id"], 2);
    assert_eq!(names(&result), ["echo", "add"]);
}
