//! Header and query hygiene at the gateway, as a real HTTP server on loopback receives them
//! (security property: no identity spoofing, no trusting an untrusted peer's forwarding
//! headers, no token passthrough), and the connect-time SSRF guard for admin-API MCP servers.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    extract::{Request, State},
    response::Response,
    routing::any,
};
use mcp_auth_bridge::{
    gateway::{AdminConfigured, Proxy},
    net_guard::{Cidr, UpstreamGuard},
};
use serde_json::{Value, json};

use super::support::{config, identity};

/// Answers every request with what it received: the raw query and every header (repeated
/// headers joined with `" | "`).
async fn spawn_echo() -> SocketAddr {
    async fn echo(request: Request) -> Json<Value> {
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in request.headers() {
            headers
                .entry(name.as_str().to_owned())
                .or_default()
                .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
        let headers: BTreeMap<String, String> = headers
            .into_iter()
            .map(|(k, v)| (k, v.join(" | ")))
            .collect();
        Json(json!({ "query": request.uri().query(), "headers": headers }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, Router::new().fallback(any(echo))).await });
    addr
}

struct Gateway {
    proxy: Proxy,
    upstream: url::Url,
    admin_configured: bool,
}

/// A gateway in front of `upstream` with the given network policy.
async fn spawn_gateway(
    upstream: url::Url,
    trusted: &[Cidr],
    guard: UpstreamGuard,
    admin_configured: bool,
) -> String {
    async fn forward(State(g): State<Arc<Gateway>>, mut request: Request) -> Response {
        if g.admin_configured {
            request.extensions_mut().insert(AdminConfigured);
        }
        g.proxy
            .forward(request, &g.upstream, "", &identity().headers())
            .await
    }
    let gateway = Arc::new(Gateway {
        proxy: Proxy::new(&config()).with_network(&config(), trusted, guard),
        upstream,
        admin_configured,
    });
    let app = Router::new().fallback(any(forward)).with_state(gateway);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    format!("http://{addr}/mcp")
}

async fn echoed(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("sent");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

async fn untrusted_gateway() -> String {
    let echo = spawn_echo().await;
    let upstream = url::Url::parse(&format!("http://{echo}/mcp")).unwrap();
    spawn_gateway(upstream, &[], UpstreamGuard::default(), false).await
}

#[tokio::test]
async fn underscore_and_other_proxies_identity_headers_cannot_spoof_the_user() {
    // Arrange
    let gateway = untrusted_gateway().await;

    // Act: what a WSGI backend would read as HTTP_X_AUTH_SUBJECT = "admin,user-42", and the
    // identity headers of oauth2-proxy, Apache and nginx.
    let seen = echoed(
        reqwest::Client::new()
            .post(&gateway)
            .header("X_Auth_Subject", "admin")
            .header("x_auth_email", "root@example.com")
            .header("X-Forwarded-User", "admin")
            .header("X-Forwarded-Email", "root@example.com")
            .header("X-Forwarded-Preferred-Username", "admin")
            .header("X-Forwarded-Groups", "admins")
            .header("X-Forwarded-Access-Token", "stolen")
            .header("Remote-User", "admin")
            .header("X-Remote-User", "admin")
            .header("X-User", "admin")
            .header("X-User-Id", "0")
            .header("Some_Other_Header", "x")
            .header("mcp-session-id", "s1")
            .body("{}"),
    )
    .await;

    // Assert
    let headers = seen["headers"].as_object().unwrap();
    assert_eq!(headers["x-auth-subject"], "user-42");
    assert_eq!(headers["x-auth-email"], "ada@example.com");
    assert_eq!(headers["mcp-session-id"], "s1");
    for name in headers.keys() {
        assert!(!name.contains('_'), "{name} reached the MCP server");
        let forwarding = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"];
        assert!(
            !name.starts_with("x-forwarded-") || forwarding.contains(&name.as_str()),
            "{name} reached the MCP server"
        );
        assert!(
            !["remote-user", "x-remote-user"].contains(&name.as_str())
                && !name.starts_with("x-user"),
            "{name} reached the MCP server"
        );
    }
}

#[tokio::test]
async fn an_untrusted_clients_forwarding_headers_are_replaced_by_what_the_bridge_saw() {
    // Arrange
    let gateway = untrusted_gateway().await;

    // Act: a direct client pretends to be behind a proxy, over https, for another host.
    let seen = echoed(
        reqwest::Client::new()
            .post(&gateway)
            .header("X-Forwarded-For", "203.0.113.7")
            .header("X-Forwarded-Host", "admin.internal")
            .header("X-Forwarded-Proto", "https")
            .header("Forwarded", "for=203.0.113.7;proto=https")
            .header("X-Real-IP", "203.0.113.7")
            .body("{}"),
    )
    .await;

    // Assert
    let headers = &seen["headers"];
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    let host = gateway
        .trim_start_matches("http://")
        .trim_end_matches("/mcp");
    assert_eq!(headers["x-forwarded-host"], host);
    assert!(headers.get("forwarded").is_none(), "{headers}");
    assert!(headers.get("x-real-ip").is_none(), "{headers}");
}

#[tokio::test]
async fn a_trusted_proxys_forwarding_headers_are_kept() {
    // Arrange: the test client (127.0.0.1) is the trusted proxy.
    let echo = spawn_echo().await;
    let upstream = url::Url::parse(&format!("http://{echo}/mcp")).unwrap();
    let trusted = ["127.0.0.0/8".parse::<Cidr>().unwrap()];
    let gateway = spawn_gateway(upstream, &trusted, UpstreamGuard::default(), false).await;

    // Act
    let seen = echoed(
        reqwest::Client::new()
            .post(&gateway)
            .header("X-Forwarded-For", "203.0.113.7")
            .header("X-Forwarded-Host", "mcp.example.com")
            .header("X-Forwarded-Proto", "https")
            .header("X-Real-IP", "203.0.113.7")
            .body("{}"),
    )
    .await;

    // Assert
    let headers = &seen["headers"];
    assert_eq!(headers["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "https");
    assert_eq!(headers["x-forwarded-host"], "mcp.example.com");
    assert_eq!(headers["x-real-ip"], "203.0.113.7");
}

#[tokio::test]
async fn an_access_token_in_the_query_never_reaches_the_mcp_server() {
    // Arrange
    let gateway = untrusted_gateway().await;

    // Act
    let seen = echoed(
        reqwest::Client::new()
            .get(format!(
                "{gateway}?a=1&access_token=the-bridges-token&access%5Ftoken=again&b=2"
            ))
            .header("accept", "text/event-stream"),
    )
    .await;

    // Assert
    assert_eq!(seen["query"], "a=1&b=2");
    assert!(!seen.to_string().contains("the-bridges-token"));
}

#[tokio::test]
async fn an_admin_configured_name_that_resolves_to_loopback_is_not_connected_to() {
    // Arrange: `localhost` passed no write-time check (a rebinding name looks public when it is
    // written); the resolver is the last line.
    let echo = spawn_echo().await;
    let upstream = url::Url::parse(&format!("http://localhost:{}/mcp", echo.port())).unwrap();
    let strict = spawn_gateway(upstream.clone(), &[], UpstreamGuard::default(), true).await;
    let allowed = UpstreamGuard::new(&["localhost".into()]);
    let operator = spawn_gateway(upstream.clone(), &[], allowed, true).await;
    let from_config = spawn_gateway(upstream, &[], UpstreamGuard::default(), false).await;
    let http = reqwest::Client::new();

    // Act
    let refused = http.post(&strict).body("{}").send().await.unwrap();
    let allow_listed = http.post(&operator).body("{}").send().await.unwrap();
    let config_file = http.post(&from_config).body("{}").send().await.unwrap();

    // Assert
    assert_eq!(refused.status(), 502);
    assert_eq!(allow_listed.status(), 200);
    assert_eq!(config_file.status(), 200);
}
