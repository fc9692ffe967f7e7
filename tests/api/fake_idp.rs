//! Self-tests of the fake upstream IdP: the behaviour the bridge's flow tests rely on.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Client, Response, StatusCode, header};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::support::fake_idp::{
    Counters, FakeIdp, FakeIdpOptions, IdTokenAlg, MintedTokens, ProviderMode,
};

const REDIRECT: &str = "http://127.0.0.1:9/t/acme/callback/idp";
const VERIFIER: &str = "a-perfectly-fine-pkce-verifier-of-more-than-43-chars";

fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn start(mode: ProviderMode) -> FakeIdp {
    FakeIdp::start(FakeIdpOptions::for_mode(mode)).await
}

/// Sends the browser to `/authorize` and returns the `Location` it is sent back to.
async fn authorize(idp: &FakeIdp, extra: &[(&str, &str)]) -> Url {
    let challenge = challenge(VERIFIER);
    let mut query = vec![
        ("client_id", "bridge-client"),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("state", "state-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    query.extend_from_slice(extra);
    let response = http()
        .get(idp.authorization_url())
        .query(&query)
        .send()
        .await
        .expect("authorize answers");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .expect("ascii");
    Url::parse(location).expect("absolute redirect")
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn login(idp: &FakeIdp, extra: &[(&str, &str)]) -> String {
    let back = authorize(idp, extra).await;
    param(&back, "code").expect("a code")
}

async fn token(idp: &FakeIdp, form: &[(&str, &str)]) -> Response {
    http()
        .post(idp.token_url())
        .basic_auth("bridge-client", Some("bridge-secret-test-only"))
        .header(header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .expect("token endpoint answers")
}

async fn exchange(idp: &FakeIdp, code: &str, verifier: &str) -> Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    token(idp, &form).await
}

async fn refresh(idp: &FakeIdp, refresh_token: &str) -> Response {
    token(
        idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

async fn json(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

async fn bearer_get(url: &str, token: &str) -> Response {
    http()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("answers")
}

#[tokio::test]
async fn keycloak_discovery_lists_every_endpoint() {
    let idp = start(ProviderMode::Keycloak).await;
    assert!(idp.issuer().ends_with("/realms/test"));

    let doc = json(
        http()
            .get(idp.discovery_url())
            .send()
            .await
            .expect("discovery"),
    )
    .await;

    assert_eq!(doc["issuer"], idp.issuer());
    assert_eq!(doc["authorization_endpoint"], idp.authorization_url());
    assert_eq!(doc["token_endpoint"], idp.token_url());
    assert_eq!(doc["userinfo_endpoint"], idp.userinfo_url());
    assert_eq!(doc["jwks_uri"], idp.jwks_url());
    assert_eq!(doc["revocation_endpoint"], idp.revocation_url());
    assert_eq!(doc["code_challenge_methods_supported"][0], "S256");
    assert_eq!(idp.counters().discovery, 1);
}

async fn verify_id_token(idp: &FakeIdp, id_token: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = http()
        .get(idp.jwks_url())
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("a JWK set");
    let header = jsonwebtoken::decode_header(id_token).expect("a JWT header");
    let kid = header.kid.expect("a kid");
    let jwk = jwks.find(&kid).expect("the kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("a usable JWK");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&["bridge-client"]);
    validation.set_issuer(&[idp.issuer()]);
    jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .expect("the id token verifies")
        .claims
}

#[tokio::test]
async fn the_code_flow_with_pkce_yields_tokens_and_a_verifiable_id_token() {
    let idp = start(ProviderMode::Keycloak).await;

    // 1. Authorize: auto-login, back with code, state and RFC 9207 iss.
    let back = authorize(&idp, &[("scope", "openid email"), ("nonce", "n-1")]).await;
    assert_eq!(param(&back, "state").as_deref(), Some("state-1"));
    assert_eq!(param(&back, "iss"), Some(idp.issuer()));
    let code = param(&back, "code").expect("a code");

    // 2. Exchange the code.
    let body = json(exchange(&idp, &code, VERIFIER).await).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["refresh_token"].is_string());
    let claims = verify_id_token(&idp, body["id_token"].as_str().expect("id_token")).await;
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["email"], "user1@example.test");

    // 3. Userinfo.
    let access = body["access_token"].as_str().expect("access token");
    let user = json(bearer_get(&idp.userinfo_url(), access).await).await;
    assert_eq!(user["preferred_username"], "user1");

    let expected = Counters {
        authorize: 1,
        token_authorization_code: 1,
        jwks: 1,
        userinfo: 1,
        ..Default::default()
    };
    assert_eq!(idp.counters(), expected);
}

#[tokio::test]
async fn rs256_id_tokens_verify_against_the_published_key() {
    let opts = FakeIdpOptions {
        mode: ProviderMode::Oidc,
        id_token_alg: IdTokenAlg::Rs256,
        ..Default::default()
    };
    let idp = FakeIdp::start(opts).await;
    let code = login(&idp, &[("scope", "openid")]).await;

    let body = json(exchange(&idp, &code, VERIFIER).await).await;

    let claims = verify_id_token(&idp, body["id_token"].as_str().expect("id_token")).await;
    assert_eq!(claims["aud"], "bridge-client");
}

#[tokio::test]
async fn a_wrong_verifier_and_a_replayed_code_are_invalid_grant() {
    let idp = start(ProviderMode::Keycloak).await;
    let wrong = "another-verifier-that-is-long-enough-to-be-valid-xyz";
    let code = login(&idp, &[]).await;
    let response = exchange(&idp, &code, wrong).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await["error"], "invalid_grant");

    let code = login(&idp, &[]).await;
    assert_eq!(
        exchange(&idp, &code, VERIFIER).await.status(),
        StatusCode::OK
    );
    let replay = exchange(&idp, &code, VERIFIER).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(replay).await["error"], "invalid_grant");
    assert_eq!(idp.counters().token_errors, 2);
}

#[tokio::test]
async fn rotation_invalidates_the_old_refresh_token() {
    let idp = start(ProviderMode::Keycloak).await;
    let code = login(&idp, &[]).await;
    let first = json(exchange(&idp, &code, VERIFIER).await).await;
    let old = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    let second = json(refresh(&idp, &old).await).await;
    let new = second["refresh_token"]
        .as_str()
        .expect("rotated refresh token");

    assert_ne!(new, old);
    assert_eq!(idp.current_refresh_token().as_deref(), Some(new));
    let reuse = refresh(&idp, &old).await;
    assert_eq!(reuse.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(reuse).await["error"], "invalid_grant");
    assert_eq!(idp.counters().token_refresh, 2);
}

#[tokio::test]
async fn google_refresh_responses_carry_no_refresh_token() {
    let idp = start(ProviderMode::Google).await;
    let online = login(&idp, &[("scope", "openid email")]).await;
    let online = json(exchange(&idp, &online, VERIFIER).await).await;
    assert!(online.get("refresh_token").is_none());

    let offline = [
        ("scope", "openid email"),
        ("access_type", "offline"),
        ("prompt", "consent"),
    ];
    let code = login(&idp, &offline).await;
    let body = json(exchange(&idp, &code, VERIFIER).await).await;
    let refresh_token = body["refresh_token"]
        .as_str()
        .expect("offline refresh token");

    let refreshed = json(refresh(&idp, refresh_token).await).await;
    assert!(refreshed["access_token"].is_string());
    assert!(refreshed.get("refresh_token").is_none());
    assert_eq!(refresh(&idp, refresh_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn github_errors_arrive_with_status_200() {
    let idp = start(ProviderMode::Github { app: false }).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "nope"),
        ("redirect_uri", REDIRECT),
    ];
    let as_form = http()
        .post(idp.token_url())
        .form(
            &[
                form.as_slice(),
                &[
                    ("client_id", "bridge-client"),
                    ("client_secret", "bridge-secret-test-only"),
                ],
            ]
            .concat(),
        )
        .send()
        .await
        .expect("answers");
    assert_eq!(as_form.status(), StatusCode::OK);
    assert!(
        as_form
            .text()
            .await
            .expect("body")
            .contains("error=bad_verification_code")
    );

    let as_json = json(token(&idp, &form).await).await;
    assert_eq!(as_json["error"], "bad_verification_code");
}

#[tokio::test]
async fn a_github_oauth_app_token_never_expires_and_has_no_refresh_token() {
    let idp = start(ProviderMode::Github { app: false }).await;
    let code = login(&idp, &[("scope", "read:user user:email")]).await;

    let body = json(exchange(&idp, &code, VERIFIER).await).await;

    assert!(body.get("expires_in").is_none() && body.get("refresh_token").is_none());
    assert_eq!(body["scope"], "read:user,user:email");
    let user = json(
        bearer_get(
            &idp.userinfo_url(),
            body["access_token"].as_str().expect("at"),
        )
        .await,
    )
    .await;
    assert_eq!(user["id"], idp.github_user_id());
    assert_eq!(user["login"], "user1");
}

#[tokio::test]
async fn userinfo_answers_401_after_expire_all_access_tokens() {
    let idp = start(ProviderMode::Keycloak).await;
    let MintedTokens { access_token, .. } = idp.mint_tokens("openid", true);
    assert_eq!(
        bearer_get(&idp.userinfo_url(), &access_token)
            .await
            .status(),
        StatusCode::OK
    );

    idp.expire_all_access_tokens();

    let response = bearer_get(&idp.userinfo_url(), &access_token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .expect("ascii");
    assert_eq!(challenge, "Bearer error=\"invalid_token\"");
    assert_eq!(
        bearer_get(&idp.api_url(), &access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn one_injected_failure_fails_exactly_once() {
    let idp = start(ProviderMode::Keycloak).await;
    let MintedTokens { refresh_token, .. } = idp.mint_tokens("openid", true);
    let refresh_token = refresh_token.expect("a refresh token");
    idp.fail_next_token_requests(1, 500);

    let failed = refresh(&idp, &refresh_token).await;
    let succeeded = refresh(&idp, &refresh_token).await;

    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(succeeded.status(), StatusCode::OK);
    let counters = idp.counters();
    assert_eq!((counters.token_refresh, counters.token_errors), (2, 1));
}

#[tokio::test]
async fn throttling_says_when_to_retry_and_heal_ends_it() {
    let idp = start(ProviderMode::Keycloak).await;
    idp.fail_token_requests_forever(429);
    for _ in 0..2 {
        let response = refresh(&idp, "whatever").await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
    idp.heal();
    assert_eq!(
        refresh(&idp, "whatever").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_denied_login_returns_access_denied_and_bad_requests_get_a_page() {
    let idp = start(ProviderMode::Oidc).await;
    idp.deny_next_login();
    let back = authorize(&idp, &[]).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back, "state").as_deref(), Some("state-1"));

    let no_pkce = [
        ("client_id", "bridge-client"),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("state", "s"),
    ];
    let page = http()
        .get(idp.authorization_url())
        .query(&no_pkce)
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let stranger = [
        ("client_id", "who"),
        ("redirect_uri", "https://evil.example/cb"),
    ];
    let page = http()
        .get(idp.authorization_url())
        .query(&stranger)
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.headers().get(header::LOCATION).is_none());
}

#[tokio::test]
async fn hostile_token_requests_get_json_errors() {
    let idp = start(ProviderMode::Keycloak).await;
    let garbage = http()
        .post(idp.token_url())
        .header(header::CONTENT_TYPE, "application/json")
        .body("{not a form")
        .send()
        .await
        .expect("answers");
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(garbage).await["error"], "invalid_request");

    let wrong_secret = http()
        .post(idp.token_url())
        .basic_auth("bridge-client", Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .expect("answers");
    assert_eq!(wrong_secret.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(wrong_secret).await["error"], "invalid_client");
}

#[tokio::test]
async fn atlassian_needs_the_audience_and_serves_me_and_accessible_resources() {
    let idp = start(ProviderMode::Atlassian).await;
    let scope = ("scope", "read:jira-work offline_access");
    let code = login(&idp, &[scope, ("audience", "api.atlassian.com")]).await;
    let body = json(exchange(&idp, &code, VERIFIER).await).await;
    let access = body["access_token"].as_str().expect("access token");
    assert!(body["refresh_token"].is_string());

    let me = json(bearer_get(&idp.userinfo_url(), access).await).await;
    let sites = json(bearer_get(&idp.accessible_resources_url(), access).await).await;

    assert_eq!(me["account_id"], "user-1");
    assert_eq!(me["nickname"], "user1");
    assert!(sites[0]["id"].is_string());
    assert_eq!(sites[0]["scopes"][0], "read:jira-work");
}

#[tokio::test]
async fn salesforce_returns_instance_url_and_id_without_expires_in() {
    let idp = start(ProviderMode::Salesforce).await;
    let code = login(&idp, &[("scope", "api refresh_token")]).await;

    let body = json(exchange(&idp, &code, VERIFIER).await).await;

    assert!(body.get("expires_in").is_none());
    assert_eq!(body["instance_url"], idp.base_url());
    assert_eq!(body["id"], idp.identity_url());
    let access = body["access_token"].as_str().expect("access token");
    let userinfo = format!(
        "{}/services/oauth2/userinfo",
        body["instance_url"].as_str().expect("url")
    );
    assert_eq!(
        json(bearer_get(&userinfo, access).await).await["user_id"],
        "user-1"
    );
    assert_eq!(
        bearer_get(&idp.identity_url(), access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_grant() {
    let idp = start(ProviderMode::Keycloak).await;
    let MintedTokens {
        access_token,
        refresh_token,
    } = idp.mint_tokens("openid", true);
    let refresh_token = refresh_token.expect("a refresh token");

    let response = http()
        .post(idp.revocation_url())
        .basic_auth("bridge-client", Some("bridge-secret-test-only"))
        .form(&[("token", refresh_token.as_str())])
        .send()
        .await
        .expect("answers");

    assert_eq!(response.status(), StatusCode::OK);
    assert!(!idp.is_refresh_token_valid(&refresh_token));
    assert!(!idp.is_access_token_valid(&access_token));
    assert_eq!(
        refresh(&idp, &refresh_token).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(idp.counters().revoke, 1);
}

#[tokio::test]
async fn reuse_detection_revokes_the_whole_grant() {
    let idp = start(ProviderMode::Keycloak).await;
    idp.set_refresh_reuse_detection(true);
    let MintedTokens { refresh_token, .. } = idp.mint_tokens("openid", true);
    let old = refresh_token.expect("a refresh token");
    let rotated = json(refresh(&idp, &old).await).await;
    let new = rotated["refresh_token"].as_str().expect("rotated");

    assert_eq!(refresh(&idp, &old).await.status(), StatusCode::BAD_REQUEST);

    assert!(!idp.is_refresh_token_valid(new));
    assert_eq!(idp.current_refresh_token(), None);
}

#[tokio::test]
async fn a_zero_ttl_token_is_expired_at_once() {
    let idp = start(ProviderMode::Oidc).await;
    idp.set_access_token_ttl(Some(std::time::Duration::ZERO));
    let MintedTokens { access_token, .. } = idp.mint_tokens("openid", false);

    let response = bearer_get(&idp.api_url(), &access_token).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    idp.set_access_token_ttl(None);
    let MintedTokens { access_token, .. } = idp.mint_tokens("openid", false);
    let body = json(bearer_get(&idp.api_url(), &access_token).await).await;
    assert_eq!(body["sub"], "user-1");
    assert_eq!(idp.counters().api, 2);
}

#[tokio::test]
async fn a_github_app_token_expires_in_8_hours_and_rotates() {
    let idp = start(ProviderMode::Github { app: true }).await;
    idp.set_github_public_email(false);
    let code = login(&idp, &[]).await;

    let body = json(exchange(&idp, &code, VERIFIER).await).await;
    assert_eq!(body["expires_in"], 28800);
    assert_eq!(body["refresh_token_expires_in"], 15_897_600);
    let old = body["refresh_token"].as_str().expect("refresh token");
    let rotated = json(refresh(&idp, old).await).await;
    assert_ne!(rotated["refresh_token"].as_str(), Some(old));
    let reuse = json(refresh(&idp, old).await).await;
    assert_eq!(reuse["error"], "bad_refresh_token");

    let access = rotated["access_token"].as_str().expect("access token");
    let user = json(bearer_get(&idp.userinfo_url(), access).await).await;
    assert!(user["email"].is_null());
    let emails = json(bearer_get(&idp.emails_url(), access).await).await;
    assert_eq!(emails[0]["email"], "user1@example.test");
    assert_eq!(emails[0]["primary"], true);
}
