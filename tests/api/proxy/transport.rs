//! The Streamable HTTP transport through the proxy: session, tools, DELETE, paths.

use axum::{Router, http::Uri};
use reqwest::StatusCode;
use serde_json::json;

use super::support::{Setup, config, spawn_gateway};

#[tokio::test]
async fn initialize_list_and_call_echo_through_the_proxy_keep_the_session() {
    // Arrange
    let mut setup = Setup::fast().await;

    // Act
    let initialized = setup.initialize().await;
    let tools = setup.call("tools/list", json!({})).await;
    let echoed = setup
        .tool("echo", json!({ "text": "through the gateway" }))
        .await;

    // Assert
    assert_eq!(initialized.status(), StatusCode::OK);
    let session = setup.session.clone().expect("the session id came back");
    assert_eq!(tools["result"]["tools"].as_array().map(Vec::len), Some(5));
    assert_eq!(echoed["content"][0]["text"], "through the gateway");
    assert_eq!(setup.handle.initialize(), 1);
    assert_eq!(setup.handle.tool_calls(), 1);
    assert_eq!(
        setup.handle.last_headers()["mcp-session-id"],
        session.as_str()
    );
    assert_eq!(
        setup.handle.last_headers()["mcp-protocol-version"],
        "2025-11-25"
    );
}

#[tokio::test]
async fn delete_through_the_proxy_terminates_the_session() {
    // Arrange
    let setup = Setup::initialized().await;

    // Act
    let deleted = setup
        .with_session(setup.http.delete(&setup.url))
        .send()
        .await
        .expect("sent");
    let after = setup
        .post()
        .json(&super::support::rpc(8, "tools/list", json!({})))
        .send()
        .await
        .expect("sent");

    // Assert
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(setup.handle.sessions_terminated(), 1);
    assert_eq!(after.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_encoded_dot_segment_cannot_climb_out_of_the_mcp_servers_path() {
    let setup = Setup::fast().await;

    // `%2e%2e` would be resolved by the client's URL parser already; `..%2F` reaches the
    // gateway, whose router decodes it to `../admin`.
    let response = setup
        .http
        .get(format!("{}/..%2Fadmin", setup.url))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(setup.handle.requests(), 0);
}

#[tokio::test]
async fn a_path_below_the_mount_and_the_query_reach_the_mcp_server_as_is() {
    // Arrange: an upstream that answers with the path and query it was asked for.
    let app = Router::new().fallback(|uri: Uri| async move { uri.to_string() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let upstream = url::Url::parse(&format!("http://{addr}/base/")).expect("url");
    let gateway = spawn_gateway(upstream, &config()).await;

    // Act
    let response = reqwest::get(format!(
        "http://{gateway}/t/acme/mcp/demo/sub/a%20b?x=1&y=%2F"
    ))
    .await
    .expect("sent");

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let seen = response.text().await.expect("text");
    assert_eq!(seen, "/base/sub/a%20b?x=1&y=%2F");
}

#[tokio::test]
async fn trace_is_refused_so_identity_headers_cannot_be_echoed_back() {
    let setup = Setup::fast().await;

    let response = setup
        .http
        .request(reqwest::Method::TRACE, &setup.url)
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(setup.handle.requests(), 0);
}
