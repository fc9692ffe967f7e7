//! Tenant isolation, and hostile bearer tokens: a token, code, client or refresh token of tenant
//! A is useless at tenant B; forged, tampered, expired or `alg: none` tokens get a 401, never a
//! 500.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    app_support::{TestApp, spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, keycloak_tenant, public_client},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

async fn two_tenants(pool: &PgPool) -> (FakeIdp, TestApp) {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let acme = keycloak_tenant(&idp, "");
    let globex = acme.replace("slug = \"acme\"", "slug = \"globex\"");
    let app = spawn_app(pool.clone(), test_config(&format!("{acme}\n{globex}"))).await;
    (idp, app)
}

#[sqlx::test]
async fn tokens_codes_and_clients_of_one_tenant_are_useless_at_another(pool: PgPool) {
    let (_idp, app) = two_tenants(&pool).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let tokens = flow.tokens().await;

    let userinfo = app
        .get_userinfo("globex", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);

    let at_globex = Flow {
        tenant: "globex",
        ..Flow::new(&app, "acme", &client_id)
    };
    let r = at_globex.get_authorize(&[]).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "acme's client is unknown at globex"
    );

    let code = flow.code().await;
    let stolen = app
        .post_token(
            "globex",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", &client_id),
                ("code_verifier", &flow.verifier),
            ],
        )
        .await;
    assert_eq!(
        stolen.status(),
        StatusCode::UNAUTHORIZED,
        "the client does not exist there"
    );
    assert_eq!(
        flow.redeem(&code).await.status(),
        StatusCode::OK,
        "the code still works at its own tenant"
    );

    let refresh = app
        .post_token(
            "globex",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", &client_id),
            ],
        )
        .await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);

    let introspect = app
        .http
        .post(app.url("/t/globex/introspect"))
        .basic_auth("tools-server", Some("tools-server-secret-test"))
        .form(&[("token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        introspect.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
}

fn forge(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature
    )
}

#[sqlx::test]
async fn forged_tampered_and_malformed_bearer_tokens_get_401_and_never_500(pool: PgPool) {
    let (_idp, app) = two_tenants(&pool).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let tokens = Flow::new(&app, "acme", &client_id).tokens().await;
    let good = tokens["access_token"].as_str().unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();

    let mut tampered = claims.clone();
    tampered["sub"] = json!("someone-else");
    let mut expired = claims.clone();
    expired["exp"] = json!(1);
    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = json!("no-such-key");
    let hostile = vec![
        forge(&json!({"alg": "none", "typ": "JWT"}), &claims, ""),
        forge(
            &json!({"alg": "HS256", "kid": header["kid"]}),
            &claims,
            parts[2],
        ),
        forge(&header, &tampered, parts[2]),
        forge(&header, &expired, parts[2]),
        forge(&unknown_kid, &claims, parts[2]),
        "not-a-jwt".into(),
        "a.b.c".into(),
        "x".repeat(20_000),
        format!("{good}x"),
    ];
    for token in hostile {
        let r = app.get_userinfo("acme", &token).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{}",
            &token[..token.len().min(60)]
        );
    }
    let ok = app.get_userinfo("acme", good).await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[sqlx::test]
async fn introspection_reports_active_tokens_to_authenticated_resource_servers_only(pool: PgPool) {
    let (_idp, app) = two_tenants(&pool).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let tokens = Flow::new(&app, "acme", &client_id).tokens().await;
    let token = tokens["access_token"].as_str().unwrap();
    let url = app.url("/t/acme/introspect");
    let active: Value = app
        .http
        .post(&url)
        .basic_auth("tools-server", Some("tools-server-secret-test"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(active["active"], true);
    assert_eq!(active["aud"], app.url("/t/acme/mcp/tools"));
    assert_eq!(active["client_id"], client_id);
    let wrong = app
        .http
        .post(&url)
        .basic_auth("tools-server", Some("wrong"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let public = app
        .http
        .post(&url)
        .form(&[("token", token), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::UNAUTHORIZED);
}

#[sqlx::test]
async fn discovery_is_served_at_all_four_paths_and_unknown_tenants_are_404(pool: PgPool) {
    let (_idp, app) = two_tenants(&pool).await;
    for path in [
        "/.well-known/oauth-authorization-server/t/acme",
        "/t/acme/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration/t/acme",
        "/t/acme/.well-known/openid-configuration",
    ] {
        let r = app
            .http
            .get(app.url(path))
            .header("origin", "https://client.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["access-control-allow-origin"], "*", "{path}");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["issuer"], app.url("/t/acme"));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    }
    for path in [
        "/.well-known/oauth-authorization-server/t/nobody",
        "/.well-known/oauth-protected-resource/t/acme/mcp/nothing",
        "/t/BAD%2F/jwks.json",
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let jwks: Value = app.get("/t/acme/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
}

/// Presents `code` at globex's `/token` with globex's own (attacker) client.
async fn redeem_at_globex(app: &TestApp, client_id: &str, code: &str, verifier: &str) -> Value {
    let r = app
        .post_token(
            "globex",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", client_id),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    r.json().await.unwrap()
}

#[sqlx::test]
async fn a_spent_code_replayed_at_another_tenant_revokes_nothing_and_reveals_nothing(pool: PgPool) {
    // Arrange: acme's client redeemed its code; globex has a client of the attacker's.
    let (_idp, app) = two_tenants(&pool).await;
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let code = flow.code().await;
    let tokens: Value = flow.redeem(&code).await.json().await.unwrap();
    let attacker = public_client(&pool, "globex", REDIRECT_URI).await;

    // Act
    let replayed = redeem_at_globex(&app, &attacker, &code, &flow.verifier).await;
    let made_up = redeem_at_globex(&app, &attacker, "no-such-code", &flow.verifier).await;

    // Assert: the same answer as a code that never existed, and acme's tokens still work.
    assert_eq!(replayed, made_up);
    let refreshed = flow
        .refresh(tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK, "acme's family survives");
    let userinfo = app
        .get_userinfo("acme", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(userinfo.status(), StatusCode::OK, "acme's access token too");
}

/// A confidential client registered at acme through DCR: `(client_id, client_secret)`.
async fn confidential_client(app: &TestApp) -> (String, String) {
    let body: Value = app
        .post_register(
            "acme",
            &json!({"redirect_uris": [REDIRECT_URI], "client_name": "Curious"}),
        )
        .await
        .json()
        .await
        .unwrap();
    (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn introspect_as(app: &TestApp, id: &str, secret: &str, token: &str) -> Value {
    app.http
        .post(app.url("/t/acme/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_confidential_client_cannot_introspect_another_clients_token(pool: PgPool) {
    // Arrange: a user's token for one client; another, confidential client of the tenant.
    let (_idp, app) = two_tenants(&pool).await;
    let victim = public_client(&pool, "acme", REDIRECT_URI).await;
    let tokens = Flow::new(&app, "acme", &victim).tokens().await;
    let token = tokens["access_token"].as_str().unwrap();
    let (curious, secret) = confidential_client(&app).await;

    // Act
    let seen = introspect_as(&app, &curious, &secret, token).await;

    // Assert: nothing; the resource server still sees it; the client sees its own tokens.
    assert_eq!(seen, json!({"active": false}));
    let by_server = introspect_as(&app, "tools-server", "tools-server-secret-test", token).await;
    assert_eq!(by_server["active"], true);
    let flow = Flow::new(&app, "acme", &curious);
    let code = flow.code().await;
    let own: Value = app
        .http
        .post(app.url("/t/acme/token"))
        .basic_auth(&curious, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", flow.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let own_token = own["access_token"].as_str().unwrap();
    let mine = introspect_as(&app, &curious, &secret, own_token).await;
    assert_eq!(mine["active"], true);
    assert_eq!(mine["client_id"], curious.as_str());
}
