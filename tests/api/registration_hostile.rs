//! Hostile input at `POST /t/{tenant}/register`: every bad request gets a 4xx in the OAuth
//! error shape, fast, and never a 500 or a panic.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::registration::{GENEROUS, app, app_with_body_limit, register};

#[sqlx::test]
async fn tricky_redirect_uris_are_refused_by_index_without_being_echoed(pool: PgPool) {
    let app = app(pool, GENEROUS).await;
    let long = format!("https://a.example/{}", "a".repeat(3000));
    for uri in [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://evil.example/cb",
        "https://a.example/cb#frag",
        "https://*.example/cb",
        "http://127.0.0.1.evil.example/",
        "https://a.example\\@evil.example/cb",
        "https://a.example/c b",
        " https://a.example/cb",
        "https://a.example/cb\n",
        "https://аpple.example/cb",
        "https://a.example/cb\u{202e}",
        "https://user:pw@a.example/cb",
        "relative/cb",
        "",
        long.as_str(),
    ] {
        let body = json!({"redirect_uris": ["https://ok.example/cb", uri]});
        let (status, body) = register(&app, "acme", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body["error"], "invalid_redirect_uri", "{uri}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with("redirect_uris[1]"), "{description}");
        assert!(description.len() < 200, "{description}");
    }
}

#[sqlx::test]
async fn odd_but_harmless_uris_never_cause_a_server_error(pool: PgPool) {
    let app = app(pool, GENEROUS).await;
    for uri in [
        "HTTPS://A.EXAMPLE/cb",
        "https:/a.example/cb",
        "HtTpS://a.example:8443/cb",
    ] {
        let (status, body) = register(&app, "acme", &json!({"redirect_uris": [uri]})).await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::BAD_REQUEST,
            "{uri}"
        );
        if status == StatusCode::CREATED {
            assert_eq!(
                body["redirect_uris"],
                json!([uri]),
                "stored exactly as sent"
            );
        }
    }
}

#[sqlx::test]
async fn malformed_and_mistyped_bodies_are_400s(pool: PgPool) {
    let app = app(pool, GENEROUS).await;
    let post = |body: &'static str, content_type: &'static str| {
        app.http
            .post(app.url("/t/acme/register"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, content_type, error) in [
        (
            "{\"redirect_uris\": [",
            "application/json",
            "invalid_request",
        ),
        ("not json", "application/json", "invalid_request"),
        (
            "{\"redirect_uris\": [\"https://a.example/cb\"]}",
            "text/plain",
            "invalid_request",
        ),
        (
            "{\"redirect_uris\": [\"https://a.example/cb\"]}",
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        ("[]", "application/json", "invalid_client_metadata"),
        ("null", "application/json", "invalid_client_metadata"),
        ("{}", "application/json", "invalid_client_metadata"),
        (
            "{\"redirect_uris\": \"x\"}",
            "application/json",
            "invalid_client_metadata",
        ),
        (
            "{\"redirect_uris\": [1, 2]}",
            "application/json",
            "invalid_client_metadata",
        ),
        (
            "{\"redirect_uris\": []}",
            "application/json",
            "invalid_client_metadata",
        ),
        (
            "{\"redirect_uris\": [\"https://a.example/cb\"], \"client_name\": {}}",
            "application/json",
            "invalid_client_metadata",
        ),
        (
            "{\"redirect_uris\": [\"https://a.example/cb\"], \"grant_types\": \"authorization_code\"}",
            "application/json",
            "invalid_client_metadata",
        ),
        (
            "{\"redirect_uris\": [\"https://a.example/cb\"], \"token_endpoint_auth_method\": \"private_key_jwt\"}",
            "application/json",
            "invalid_client_metadata",
        ),
        (
            "{\"redirect_uris\": [\"https://a.example/cb\"], \"scope\": \"mcp admin\"}",
            "application/json",
            "invalid_client_metadata",
        ),
        (
            "{\"redirect_uris\": [\"https://a.example/cb\"], \"logo_uri\": \"javascript:x\"}",
            "application/json",
            "invalid_client_metadata",
        ),
    ] {
        let response = post(body, content_type).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{body} as {content_type}"
        );
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error"], error, "{body}");
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let response = app
        .http
        .post(app.url("/t/acme/register"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "deep nesting");
}

#[sqlx::test]
async fn an_oversized_body_is_refused_with_413_declared_or_streamed(pool: PgPool) {
    let app = app_with_body_limit(pool, GENEROUS, Some(4096)).await;
    let big = json!({"redirect_uris": ["https://a.example/cb"], "client_name": "x".repeat(8000)});

    let declared = app.post_register("acme", &big).await;
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Chunked, without Content-Length: refused while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|_| Ok(vec![b' '; 1024])).collect();
    let streamed = app
        .http
        .post(app.url("/t/acme/register"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = streamed.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[sqlx::test]
async fn ten_thousand_redirect_uris_are_refused_quickly(pool: PgPool) {
    let app = app_with_body_limit(pool, GENEROUS, Some(1048576)).await;
    let uris: Vec<String> = (0..10_000)
        .map(|i| format!("https://a.example/{i}"))
        .collect();
    let started = Instant::now();

    let (status, body) = register(&app, "acme", &json!({"redirect_uris": uris})).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_client_metadata");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[sqlx::test]
async fn a_redirect_uri_registered_in_a_form_other_than_its_parse_is_refused(pool: PgPool) {
    // Stored as given but followed as parsed, these would send the browser somewhere other
    // than what was registered and shown.
    let app = app(pool, GENEROUS).await;
    for uri in [
        "https:///cb",
        "HTTPS://App.Example.com/cb",
        "https://app.example.com:443/cb",
        "https://app.example.com/a/../cb",
        "https://app.example.com",
        "http://LOCALHOST:3000/cb",
    ] {
        let body = json!({"redirect_uris": [uri]});
        let (status, body) = register(&app, "acme", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body["error"], "invalid_redirect_uri", "{uri}");
    }
    let (status, _) = register(
        &app,
        "acme",
        &json!({"redirect_uris": ["https://app.example.com/cb"]}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the canonical form is accepted"
    );
}

#[sqlx::test]
async fn a_client_name_with_invisible_bidi_or_stacked_mark_characters_is_refused(pool: PgPool) {
    let app = app(pool, GENEROUS).await;
    for name in [
        "Claude\u{061C}Desktop",
        "Claude\u{200B}Desktop",
        "Cla\u{200D}ude",
        "\u{202E}edualC",
        "Claude\u{2066}x\u{2069}",
        "Claude\u{E0041}\u{E007F}",
        "\u{3164}",
        "Claude \u{3164}",
        "\u{115F}\u{1160}Claude",
        "Claude\u{FFA0}",
        "Claude\u{FE0F}",
        "C\u{0336}\u{0334}\u{0335}laude",
    ] {
        let body = json!({"redirect_uris": ["https://ok.example/cb"], "client_name": name});
        let (status, body) = register(&app, "acme", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(body["error"], "invalid_client_metadata", "{name:?}");
    }
    let (status, _) = register(
        &app,
        "acme",
        &json!({"redirect_uris": ["https://ok.example/cb"], "client_name": "Vie\u{323}\u{302}t Cl\u{00E9}ment"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "ordinary accents pass");
}
