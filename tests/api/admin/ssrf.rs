//! SSRF through the admin API: URLs the bridge will connect to (MCP servers, upstream provider
//! endpoints) must point at public addresses unless the operator allow-listed them in
//! `admin.allowed_upstream_hosts`; link-local addresses (the cloud metadata service) are refused
//! for every token and whatever the allow-list says. Configuration-file tenants are the
//! operator's own and are not restricted (every other gateway test forwards to 127.0.0.1).

use serde_json::{Value, json};
use sqlx::PgPool;

use super::{ACME, AdminApp, ROOT, admin_token_list, error_paths, problem};
use crate::app_support::{spawn_app, test_config};

const INTERNAL: [&str; 9] = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/mcp",
    "http://127.0.0.1:9/mcp",
    "http://[::1]:9/mcp",
    "http://100.64.0.1/mcp",
    "http://[fd00::1]/mcp",
    "http://[fe80::1]/mcp",
    "http://[::ffff:10.0.0.1]/mcp",
    "http://localhost:9/mcp",
];

async fn spawn(pool: PgPool, extra: &str) -> AdminApp {
    let config = test_config(&format!("{extra}{}", admin_token_list()));
    AdminApp {
        app: spawn_app(pool, config).await,
    }
}

fn provider(issuer: &str) -> Value {
    json!({
        "name": "kc", "kind": "oidc", "issuer": issuer,
        "client_id": "bridge", "client_secret": "a-long-enough-secret"
    })
}

#[sqlx::test]
async fn a_tenant_admin_token_cannot_aim_the_bridge_at_internal_addresses(pool: PgPool) {
    // Arrange: an API tenant `acme` and its bound admin token; a public provider exists.
    let admin = spawn(pool, "").await;
    admin.tenant("acme").await;
    let r = admin
        .post(
            "/admin/v1/tenants/acme/providers",
            ACME,
            provider("https://idp.example.com/realms/acme"),
        )
        .await;
    assert_eq!(r.status(), 201);

    for (i, url) in INTERNAL.iter().enumerate() {
        // Act
        let server = admin
            .post(
                "/admin/v1/tenants/acme/servers",
                ACME,
                json!({"name": format!("s{i}"), "url": url}),
            )
            .await;
        let idp = admin
            .post(
                "/admin/v1/tenants/acme/providers",
                ACME,
                json!({"name": format!("p{i}"), "kind": "oidc", "issuer": "https://idp.example.com/r",
                    "token_url": url, "authorization_url": "https://idp.example.com/auth",
                    "client_id": "bridge", "client_secret": "a-long-enough-secret"}),
            )
            .await;

        // Assert
        assert_eq!(error_paths(&problem(server, 422).await), ["/url"], "{url}");
        assert_eq!(
            error_paths(&problem(idp, 422).await),
            ["/token_url"],
            "{url}"
        );
    }
    let public = admin
        .post(
            "/admin/v1/tenants/acme/servers",
            ACME,
            json!({"name": "public", "url": "https://mcp.example.com/mcp"}),
        )
        .await;
    assert_eq!(public.status(), 201);
}

#[sqlx::test]
async fn the_metadata_service_is_refused_even_to_the_global_token_and_the_allow_list(pool: PgPool) {
    // Arrange: an operator who allowed everything.
    let admin = spawn(
        pool,
        "[admin]\nallowed_upstream_hosts = [\"0.0.0.0/0\", \"::/0\"]\n",
    )
    .await;
    admin.tenant("globex").await;

    // Act
    let metadata = admin
        .post(
            "/admin/v1/tenants/globex/providers",
            ROOT,
            provider("http://169.254.169.254/latest"),
        )
        .await;
    let private = admin
        .post(
            "/admin/v1/tenants/globex/providers",
            ROOT,
            provider("http://10.1.2.3/realms/x"),
        )
        .await;

    // Assert: link-local never; the allow-listed private range is the operator's decision.
    let body = problem(metadata, 422).await;
    assert_eq!(error_paths(&body), ["/issuer"]);
    assert!(body.to_string().contains("link-local"), "{body}");
    assert_eq!(private.status(), 201);
}

#[tokio::test]
async fn an_upstream_provider_name_that_resolves_to_loopback_is_not_connected_to() {
    use std::sync::Arc;

    use mcp_auth_bridge::{
        net_guard::{UpstreamGuard, UpstreamResolver},
        upstream::http::guarded_client,
    };

    // Arrange: an "IdP" on loopback, reached by a name (as after DNS rebinding: the admin API
    // saw a public name, the resolver now answers 127.0.0.1).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let idp = axum::Router::new().fallback(|| async { "{}" });
    tokio::spawn(async move { axum::serve(listener, idp).await });
    let url = format!("http://localhost:{port}/token");
    let strict = guarded_client(Arc::new(UpstreamResolver::new(
        UpstreamGuard::default(),
        Vec::new(),
    )))
    .unwrap();
    let operators = guarded_client(Arc::new(UpstreamResolver::new(
        UpstreamGuard::default(),
        vec!["localhost".to_owned()],
    )))
    .unwrap();

    // Act
    let refused = strict.post(&url).send().await;
    let named_in_the_configuration_file = operators.post(&url).send().await;

    // Assert
    assert!(refused.is_err(), "connected to loopback: {refused:?}");
    assert_eq!(named_in_the_configuration_file.unwrap().status(), 200);
}
