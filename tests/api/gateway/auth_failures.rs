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
