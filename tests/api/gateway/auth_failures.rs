//! Every kind of authentication failure at the gateway, with the exact `WWW-Authenticate`.

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use super::setup;

async fn challenge(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let header = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, header)
}

#[sqlx::test]
async fn each_authentication_failure_gets_its_exact_challenge(pool: PgPool) {
    let s = setup(&pool, "").await;
    let meta = s
        .app
        .url("/.well-known/oauth-protected-resource/t/acme/mcp/demo");
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});

    let missing = s
        .app
        .http
        .post(s.mcp_url("demo"))
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(
        challenge(missing).await,
        (
            401,
            format!("Bearer resource_metadata=\"{meta}\", scope=\"mcp mcp:tools mcp:admin\"")
        )
    );

    let malformed = s
        .post("demo", "not.a.jwt", None, ping.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        challenge(malformed).await,
        (
            401,
            format!(
                "Bearer resource_metadata=\"{meta}\", error=\"invalid_token\", error_description=\"the token is invalid\""
            )
        )
    );

    let other_server = s.token("down", "mcp").await;
    let wrong_aud = s
        .post("demo", &other_server, None, ping.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        challenge(wrong_aud).await,
        (
            401,
            format!(
                "Bearer resource_metadata=\"{meta}\", error=\"invalid_token\", error_description=\"the token was not issued for this MCP server\""
            )
        )
    );

    let token = s.token("demo", "mcp").await;
    let prefix = s
        .app
        .http
        .post(s.app.url("/t/acme/mcp/demox"))
        .bearer_auth(&token)
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(
        prefix.status(),
        404,
        "/t/acme/mcp/demox is another (unknown) server, not a path below demo"
    );
    let other_tenant = s
        .app
        .http
        .post(s.app.url("/t/globex/mcp/demo"))
        .bearer_auth(&token)
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(other_tenant.status(), 404);

    sqlx::query("UPDATE access_tokens SET expires_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    let admin_token = s.token("admin", "mcp").await;
    let scope = s
        .post("admin", &admin_token, None, ping.clone())
        .send()
        .await
        .unwrap();
    let admin_meta = s
        .app
        .url("/.well-known/oauth-protected-resource/t/acme/mcp/admin");
    assert_eq!(
        challenge(scope).await,
        (
            403,
            format!(
                "Bearer resource_metadata=\"{admin_meta}\", error=\"insufficient_scope\", scope=\"mcp:admin\", error_description=\"the token lacks a scope this server requires\""
            )
        )
    );
}

#[sqlx::test]
async fn a_revoked_token_is_refused_at_once_and_a_needs_reauth_grant_within_a_second(pool: PgPool) {
    let s = setup(&pool, "").await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let token = s.token("demo", "mcp").await;
    s.initialize("demo", &token).await;
    let revoked = s
        .app
        .http
        .post(s.app.url("/t/acme/revoke"))
        .form(&[
            ("token", token.as_str()),
            ("client_id", s.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, header) = challenge(
        s.post("demo", &token, None, ping.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(header.contains("the token has been revoked"), "{header}");

    let second = s.token("demo", "mcp").await;
    s.initialize("demo", &second).await;
    sqlx::query("UPDATE grants SET status = 'needs_reauth'")
        .execute(&pool)
        .await
        .unwrap();
    // As the bridge does when it marks a grant (token states live minutes; events revoke).
    let grant = sqlx::query_scalar("SELECT id FROM grants ORDER BY created_at DESC LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    mcp_auth_bridge::coherence::publish(
        &s.app.state.caches,
        mcp_auth_bridge::coherence::CacheEvent::GrantChanged { grant },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, header) =
        challenge(s.post("demo", &second, None, ping).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(
        header.contains("error=\"invalid_token\"") && header.contains("authorize again"),
        "{header}"
    );
}

#[sqlx::test]
async fn an_expired_token_is_refused(pool: PgPool) {
    let s = setup(&pool, "\n[auth]\nclock_skew = \"0s\"\n").await;
    sqlx::query("UPDATE tenants SET access_token_ttl_seconds = 1")
        .execute(&pool)
        .await
        .unwrap();
    let token = s.token("demo", "mcp").await;
    s.initialize("demo", &token).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let meta = s
        .app
        .url("/.well-known/oauth-protected-resource/t/acme/mcp/demo");
    let (status, header) = challenge(
        s.post(
            "demo",
            &token,
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, header),
        (
            401,
            format!(
                "Bearer resource_metadata=\"{meta}\", error=\"invalid_token\", error_description=\"the token has expired\""
            )
        )
    );
}

/// The same token with its ECDSA `S` replaced by `n - S`: a second signature that verifies
/// under plain ECDSA (signature malleability).
fn high_s_twin(token: &str) -> String {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&bytes).unwrap();
    let (r, s) = signature.split_scalars();
    let twin = p256::ecdsa::Signature::from_scalars(r, -s).unwrap();
    assert!(twin.normalize_s().is_some(), "the twin has a high S");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(twin.to_bytes()))
}

#[sqlx::test]
async fn a_high_s_twin_of_a_valid_token_is_refused(pool: PgPool) {
    // Arrange: a valid token and its malleated twin.
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    let twin = high_s_twin(&token);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});

    // Act
    let original = s
        .post("demo", &token, None, ping.clone())
        .send()
        .await
        .unwrap();
    let malleated = s.post("demo", &twin, None, ping).send().await.unwrap();
    let userinfo = s
        .app
        .http
        .get(s.app.url("/t/acme/userinfo"))
        .bearer_auth(&twin)
        .send()
        .await
        .unwrap();

    // Assert
    assert_ne!(original.status(), 401, "the original token is valid");
    let (status, header) = challenge(malleated).await;
    assert_eq!(status, 401);
    assert!(header.contains("invalid_token"), "{header}");
    assert_eq!(userinfo.status(), 401);
}

#[sqlx::test]
async fn an_identity_assertion_replayed_as_a_bearer_token_is_refused(pool: PgPool) {
    // Arrange: the MCP server receives a signed assertion for the same resource.
    let s = setup(&pool, "").await;
    let token = s.token("demo", "mcp").await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let sent = s
        .post("demo", &token, None, ping.clone())
        .send()
        .await
        .unwrap();
    assert_ne!(sent.status(), 401);
    let assertion = s.mcp.last_headers()["x-auth-assertion"]
        .to_str()
        .unwrap()
        .to_owned();
    let header = jsonwebtoken::decode_header(&assertion).unwrap();
    assert_eq!(header.typ.as_deref(), Some("mcp-auth-assertion+jwt"));

    // Act: the MCP server (or whoever read its logs) presents it back to the bridge.
    let gateway = s.post("demo", &assertion, None, ping).send().await.unwrap();
    let userinfo = s
        .app
        .http
        .get(s.app.url("/t/acme/userinfo"))
        .bearer_auth(&assertion)
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(gateway.status(), 401);
    assert_eq!(userinfo.status(), 401);
}
