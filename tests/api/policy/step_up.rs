//! Step-up as MCP clients do it: register with the scope of the first challenge, then ask for
//! the wider scope a `403 insufficient_scope` names. Only an operator's registration limits
//! the scopes a client may ask for.

use mcp_auth_bridge::{
    domain::{ApplicationType, AuthMethod, ClientKind},
    store::clients::{self, NewClient},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::support::setup;
use crate::oauth_support::{Flow, REDIRECT_URI, query_param};

#[sqlx::test]
async fn a_client_registered_with_the_first_challenges_scope_can_step_up(pool: PgPool) {
    let s = setup(&pool, "").await;
    let registered: Value = s
        .app
        .http
        .post(s.app.url("/t/acme/register"))
        .json(&json!({
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "mcp",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    assert_eq!(registered["scope"], "mcp", "{registered}");

    let flow = Flow::new(&s.app, "acme", client_id);
    let resource = s.mcp_url("demo");
    let redirect = flow
        .run_to_client(&[("resource", &resource), ("scope", "mcp mcp:tools")])
        .await;
    let code = query_param(&redirect, "code").unwrap_or_else(|| panic!("no code: {redirect}"));
    let tokens: Value = flow.redeem(&code).await.json().await.unwrap();
    assert_eq!(tokens["scope"], "mcp mcp:tools", "{tokens}");
}

#[sqlx::test]
async fn an_operator_registered_clients_scope_still_limits_what_it_may_ask_for(pool: PgPool) {
    let s = setup(&pool, "").await;
    let tenant_id: Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let client_id = format!("static-{}", Uuid::new_v4().simple());
    clients::upsert(
        &pool,
        &NewClient {
            tenant_id,
            client_id: &client_id,
            kind: ClientKind::Static,
            secret_hash: None,
            auth_method: AuthMethod::None,
            application_type: ApplicationType::Native,
            client_name: Some("Operator's client"),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            grant_types: vec!["authorization_code".into()],
            scope: Some("mcp"),
            metadata: json!({}),
            registration_token_hash: None,
            metadata_expires_at: None,
            registered_from: None,
        },
    )
    .await
    .unwrap();

    let flow = Flow::new(&s.app, "acme", &client_id);
    let resource = s.mcp_url("demo");
    let refused = flow
        .get_authorize(&[("resource", &resource), ("scope", "mcp mcp:tools")])
        .await;
    let location = refused.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_scope")
    );
}

#[sqlx::test]
async fn the_401_does_not_hand_out_the_step_up_scope_at_the_first_login(pool: PgPool) {
    let s = setup(&pool, "").await;
    let scope_asked = |server: &'static str| {
        let url = s.mcp_url(server);
        let http = s.app.http.clone();
        async move {
            let r = http
                .post(url)
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
            r.headers()["www-authenticate"].to_str().unwrap().to_owned()
        }
    };
    // `demo`'s policy asks for `mcp:tools` to call `countdown`: the first login must not get it.
    let challenge = scope_asked("demo").await;
    assert!(
        challenge.contains(r#"scope="mcp mcp:admin""#),
        "{challenge}"
    );
    // `open` has no policy: the tenant's every scope, as before.
    let challenge = scope_asked("open").await;
    assert!(
        challenge.contains(r#"scope="mcp mcp:tools mcp:admin""#),
        "{challenge}"
    );
}
