//! Disconnecting through the admin API revokes the tokens at the remote (RFC 7009) and deletes
//! them; the listing never shows a token.

use mcp_auth_bridge::crypto::hash::sha256_hex;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use super::support::{Setup, config_toml, connect_in, elicited_url};
use crate::{
    app_support::{spawn_app, test_config},
    oauth_support::{REDIRECT_URI, public_client},
    support::{
        fake_idp::{FakeIdp, FakeIdpOptions},
        fake_remote_mcp::FakeRemote,
    },
};

const ADMIN: &str = "remote-admin-token-for-tests";

async fn setup_with_admin(pool: &PgPool) -> Setup {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let remote = FakeRemote::start().await;
    let admin = format!(
        "[[admin.tokens]]\nname = \"root\"\nsha256 = \"{}\"\n",
        sha256_hex(ADMIN.as_bytes())
    );
    let toml = format!("{admin}{}", config_toml(&idp, &remote));
    let app = spawn_app(pool.clone(), test_config(&toml)).await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    Setup {
        idp,
        remote,
        app,
        client_id,
    }
}

#[sqlx::test]
async fn disconnect_revokes_the_tokens_at_the_remote_and_the_next_call_elicits(pool: PgPool) {
    let s = setup_with_admin(&pool).await;
    let user = s.user().await;
    s.initialize(&user.token, true).await;
    let url = elicited_url(&s.whoami(&user.token, 2).await);
    assert_eq!(
        connect_in(&user.flow.browser, &url).await.status(),
        StatusCode::OK
    );
    let issued = s.remote.issued_access_tokens();

    // 1. The admin lists the connection: who, which server, no token.
    let list = s
        .app
        .http
        .get(
            s.app
                .url("/admin/v1/tenants/acme/remote-connections?server=wiki"),
        )
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let text = list.text().await.unwrap();
    for token in &issued {
        assert!(!text.contains(token.as_str()), "no token in the listing");
    }
    let list: Value = serde_json::from_str(&text).unwrap();
    let item = &list["items"][0];
    assert_eq!(item["server"], "wiki");
    assert_eq!(item["subject"], s.idp.user().subject);
    assert_eq!(item["status"], "active");

    // 2. Disconnect.
    let id = item["id"].as_str().unwrap();
    let gone = s
        .app
        .http
        .delete(
            s.app
                .url(&format!("/admin/v1/tenants/acme/remote-connections/{id}")),
        )
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);

    // 3. Revoked at the remote, deleted here, audited, and the next call elicits.
    assert_eq!(
        s.remote.counters().revoke,
        2,
        "refresh token, then access token"
    );
    for token in &issued {
        assert!(!s.remote.is_token_valid(token));
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM remote_connections")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'remote.disconnect'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    let answer = s.whoami(&user.token, 3).await;
    elicited_url(&answer);
}

#[sqlx::test]
async fn revoking_all_of_a_users_grants_disconnects_their_remote_servers(pool: PgPool) {
    let s = setup_with_admin(&pool).await;
    let user = s.user().await;
    s.initialize(&user.token, true).await;
    let url = elicited_url(&s.whoami(&user.token, 2).await);
    assert_eq!(
        connect_in(&user.flow.browser, &url).await.status(),
        StatusCode::OK
    );
    let issued = s.remote.issued_access_tokens();
    let subject = s.idp.user().subject;

    let revoked = s
        .app
        .http
        .post(
            s.app
                .url(&format!("/admin/v1/tenants/acme/users/{subject}/revoke")),
        )
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();

    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(s.remote.counters().revoke, 2);
    for token in &issued {
        assert!(!s.remote.is_token_valid(token));
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM remote_connections")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}
