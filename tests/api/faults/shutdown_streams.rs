//! Shutdown with an SSE stream open through the gateway: the stream ends cleanly after a
//! complete event as soon as shutdown starts, and the bridge exits without waiting out the
//! grace period.

use std::time::{Duration, Instant};

use demo_mcp_server::{self, DemoMcpOptions};
use futures_util::StreamExt;
use mcp_auth_bridge::{
    config::HumanDuration,
    startup::{Application, DatabaseSetup},
};
use sqlx::PgPool;

use crate::{
    app_support::{TestApp, test_config},
    gateway::Setup,
    oauth_support::{REDIRECT_URI, keycloak_tenant, public_client},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

const GRACE: Duration = Duration::from_secs(10);

#[sqlx::test]
async fn an_open_sse_stream_ends_after_a_complete_event_at_shutdown_and_the_bridge_exits_before_the_grace(
    pool: PgPool,
) {
    // 1. The bridge (grace 10 s) in front of the demo MCP server, stoppable by the test.
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let (addr, mcp) = demo_mcp_server::spawn(DemoMcpOptions {
        tick: Duration::from_millis(50),
        ..DemoMcpOptions::default()
    })
    .await
    .unwrap();
    let servers =
        format!("[[tenants.mcp_servers]]\nname = \"demo\"\nurl = \"http://{addr}/mcp\"\n");
    let mut config = test_config(&keycloak_tenant(&idp, &servers));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    config.public_url = format!("http://127.0.0.1:{port}").parse().unwrap();
    config.server.shutdown_grace = HumanDuration(GRACE);
    config.auth.cleanup_interval = HumanDuration::secs(0);
    let app = Application::build_with(config, pool.clone(), DatabaseSetup::Prepare, Some(listener))
        .await
        .unwrap();
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        pool: pool.clone(),
        http: reqwest::Client::new(),
        state,
    };
    let client_id = public_client(&pool, "acme", REDIRECT_URI).await;
    let s = Setup {
        idp,
        app,
        mcp,
        client_id,
    };

    // 2. A client holds the MCP session's GET SSE stream open and has seen an event.
    let token = s.token("demo", "mcp").await;
    let session = s.initialize("demo", &token).await;
    let stream = s
        .app
        .http
        .get(s.mcp_url("demo"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut body = stream.bytes_stream();
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&received).contains("data:") {
        let chunk = tokio::time::timeout_at(deadline, body.next()).await;
        received.extend_from_slice(&chunk.expect("an event").unwrap().unwrap());
    }

    // 3. Shutdown starts.
    let started = Instant::now();
    stop.send(()).unwrap();

    // 4. The stream ends cleanly (no error), after a complete event, well before the grace.
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.next().await {
            received.extend_from_slice(&chunk.expect("the stream ends cleanly, not cut"));
        }
    })
    .await;
    assert!(rest.is_ok(), "the stream still open after 5 s of shutdown");
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.ends_with("\n\n") || text.ends_with("\r\n\r\n"),
        "the last event is complete: {text:?}"
    );

    // 5. The server is done long before the grace period.
    let served = tokio::time::timeout(GRACE, server).await;
    let elapsed = started.elapsed();
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
    assert!(
        elapsed < Duration::from_secs(3),
        "shutdown took {elapsed:?}"
    );
}
