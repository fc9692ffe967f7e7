//! Postgres stops (connections refused and reset) or is black-holed (connections accepted,
//! nothing answered) under a running bridge: every surface answers 503 with `Retry-After` in its
//! own shape, naming the database and never the identity provider, never 500, within a bounded
//! time; service resumes when the database is back; a warm gateway token keeps working from the
//! caches while their TTLs allow.
//!
//! The bridge runs in-process on a pool that reaches the test's own `#[sqlx::test]` database
//! through a `FaultProxy`.

use std::time::{Duration, Instant};

use mcp_auth_bridge::{config::HumanDuration, domain::Secret, store};
use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    admin::{ROOT, admin_tokens},
    app_support::{spawn_app, test_config},
    gateway::Setup,
    oauth_support::{Flow, REDIRECT_URI, keycloak_tenant, public_client, query_param},
    support::{
        bridge_process::database_url_for,
        fake_idp::{FakeIdp, FakeIdpOptions},
        fault_proxy::{Fault, FaultProxy},
    },
};

/// The bridge's `database.acquire_timeout` in these tests: a black-holed database is given up on
/// after this long.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest any answer may take during an outage.
const BOUND: Duration = Duration::from_secs(4);

struct Outage {
    s: Setup,
    proxy: FaultProxy,
}

/// The gateway setup of `crate::gateway::setup` (tenant `acme`, MCP server `demo`), with admin
/// tokens, on a pool that goes through a fault proxy.
async fn outage_setup(pool: &PgPool) -> Outage {
    let proxy = FaultProxy::in_front_of_postgres().await;
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    let (addr, mcp) = demo_mcp_server::spawn(Default::default()).await.unwrap();
    let servers = format!(
        "[[tenants.mcp_servers]]\nname = \"demo\"\nurl = \"http://{addr}/mcp\"\n\
         [[tenants.mcp_servers]]\nname = \"other\"\nurl = \"http://{addr}/mcp\"\n"
    );
    let mut config = test_config(&format!(
        "{}{}",
        admin_tokens(),
        keycloak_tenant(&idp, &servers)
    ));
    config.database.url = Secret::new(database_url_for(&database, Some(proxy.port())));
    config.database.acquire_timeout = HumanDuration::secs(ACQUIRE_TIMEOUT.as_secs());
    let proxied = store::pool::connect_lazy(&config.database).expect("pool");
    let app = spawn_app(proxied, config).await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    Outage {
        s: Setup {
            idp,
            app,
            mcp,
            client_id,
        },
        proxy,
    }
}

/// A token response for `demo` through the real flow: access and refresh token.
async fn tokens(s: &Setup) -> Value {
    let flow = Flow::new(&s.app, "acme", &s.client_id);
    let code = code(&flow, s).await;
    let response = flow.redeem(&code).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn code(flow: &Flow<'_>, s: &Setup) -> String {
    let resource = s.mcp_url("demo");
    let redirect = flow
        .run_to_client(&[("resource", &resource), ("scope", "mcp")])
        .await;
    query_param(&redirect, "code").expect("code")
}

fn rpc(id: i64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
}

/// A response of the outage: 503, `Retry-After`, a body naming the database and not the IdP.
async fn assert_unavailable(what: &str, started: Instant, response: Response) -> Value {
    let took = started.elapsed();
    let status = response.status();
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {text}");
    assert!(retry_after.is_some(), "{what}: Retry-After");
    assert!(took < BOUND, "{what} took {took:?}");
    assert!(
        text.contains("database"),
        "{what} names the database: {text}"
    );
    assert!(
        !text.contains("identity provider"),
        "{what} does not blame the IdP: {text}"
    );
    if content_type.contains("json") {
        serde_json::from_str(&text).unwrap()
    } else {
        Value::String(text)
    }
}

/// Every surface during the outage `fault`, then recovery.
async fn every_surface_answers_503_then_recovers(pool: PgPool, fault: Fault) {
    // Arrange: a token used once (caches warm), a refresh token, an unredeemed code.
    let o = outage_setup(&pool).await;
    let s = &o.s;
    let issued = tokens(s).await;
    let access = issued["access_token"].as_str().unwrap().to_owned();
    let refresh = issued["refresh_token"].as_str().unwrap().to_owned();
    let pending = Flow::new(&s.app, "acme", &s.client_id);
    let pending_code = code(&pending, s).await;
    s.initialize("demo", &access).await;

    // Act: the database goes away; the token-state cache (1 s) runs out.
    o.proxy.set(fault);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // 1. The gateway: a JSON-RPC error for the request's id, no re-authorization challenge.
    let t = Instant::now();
    let r = s.post("demo", &access, None, rpc(42)).send().await.unwrap();
    assert!(!r.headers().contains_key(header::WWW_AUTHENTICATE));
    let body = assert_unavailable("gateway call", t, r).await;
    assert_eq!(body["id"], 42, "{body}");
    assert_eq!(body["error"]["data"]["status"], 503, "{body}");
    // A server whose target is not cached yet (tenant lookup).
    let t = Instant::now();
    let r = s.post("other", &access, None, rpc(7)).send().await.unwrap();
    let body = assert_unavailable("gateway call, cold target", t, r).await;
    assert_eq!(body["id"], 7, "{body}");

    // 2. /token, both grants: OAuth `temporarily_unavailable`.
    let t = Instant::now();
    let body = assert_unavailable("token (authorization_code)", t, {
        pending.redeem(&pending_code).await
    })
    .await;
    assert_eq!(body["error"], "temporarily_unavailable");
    let t = Instant::now();
    let body =
        assert_unavailable("token (refresh_token)", t, pending.refresh(&refresh).await).await;
    assert_eq!(body["error"], "temporarily_unavailable");

    // 3. /register.
    let t = Instant::now();
    let r = s
        .app
        .http
        .post(s.app.url("/t/acme/register"))
        .json(&json!({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    let body = assert_unavailable("register", t, r).await;
    assert_eq!(body["error"], "temporarily_unavailable");

    // 4. /authorize: an error page, 503.
    let t = Instant::now();
    let r = s
        .app
        .http
        .get(pending.authorize_url(&[]))
        .send()
        .await
        .unwrap();
    assert_unavailable("authorize", t, r).await;

    // 5. Admin: problem+json.
    let t = Instant::now();
    let r = s
        .app
        .http
        .get(s.app.url("/admin/v1/tenants"))
        .bearer_auth(ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let body = assert_unavailable("admin", t, r).await;
    assert_eq!(body["status"], 503);

    // 6. What the operator sees: a counter by surface (metrics need no database).
    let metrics = s
        .app
        .http
        .get(s.app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for surface in ["gateway", "oauth", "page", "admin"] {
        let series = format!("database_unavailable_total{{surface=\"{surface}\"}}");
        assert!(metrics.contains(&series), "{series} in {metrics}");
    }

    // Assert: the database comes back, and so does service, with the same tokens.
    o.proxy.set(Fault::Pass);
    let back = Instant::now();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    while back.elapsed() < Duration::from_secs(10) {
        let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
        status = s
            .post("demo", &access, None, initialize)
            .send()
            .await
            .unwrap()
            .status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK, "service resumed");
    println!(
        "{fault:?}: service resumed {:?} after the database came back",
        back.elapsed()
    );
    assert_eq!(
        pending.refresh(&refresh).await.status(),
        200,
        "refresh works"
    );
    assert_eq!(
        pending.redeem(&pending_code).await.status(),
        200,
        "the code was not consumed by the failed attempt"
    );
}

#[sqlx::test]
async fn a_stopped_database_gives_503_with_retry_after_on_every_surface_never_500(pool: PgPool) {
    every_surface_answers_503_then_recovers(pool, Fault::Refuse).await;
}

#[sqlx::test]
async fn a_black_holed_database_gives_503_within_the_acquire_timeout_never_a_hang(pool: PgPool) {
    every_surface_answers_503_then_recovers(pool, Fault::BlackHole).await;
}

#[sqlx::test]
async fn a_warm_gateway_token_keeps_working_from_cache_when_the_database_connection_drops(
    pool: PgPool,
) {
    // Arrange: a token used once through the gateway (target, claims, token state, user
    // context and identity headers cached).
    let o = outage_setup(&pool).await;
    let s = &o.s;
    let access = tokens(s).await["access_token"].as_str().unwrap().to_owned();
    let session = s.initialize("demo", &access).await;
    let used = Instant::now();

    // Act: the database stops; every connection, the cache listener's included, is reset.
    o.proxy.set(Fault::Refuse);
    // Give the listener time to notice its connection is gone (it used to flush every cache).
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = s
        .post("demo", &access, Some(&session), rpc(2))
        .send()
        .await
        .unwrap();

    // Assert: within the token state's 1 s TTL the request is served from cache.
    assert!(
        used.elapsed() < Duration::from_millis(900),
        "still in the TTL"
    );
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    // After it, the token state must be read again: 503, not 500, not 401.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let t = Instant::now();
    let r = s
        .post("demo", &access, Some(&session), rpc(3))
        .send()
        .await
        .unwrap();
    assert_unavailable("gateway after the TTL", t, r).await;
}

#[sqlx::test]
async fn two_hundred_requests_during_an_outage_get_no_500(pool: PgPool) {
    let o = outage_setup(&pool).await;
    let s = &o.s;
    let issued = tokens(s).await;
    let access = issued["access_token"].as_str().unwrap().to_owned();
    let refresh = issued["refresh_token"].as_str().unwrap().to_owned();
    let flow = Flow::new(&s.app, "acme", &s.client_id);

    // Act: 200 requests, 20 at a time, the first half while the database refuses, the second
    // half while it is black-holed; gateway calls and refreshes mixed.
    let mut statuses = Vec::new();
    let started = Instant::now();
    for (round, fault) in [(0, Fault::Refuse), (5, Fault::BlackHole)]
        .into_iter()
        .flat_map(|(first, fault)| (first..first + 5).map(move |r| (r, fault)))
    {
        o.proxy.set(fault);
        let batch = (0..20).map(|i| {
            let (access, refresh, flow) = (&access, &refresh, &flow);
            async move {
                if i % 4 == 0 {
                    flow.refresh(refresh).await.status()
                } else {
                    s.post("demo", access, None, rpc(round * 100 + i))
                        .send()
                        .await
                        .unwrap()
                        .status()
                }
            }
        });
        statuses.extend(futures_util::future::join_all(batch).await);
    }
    let took = started.elapsed();

    // Assert: not one 500; everything that failed said 503.
    let count = |wanted: u16| statuses.iter().filter(|s| s.as_u16() == wanted).count();
    println!(
        "200 requests in {took:?}: {} × 503, {} × 200, {} × 500",
        count(503),
        count(200),
        count(500)
    );
    assert_eq!(statuses.len(), 200);
    assert_eq!(count(500), 0, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| s.as_u16() == 503 || s.as_u16() == 200),
        "{statuses:?}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[sqlx::test]
async fn a_user_context_load_during_an_outage_answers_503_naming_the_database_not_a_502(
    pool: PgPool,
) {
    // Arrange: a token used once (target and token state cached), then the user contexts
    // dropped, as after their TTL on a fresh replica: the next request must load the grant.
    let o = outage_setup(&pool).await;
    let s = &o.s;
    let access = tokens(s).await["access_token"].as_str().unwrap().to_owned();
    let session = s.initialize("demo", &access).await;
    let used = Instant::now();
    s.app.state.gateway.users.forget_all();

    // Act: the database stops while the token state is still cached (1 s).
    o.proxy.set(Fault::Refuse);
    let t = Instant::now();
    let r = s
        .post("demo", &access, Some(&session), rpc(4))
        .send()
        .await
        .unwrap();

    // Assert: the grant could not be read: 503 naming the database (it used to be a 502 "the
    // identity provider answered unexpectedly"), with the request's JSON-RPC id.
    assert!(
        used.elapsed() < Duration::from_millis(900),
        "the token state was still cached"
    );
    let body = assert_unavailable("user-context load", t, r).await;
    assert_eq!(body["id"], 4, "{body}");
}
