//! `GET /authorize` (RFC 6749 §4.1.1, RFC 7636, RFC 9207): validates the request, logs the
//! user in at once and redirects back with a code — or with `error=access_denied` when told to.

use std::sync::Arc;

use axum::{
    extract::{RawQuery, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use tokio::time::Instant;
use url::{Host, Url};

use super::{
    ProviderMode, modes,
    reply::error_page,
    request::{Params, parse_params},
    state::{CODE_TTL, CodeGrant, MAX_ENTRIES, Shared, bump, random_token},
};

pub async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    bump(&shared.counters.authorize);
    let Ok(params) = parse_params(query.unwrap_or_default().as_bytes()) else {
        return error_page("malformed query string");
    };
    let redirect = match validate(&shared, &params) {
        Ok(redirect) => redirect,
        Err(reason) => return error_page(reason),
    };
    shared.inner().last_authorize = Some(params.clone());
    let state = params.get("state").cloned().unwrap_or_default();
    if std::mem::take(&mut shared.knobs().deny_next_login) {
        return redirect_back(
            &shared,
            redirect,
            &[("error", "access_denied"), ("state", &state)],
        );
    }
    let Some(code) = store_code(&shared, &params) else {
        return error_page("too many outstanding authorization codes");
    };
    redirect_back(&shared, redirect, &[("code", &code), ("state", &state)])
}

/// Checks everything that must hold before the fake may redirect anywhere.
fn validate(shared: &Shared, params: &Params) -> Result<Url, &'static str> {
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    if get("client_id") != Some(shared.client_id.as_str()) {
        return Err("unknown client_id");
    }
    let redirect = get("redirect_uri").ok_or("redirect_uri is required")?;
    let redirect = allowed_redirect(shared, redirect).ok_or("redirect_uri is not registered")?;
    if get("response_type") != Some("code") {
        return Err("response_type must be code");
    }
    if get("state").is_none() {
        return Err("state is required");
    }
    match (get("code_challenge"), get("code_challenge_method")) {
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => {}
        (None, None) if !modes::requires_pkce(shared.mode) => {}
        _ => return Err("PKCE with code_challenge_method=S256 is required"),
    }
    if shared.mode == ProviderMode::Atlassian && get("audience") != Some("api.atlassian.com") {
        return Err("audience=api.atlassian.com is required");
    }
    if shared.mode == ProviderMode::Auth0 && get("audience").is_none() {
        return Err("audience is required (without it Auth0 issues an opaque access token)");
    }
    Ok(redirect)
}

/// An exact registered URI, or (when the test registered none) any loopback http(s) URL.
fn allowed_redirect(shared: &Shared, raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    if url.fragment().is_some() || !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let allowed = match &shared.knobs().redirect_uris {
        Some(list) => list.iter().any(|uri| uri == raw),
        None => match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(domain)) => domain == "localhost",
            None => false,
        },
    };
    allowed.then_some(url)
}

/// RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether this login yields a refresh token, by the provider's rules.
fn offline(shared: &Shared, params: &Params) -> bool {
    let scopes: Vec<&str> = params
        .get("scope")
        .map(|s| s.split([' ', ',']).collect())
        .unwrap_or_default();
    match shared.mode {
        // A first offline consent yields a refresh token; later logins need prompt=consent.
        ProviderMode::Google => {
            let offline = params.get("access_type").is_some_and(|v| v == "offline");
            let consent = params.get("prompt").is_some_and(|p| p.contains("consent"));
            let mut inner = shared.inner();
            let issue = offline && (consent || !inner.google_consented);
            inner.google_consented |= offline;
            issue
        }
        ProviderMode::Atlassian
        | ProviderMode::Entra
        | ProviderMode::Okta
        | ProviderMode::Auth0 => scopes.contains(&"offline_access"),
        ProviderMode::Salesforce => {
            scopes.is_empty()
                || ["refresh_token", "offline_access", "full"]
                    .iter()
                    .any(|s| scopes.contains(s))
        }
        ProviderMode::Github { app } => app,
        ProviderMode::Keycloak | ProviderMode::Oidc => true,
    }
}

fn store_code(shared: &Shared, params: &Params) -> Option<String> {
    let offline = offline(shared, params);
    let grant = CodeGrant {
        client_id: shared.client_id.clone(),
        redirect_uri: params.get("redirect_uri").cloned().unwrap_or_default(),
        challenge: params.get("code_challenge").cloned(),
        scope: params.get("scope").cloned().unwrap_or_default(),
        nonce: params.get("nonce").cloned(),
        offline,
        issued: Instant::now(),
    };
    let mut inner = shared.inner();
    inner.codes.retain(|_, c| c.issued.elapsed() < CODE_TTL);
    if inner.codes.len() >= MAX_ENTRIES {
        return None;
    }
    let code = random_token("code-");
    inner.codes.insert(code.clone(), grant);
    Some(code)
}

fn redirect_back(shared: &Shared, mut redirect: Url, pairs: &[(&str, &str)]) -> Response {
    {
        let mut query = redirect.query_pairs_mut();
        for (key, value) in pairs {
            query.append_pair(key, value);
        }
        if modes::sends_iss(shared.mode) {
            query.append_pair("iss", &shared.issuer());
        }
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, redirect.to_string())],
    )
        .into_response()
}
