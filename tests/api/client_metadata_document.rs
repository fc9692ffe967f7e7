//! Client ID metadata documents through `resolve_client`: documents are served by a tiny axum
//! server on loopback (so `allow_private_metadata_hosts` is on except where the SSRF guard itself
//! is under test).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use chrono::Utc;
use mcp_auth_bridge::{
    domain::{AuthMethod, ClientKind},
    oauth::clients::{ClientLookupError, resolve_client},
    startup::{Application, DatabaseSetup},
    state::AppState,
    tenancy::TenantContext,
};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{app_support::test_config, registration::TENANTS};

#[derive(Clone)]
struct Docs {
    base: String,
    hits: Arc<AtomicUsize>,
}

fn json_response(value: Value, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, cache),
        ],
        value.to_string(),
    )
        .into_response()
}

fn doc(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Doc client",
        "redirect_uris": ["http://127.0.0.1:4000/callback"],
        "token_endpoint_auth_method": "none"
    })
}

async fn serve(State(d): State<Docs>, uri: axum::http::Uri) -> Response {
    d.hits.fetch_add(1, Ordering::SeqCst);
    let own = format!("{}{}", d.base, uri.path());
    match uri.path() {
        "/good.json" => json_response(doc(&own), "public, max-age=600"),
        "/other.json" => json_response(doc(&format!("{}/good.json", d.base)), "max-age=600"),
        "/secret.json" => {
            let mut v = doc(&own);
            v["client_secret"] = json!("s3cret");
            json_response(v, "max-age=600")
        }
        "/basic.json" => {
            let mut v = doc(&own);
            v["token_endpoint_auth_method"] = json!("client_secret_basic");
            json_response(v, "max-age=600")
        }
        "/big.json" => {
            let mut v = doc(&own);
            v["padding"] = json!("x".repeat(6000));
            json_response(v, "max-age=600")
        }
        "/slow.json" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json_response(doc(&own), "max-age=600")
        }
        "/redirect.json" => Redirect::temporary("/good.json").into_response(),
        "/text.json" => own.into_response(),
        "/bad-uri.json" => {
            let mut v = doc(&own);
            v["redirect_uris"] = json!(["javascript:alert(1)"]);
            json_response(v, "max-age=600")
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts the document server; returns its base URL and request counter.
async fn document_server() -> Docs {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let docs = Docs {
        base,
        hits: Arc::new(AtomicUsize::new(0)),
    };
    let router = Router::new().fallback(get(serve)).with_state(docs.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    docs
}

async fn state(pool: PgPool, registration: &str) -> (AppState, TenantContext) {
    let config = test_config(&format!("[registration]\n{registration}\n{TENANTS}"));
    let app = Application::build_with_pool(config, pool, DatabaseSetup::Prepare)
        .await
        .unwrap();
    let state = app.state().clone();
    let ctx = state.tenancy.resolve("acme").await.unwrap();
    (state, ctx)
}

const PRIVATE_OK: &str = "allow_private_metadata_hosts = true\nmetadata_fetch_timeout = \"1s\"";

#[sqlx::test]
async fn a_valid_document_is_resolved_cached_and_refetched_after_expiry(pool: PgPool) {
    let docs = document_server().await;
    let (state, ctx) = state(pool, PRIVATE_OK).await;
    let client_id = format!("{}/good.json", docs.base);
    let now = Utc::now();

    // 1. First resolve fetches and stores.
    let client = resolve_client(&state, &ctx, &client_id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.client_id, client_id);
    assert_eq!(client.kind, ClientKind::MetadataDocument);
    assert_eq!(client.auth_method, AuthMethod::None);
    assert_eq!(client.display_name(), "Doc client");
    assert!(
        client
            .redirect_uri_for("http://127.0.0.1:5555/callback")
            .is_some()
    );
    assert_eq!(docs.hits.load(Ordering::SeqCst), 1);

    // 2. Within max-age (600 s) the stored copy is used.
    let again = resolve_client(
        &state,
        &ctx,
        &client_id,
        now + chrono::Duration::seconds(590),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(again.id, client.id);
    assert_eq!(docs.hits.load(Ordering::SeqCst), 1, "no second fetch");

    // 3. After it, the document is fetched again and the same row refreshed.
    let later = resolve_client(
        &state,
        &ctx,
        &client_id,
        now + chrono::Duration::seconds(610),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(later.id, client.id);
    assert_eq!(docs.hits.load(Ordering::SeqCst), 2);
}

#[sqlx::test]
async fn documents_that_break_the_rules_are_refused(pool: PgPool) {
    let docs = document_server().await;
    let (state, ctx) = state(pool, PRIVATE_OK).await;
    for (path, expect_invalid) in [
        ("/other.json", true),
        ("/secret.json", true),
        ("/basic.json", true),
        ("/bad-uri.json", true),
        ("/big.json", false),
        ("/slow.json", false),
        ("/redirect.json", false),
        ("/text.json", false),
    ] {
        let client_id = format!("{}{path}", docs.base);
        let started = std::time::Instant::now();

        let result = resolve_client(&state, &ctx, &client_id, Utc::now()).await;

        match result {
            Err(ClientLookupError::InvalidDocument(_)) if expect_invalid => {}
            Err(ClientLookupError::FetchFailed(_)) if !expect_invalid => {}
            other => panic!("{path}: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path} bounded by the timeout"
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_clients")
        .fetch_one(&state.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing refused was stored");
}

#[sqlx::test]
async fn a_missing_document_is_not_found(pool: PgPool) {
    let docs = document_server().await;
    let (state, ctx) = state(pool, PRIVATE_OK).await;
    let result = resolve_client(
        &state,
        &ctx,
        &format!("{}/missing.json", docs.base),
        Utc::now(),
    )
    .await;
    assert!(
        matches!(result, Err(ClientLookupError::NotFound)),
        "{result:?}"
    );
}

#[sqlx::test]
async fn private_hosts_are_refused_without_a_connection(pool: PgPool) {
    let docs = document_server().await;
    let (state, ctx) = state(pool, "metadata_fetch_timeout = \"5s\"").await;
    let port = docs.base.rsplit(':').next().unwrap();
    for client_id in [
        format!("https://127.0.0.1:{port}/good.json"),
        format!("https://localhost:{port}/good.json"),
        "https://10.0.0.1/client.json".to_string(),
        "https://[::1]/client.json".to_string(),
        "https://169.254.169.254/latest/meta-data".to_string(),
        format!("{}/good.json", docs.base),
    ] {
        let started = std::time::Instant::now();
        let result = resolve_client(&state, &ctx, &client_id, Utc::now()).await;
        assert!(
            matches!(
                result,
                Err(ClientLookupError::InvalidDocument(_)) | Ok(None)
            ),
            "{client_id}: {result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "{client_id}");
    }
    assert_eq!(docs.hits.load(Ordering::SeqCst), 0);
}

#[sqlx::test]
async fn unknown_ids_and_disabled_documents_resolve_to_none(pool: PgPool) {
    let docs = document_server().await;
    let (state, ctx) = state(
        pool,
        "metadata_documents = false\nallow_private_metadata_hosts = true",
    )
    .await;
    for client_id in ["no-such-client", &format!("{}/good.json", docs.base)] {
        let result = resolve_client(&state, &ctx, client_id, Utc::now()).await;
        assert!(matches!(result, Ok(None)), "{client_id}: {result:?}");
    }
    assert_eq!(docs.hits.load(Ordering::SeqCst), 0);
}

#[sqlx::test]
async fn a_registered_client_is_resolved_from_the_store(pool: PgPool) {
    let (state, ctx) = state(pool, "").await;
    let app_router = mcp_auth_bridge::startup::router(state.clone());
    let request = axum::http::Request::post("/t/acme/register")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"redirect_uris": ["https://a.example/cb"]}).to_string(),
        ))
        .unwrap();
    let response = tower::ServiceExt::oneshot(app_router, request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();

    let client = resolve_client(
        &state,
        &ctx,
        body["client_id"].as_str().unwrap(),
        Utc::now(),
    )
    .await
    .unwrap()
    .unwrap();

    assert_eq!(client.kind, ClientKind::Dynamic);
    assert_eq!(client.auth_method, AuthMethod::ClientSecretBasic);
}
