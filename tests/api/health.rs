//! Liveness, readiness, request ids, metrics and shutdown of the running service.

use mcp_auth_bridge::startup::{Application, DatabaseSetup};
use sqlx::PgPool;

use crate::app_support::{spawn_app, spawn_app_with, test_config};

#[sqlx::test]
async fn healthz_answers_ok(pool: PgPool) {
    let app = spawn_app(pool, test_config("")).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
}

#[sqlx::test]
async fn readyz_is_ready_when_the_database_is_migrated(pool: PgPool) {
    let app = spawn_app(pool, test_config("")).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
}

#[sqlx::test(migrations = false)]
async fn readyz_is_unavailable_while_migrations_are_pending(pool: PgPool) {
    let app = spawn_app_with(pool, test_config(""), DatabaseSetup::AsIs).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["problems"][0]["component"], "database");
    assert!(
        body["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("migrations applied")
    );
}

#[tokio::test]
async fn readyz_is_unavailable_when_the_database_is_unreachable() {
    let mut config = test_config("");
    config.database.url =
        mcp_auth_bridge::domain::Secret::new("postgres://nobody@127.0.0.1:1/none".into());
    config.database.acquire_timeout = mcp_auth_bridge::config::HumanDuration::secs(1);
    let pool = mcp_auth_bridge::store::pool::connect_lazy(&config.database).unwrap();
    let app = spawn_app_with(pool, config, DatabaseSetup::AsIs).await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["problems"][0]["reason"], "database unreachable");
    let live = app.get("/healthz").await;
    assert_eq!(
        live.status(),
        200,
        "liveness does not depend on the database"
    );
}

#[sqlx::test]
async fn a_request_id_sent_by_the_client_is_echoed(pool: PgPool) {
    let app = spawn_app(pool, test_config("")).await;
    let response = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-123");
}

#[sqlx::test]
async fn a_request_id_is_generated_when_absent_or_hostile(pool: PgPool) {
    let app = spawn_app(pool, test_config("")).await;
    let absent = app.get("/healthz").await;
    let generated = absent.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    let hostile = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    let replaced = hostile.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(replaced).is_ok(), "{replaced}");
}

#[sqlx::test]
async fn metrics_count_requests_by_route_template_and_status(pool: PgPool) {
    let app = spawn_app(pool, test_config("")).await;
    app.get("/healthz").await;
    app.get("/no/such/path/123").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{route="/healthz",method="GET",status="200"}"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched""#), "{text}");
    assert!(
        !text.contains("/no/such/path/123"),
        "raw paths never become labels"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));
}

#[sqlx::test]
async fn shutdown_stops_accepting_and_returns_within_the_grace_period(pool: PgPool) {
    let app = Application::build_with_pool(test_config(""), pool, DatabaseSetup::Prepare)
        .await
        .unwrap();
    let port = app.port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let url = format!("http://127.0.0.1:{port}/healthz");
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);

    tx.send(()).unwrap();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), running).await;

    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    assert!(reqwest::get(&url).await.is_err(), "no longer accepting");
}
