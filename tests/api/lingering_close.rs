//! A response sent before the request body was read (413 for an oversized body) reaches a
//! client that is still sending: the server closes lingering instead of resetting the
//! connection. The server runs on its own multi-thread runtime in its own OS thread, as in
//! production; on the test's one thread the client and server took turns and hid the reset.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{PgPool, postgres::PgPoolOptions};
use tokio::sync::oneshot;

use crate::app_support::{spawn_app, test_config};

/// Serves the application on a runtime of its own until the returned sender is dropped.
fn spawn_on_own_runtime(pool: &PgPool) -> (String, oneshot::Sender<()>) {
    let options = (*pool.connect_options()).clone();
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let pool = PgPoolOptions::new()
                .max_connections(5)
                .connect_with(options)
                .await
                .expect("pool");
            let app = spawn_app(pool, test_config("")).await;
            address_tx.send(app.address.clone()).expect("address");
            let _ = stop_rx.await;
        });
    });
    let address = address_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server starts");
    (address, stop_tx)
}

/// 2 MiB (twice the limit) with its length announced: answered at once from the headers,
/// while most of it is still on its way.
fn oversized_body() -> String {
    "a=".to_string() + &"x".repeat(2 << 20)
}

#[sqlx::test]
async fn an_oversized_body_still_being_sent_gets_its_413_in_rfc_6749_json(pool: PgPool) {
    let (address, _stop) = spawn_on_own_runtime(&pool);
    // A connection per request: the server closes each one after an unread body, and a pooled
    // one could be reused by the next request while that close is on its way.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for endpoint in ["revoke", "introspect", "token"] {
        let r = http
            .post(format!("{address}/t/acme/{endpoint}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(oversized_body())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{endpoint}: the answer was lost: {e:?}"));
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{endpoint}");
        assert_eq!(
            r.headers()["content-type"],
            "application/json",
            "{endpoint}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{endpoint}");
    }
}
