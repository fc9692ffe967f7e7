//! CORS for browser-based MCP clients on the gateway path: preflights are answered without a
//! token, allowed origins only, and `WWW-Authenticate` is readable by the page.

use serde_json::json;
use sqlx::PgPool;

use super::setup;

#[sqlx::test]
async fn an_allowed_origin_gets_preflights_and_can_read_the_challenge(pool: PgPool) {
    let s = setup(
        &pool,
        "\n[gateway]\ncors_allowed_origins = [\"https://app.example\"]\n",
    )
    .await;
    let preflight = s
        .app
        .http
        .request(reqwest::Method::OPTIONS, s.mcp_url("demo"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-session-id",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );

    let unauthenticated = s
        .app
        .http
        .post(s.mcp_url("demo"))
        .header("origin", "https://app.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let exposed = unauthenticated.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate"), "{exposed}");

    let stranger = s
        .app
        .http
        .request(reqwest::Method::OPTIONS, s.mcp_url("demo"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        stranger
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
