//! The built-in `dev` upstream IdP (in the spirit of Dex's mock connector), for local trials
//! only: refused unless `dev_mode = true`. It logs in the provider's configured demo user after
//! one click and issues short-lived upstream tokens with refresh. Its codes and tokens are
//! HMAC-signed, self-contained values, so it keeps no state and works on every replica.
//! It goes through the same upstream code path (authorize redirect, code exchange with PKCE,
//! userinfo, refresh) as a real provider.

use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::{FromRef, Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    crypto::hash::constant_time_eq,
    domain::{ProviderKind, UpstreamProvider, pkce},
    oauth::params::Params,
    pages::{self, escape},
    services::Services,
    urls::route,
};

/// Access tokens of the dev IdP live five minutes, so refresh is exercised in a short trial.
const ACCESS_TTL: i64 = 300;
const REFRESH_TTL: i64 = 7 * 86_400;

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Services: FromRef<S>,
{
    Router::new()
        .route(route::DEV_IDP_AUTHORIZE, get(login_page).post(login))
        .route(route::DEV_IDP_TOKEN, axum::routing::post(token))
        .route(route::DEV_IDP_USERINFO, get(userinfo))
}

/// What a signed value of this provider is; one kind is never accepted as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TokenUse {
    Code,
    Access,
    Refresh,
}

/// What the provider's codes and tokens carry. The names on the wire stay as short as they
/// always were, so a value issued before these fields had names still opens.
#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(rename = "k")]
    token_use: TokenUse,
    sub: String,
    exp: i64,
    /// The bridge's PKCE challenge (codes only).
    #[serde(rename = "ch", default, skip_serializing_if = "Option::is_none")]
    code_challenge: Option<String>,
    /// The redirect URI the code was issued for (codes only).
    #[serde(rename = "ru", default, skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<String>,
    /// Random, so two values issued in the same second differ.
    #[serde(rename = "n", default)]
    nonce: String,
}

struct Ctx {
    provider: UpstreamProvider,
    key: [u8; 32],
    tenant: String,
}

fn refused(status: StatusCode, m: &str) -> Response {
    (
        status,
        Json(json!({"error": "invalid_request", "error_description": m})),
    )
        .into_response()
}

async fn ctx(state: &Services, tenant_raw: &str, provider: &str) -> Result<Ctx, Response> {
    if !state.config.dev_mode {
        return Err(refused(
            StatusCode::NOT_FOUND,
            "the dev provider needs dev_mode = true",
        ));
    }
    let t = state
        .tenancy
        .resolve(tenant_raw)
        .await
        .map_err(|_| refused(StatusCode::NOT_FOUND, "unknown tenant"))?;
    let providers = state
        .tenancy
        .providers(&t)
        .await
        .map_err(|_| refused(StatusCode::INTERNAL_SERVER_ERROR, "store"))?;
    let provider = providers
        .into_iter()
        .find(|p| p.kind == ProviderKind::Dev && p.name.as_str() == provider)
        .ok_or_else(|| refused(StatusCode::NOT_FOUND, "unknown dev provider"))?;
    let key = state
        .sealer
        .derive_key(&format!("dev-idp:{}:{}", t.slug(), provider.name));
    Ok(Ctx {
        provider,
        key,
        tenant: t.slug().to_owned(),
    })
}

fn sign(key: &[u8; 32], claims: &Claims) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    #[allow(
        clippy::expect_used,
        reason = "HMAC takes keys of any length (RFC 2104 section 2): new_from_slice cannot fail"
    )]
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(payload.as_bytes());
    format!(
        "{payload}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn open(key: &[u8; 32], token: &str, token_use: TokenUse) -> Option<Claims> {
    let (payload, signature) = token.split_once('.')?;
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(payload.as_bytes());
    let expected = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return None;
    }
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (claims.token_use == token_use && claims.exp > chrono::Utc::now().timestamp()).then_some(claims)
}

fn user(p: &UpstreamProvider) -> (String, Option<String>, Option<String>) {
    let u = p.settings.get("dev_user");
    let s = |k: &str| {
        u.and_then(|u| u.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    (
        s("subject").unwrap_or_else(|| "dev-user".into()),
        s("email"),
        s("name"),
    )
}

async fn login_page(
    State(state): State<Services>,
    Path((t, p)): Path<(String, String)>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let c = match ctx(&state, &t, &p).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let expected = state
        .upstream
        .callback_url(&c.tenant, &c.provider)
        .to_string();
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    if get("redirect_uri") != expected
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
    {
        return refused(
            StatusCode::BAD_REQUEST,
            "redirect_uri must be the bridge callback and PKCE S256 is required",
        );
    }
    let (subject, email, name) = user(&c.provider);
    let hidden: String = ["state", "code_challenge", "redirect_uri"]
        .iter()
        .map(|k| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                escape(get(k))
            )
        })
        .collect();
    let body = format!(
        "<h1>Development sign-in</h1><div class=\"box warn\">This is the built-in <code>dev</code> identity provider. \
It exists only in dev_mode and signs in a demo user without a password.</div>\
<div class=\"box\"><dl><dt>User</dt><dd>{}</dd><dt>Email</dt><dd>{}</dd><dt>Subject</dt><dd><code>{}</code></dd></dl></div>\
<form method=\"post\">{hidden}<button class=\"primary\" type=\"submit\">Sign in as {}</button></form>",
        escape(name.as_deref().unwrap_or(&subject)),
        escape(email.as_deref().unwrap_or("-")),
        escape(&subject),
        escape(name.as_deref().unwrap_or(&subject)),
    );
    let mut response = Html(pages::layout("Development sign-in", &body)).into_response();
    pages::harden(response.headers_mut());
    response
}

#[derive(Deserialize)]
struct LoginForm {
    state: String,
    code_challenge: String,
    redirect_uri: String,
}

async fn login(
    State(state): State<Services>,
    Path((t, p)): Path<(String, String)>,
    Form(f): Form<LoginForm>,
) -> Response {
    let c = match ctx(&state, &t, &p).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if f.redirect_uri != state.upstream.callback_url(&c.tenant, &c.provider).as_str() {
        return refused(
            StatusCode::BAD_REQUEST,
            "redirect_uri must be the bridge callback",
        );
    }
    let (subject, _, _) = user(&c.provider);
    let code = sign(
        &c.key,
        &Claims {
            token_use: TokenUse::Code,
            sub: subject,
            exp: chrono::Utc::now().timestamp() + 120,
            code_challenge: Some(f.code_challenge),
            redirect_uri: Some(f.redirect_uri.clone()),
            nonce: crate::crypto::random::token(),
        },
    );
    let mut location =
        url::Url::parse(&f.redirect_uri).unwrap_or_else(|_| state.config.public_url.clone());
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &f.state);
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location.as_str()) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

async fn token(
    State(state): State<Services>,
    Path((t, p)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let c = match ctx(&state, &t, &p).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(params) = Params::parse(&body) else {
        return refused(StatusCode::BAD_REQUEST, "malformed form");
    };
    let secret = state.upstream.dev_client_secret(&c.tenant, &c.provider);
    let presented = crate::oauth::token::client_auth::presented(&headers, &params)
        .ok()
        .and_then(|p| p.secret);
    if !presented.is_some_and(|s| constant_time_eq(s.as_bytes(), secret.as_bytes())) {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    match subject_of(&c, &params) {
        Ok(subject) => tokens_for(&c, subject),
        Err(error) => token_error(StatusCode::BAD_REQUEST, error),
    }
}

fn token_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

/// The user a token request is for: the subject of a valid code (PKCE and redirect URI
/// checked) or refresh token; else the RFC 6749 section 5.2 error code.
fn subject_of(c: &Ctx, params: &Params) -> Result<String, &'static str> {
    match params.get("grant_type") {
        Some("authorization_code") => {
            let code = params
                .get("code")
                .and_then(|code| open(&c.key, code, TokenUse::Code))
                .ok_or("invalid_grant")?;
            let verified = params.get("code_verifier").is_some_and(|v| {
                code.code_challenge.as_deref() == Some(pkce::challenge_for(v).as_str())
            });
            if !verified || code.redirect_uri.as_deref() != params.get("redirect_uri") {
                return Err("invalid_grant");
            }
            Ok(code.sub)
        }
        Some("refresh_token") => params
            .get("refresh_token")
            .and_then(|r| open(&c.key, r, TokenUse::Refresh))
            .map(|r| r.sub)
            .ok_or("invalid_grant"),
        _ => Err("unsupported_grant_type"),
    }
}

/// A fresh access and refresh token for `subject`.
fn tokens_for(c: &Ctx, subject: String) -> Response {
    let now = chrono::Utc::now().timestamp();
    let mint = |token_use: TokenUse, ttl: i64| {
        sign(
            &c.key,
            &Claims {
                token_use,
                sub: subject.clone(),
                exp: now + ttl,
                code_challenge: None,
                redirect_uri: None,
                nonce: crate::crypto::random::token(),
            },
        )
    };
    Json(json!({
        "access_token": mint(TokenUse::Access, ACCESS_TTL),
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL,
        "refresh_token": mint(TokenUse::Refresh, REFRESH_TTL),
        "scope": "profile email",
    }))
    .into_response()
}

async fn userinfo(
    State(state): State<Services>,
    Path((t, p)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let c = match ctx(&state, &t, &p).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let token = crate::tokens::bearer::bearer(&headers);
    if token
        .and_then(|t| open(&c.key, t, TokenUse::Access))
        .is_none()
    {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_token"})),
        )
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return r;
    }
    let (subject, email, name) = user(&c.provider);
    Json(json!({"sub": subject, "email": email, "name": name, "preferred_username": subject}))
        .into_response()
}
