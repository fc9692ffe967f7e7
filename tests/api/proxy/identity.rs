//! What reaches the MCP server about the user: the gateway's identity headers and nothing the
//! client claimed (security property: no identity injection, no token passthrough).

use mcp_auth_bridge::crypto::hash::fingerprint;
use reqwest::header;
use serde_json::{Value, json};

use super::support::{Setup, rpc};

#[tokio::test]
async fn whoami_sees_exactly_the_gateways_identity_headers_and_no_client_credentials() {
    // Arrange
    let setup = Setup::initialized().await;
    let call = rpc(
        9,
        "tools/call",
        json!({ "name": "whoami", "arguments": {} }),
    );

    // Act
    let response = setup
        .post()
        .header(header::AUTHORIZATION, "Bearer the-clients-mcp-token")
        .header(header::COOKIE, "session=abc")
        .header("X-Auth-Subject", "admin")
        .header("x-auth-email", "root@example.com")
        .header("X-AUTH-UPSTREAM-TOKEN", "stolen")
        .header("X-Auth-Role", "superuser")
        .json(&call)
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("JSON");

    // Assert
    let report = &body["result"]["structuredContent"];
    let expected = json!({
        "x-auth-subject": "user-42",
        "x-auth-email": "ada@example.com",
        "x-auth-name": "Ada Lovelace",
        "x-auth-tenant": "acme",
        "x-auth-client-id": "client-1",
        "x-auth-scopes": "mcp tools:read",
        "x-auth-upstream-token": format!("sha256:{}", fingerprint("upstream-abc")),
        "x-auth-assertion": "header.payload.signature",
    });
    assert_eq!(report["headers"], expected);
    assert_eq!(report["authorization_header_present"], false);
    assert_eq!(report["cookie_present"], false);
}

#[tokio::test]
async fn spoofed_identity_headers_are_replaced_as_the_mcp_server_receives_them() {
    // Arrange
    let setup = Setup::initialized().await;

    // Act
    setup
        .post()
        .header(header::AUTHORIZATION, "Bearer the-clients-mcp-token")
        .header("X-Auth-Subject", "admin")
        .header("X-AUTH-UPSTREAM-TOKEN", "stolen")
        .json(&rpc(3, "tools/list", json!({})))
        .send()
        .await
        .expect("sent");

    // Assert
    let seen = setup.handle.last_headers();
    let all = |name: &str| -> Vec<String> {
        seen.get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    assert_eq!(all("x-auth-subject"), ["user-42"]);
    assert_eq!(all("x-auth-upstream-token"), ["upstream-abc"]);
    assert!(all("authorization").is_empty());
    assert!(all("cookie").is_empty());
    assert_eq!(all("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(all("x-forwarded-proto"), ["http"]);
    assert_eq!(all("x-forwarded-host").len(), 1);
}
