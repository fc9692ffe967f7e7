//! No secret in logs: the whole flow runs with logging at TRACE captured, and none of the
//! tokens, codes, states, verifiers or secrets involved may appear in the output.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    app_support::{TEST_SEALING_KEY, spawn_app, test_config},
    oauth_support::{Flow, REDIRECT_URI, hidden_field, keycloak_tenant, location, query_param},
    registration::register,
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[sqlx::test]
async fn the_whole_flow_at_trace_level_logs_no_token_code_or_secret(pool: PgPool) {
    // `#[sqlx::test]` runs on a current-thread runtime, so the server tasks spawned by this test
    // log through this thread's default subscriber.
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Callsites first hit by tests on other threads while no subscriber wanted them cache
    // "never"; registering this one rebuilds that cache, but a registration racing with it can
    // keep the stale answer (seen once in a loaded full run: the callback's INFO line missing).
    // Rebuild once more now that this subscriber is in place.
    tracing::callsite::rebuild_interest_cache();

    let idp = FakeIdp::start(FakeIdpOptions {
        client_secret: "canary-provider-secret-0001".into(),
        ..FakeIdpOptions::default()
    })
    .await;
    let app = spawn_app(pool.clone(), test_config(&keycloak_tenant(&idp, ""))).await;

    let (_, public) = register(&app, "acme", &json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none", "client_name": "Canary"})).await;
    let (_, confidential) = register(
        &app,
        "acme",
        &json!({"redirect_uris": [REDIRECT_URI], "client_name": "Confidential"}),
    )
    .await;
    let client_id = public["client_id"].as_str().unwrap().to_owned();
    let flow = Flow::new(&app, "acme", &client_id);
    let html = flow.get_authorize(&[]).await.text().await.unwrap();
    let csrf = hidden_field(&html, "csrf");
    let upstream = flow.approve(&html).await;
    let upstream_state = query_param(&upstream, "state").unwrap();
    let idp_redirect = location(&flow.visit(&upstream).await);
    let upstream_code = query_param(&idp_redirect, "code").unwrap();
    let back = location(&flow.visit(&idp_redirect).await);
    let code = query_param(&back, "code").unwrap();
    let tokens: Value = flow.redeem(&code).await.json().await.unwrap();
    let refreshed: Value = flow
        .refresh(tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    app.get_userinfo("acme", refreshed["access_token"].as_str().unwrap())
        .await;
    app.http
        .post(app.url("/t/acme/revoke"))
        .basic_auth(
            confidential["client_id"].as_str().unwrap(),
            confidential["client_secret"].as_str(),
        )
        .form(&[("token", "not-a-real-token")])
        .send()
        .await
        .unwrap();
    app.post_revoke(
        "acme",
        &[
            ("token", refreshed["refresh_token"].as_str().unwrap()),
            ("client_id", client_id.as_str()),
        ],
    )
    .await;

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("authorization code issued"),
        "the capture saw the flow:\n{log}"
    );
    let mut secrets: Vec<(&str, String)> = vec![
        (
            "provider client secret",
            "canary-provider-secret-0001".into(),
        ),
        ("sealing key", TEST_SEALING_KEY.into()),
        ("csrf token", csrf),
        ("upstream state", upstream_state),
        ("upstream code", upstream_code),
        ("bridge code", code),
        ("pkce verifier", flow.verifier.clone()),
        (
            "registration token",
            public["registration_access_token"].as_str().unwrap().into(),
        ),
        (
            "client secret",
            confidential["client_secret"].as_str().unwrap().into(),
        ),
    ];
    for (name, t) in [
        ("access token", &tokens["access_token"]),
        ("refresh token", &tokens["refresh_token"]),
        ("second access token", &refreshed["access_token"]),
        ("second refresh token", &refreshed["refresh_token"]),
    ] {
        secrets.push((name, t.as_str().unwrap().into()));
    }
    for t in idp
        .issued_access_tokens()
        .into_iter()
        .chain(idp.issued_refresh_tokens())
    {
        secrets.push(("upstream token", t));
    }
    for (name, secret) in secrets {
        // The signature part of a JWT is what makes it a credential; the whole value must not appear.
        assert!(!log.contains(&secret), "{name} appears in the logs");
    }
}
