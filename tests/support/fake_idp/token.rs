//! The token endpoint (RFC 6749 §4.1.3, §6; RFC 7636 §4.6): client authentication, the two
//! grants, injected delays and faults, and each provider's response shape.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    ProviderMode, jwks, modes,
    reply::{OAuthError, injected_fault, token_body},
    request::{ClientCredentials, Params, accepts_json, client_credentials, parse_form},
    state::{CODE_TTL, Fault, Issued, Shared, bump},
};

/// A parsed token request: the grant type decides which fields exist.
enum Grant {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
    },
}

pub async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let wants_json = accepts_json(&headers);
    let params = parse_form(&headers, &body);
    if let Ok(params) = &params {
        count_grant(&shared, params);
        shared.inner().last_token_request = Some(params.clone());
    }
    let delay = shared.knobs().token_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = take_fault(&shared) {
        bump(&shared.counters.token_errors);
        return injected_fault(status);
    }
    let answer = params.and_then(|params| handle(&shared, &headers, &params));
    let answer_delay = shared.knobs().answer_delay;
    if !answer_delay.is_zero() {
        tokio::time::sleep(answer_delay).await;
    }
    match answer {
        Ok(body) => token_body(shared.mode, wants_json, StatusCode::OK, &body),
        Err(error) => {
            bump(&shared.counters.token_errors);
            error.render(shared.mode, wants_json)
        }
    }
}

fn count_grant(shared: &Shared, params: &Params) {
    match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => bump(&shared.counters.token_authorization_code),
        Some("refresh_token") => bump(&shared.counters.token_refresh),
        _ => {}
    }
}

fn take_fault(shared: &Shared) -> Option<u16> {
    let mut knobs = shared.knobs();
    match knobs.fault {
        Fault::None => None,
        Fault::Forever { status } => Some(status),
        Fault::Next { remaining, status } => {
            knobs.fault = match remaining {
                0 | 1 => Fault::None,
                n => Fault::Next {
                    remaining: n - 1,
                    status,
                },
            };
            (remaining > 0).then_some(status)
        }
    }
}

fn handle(shared: &Shared, headers: &HeaderMap, params: &Params) -> Result<Value, OAuthError> {
    authenticate(shared, client_credentials(headers, params)?)?;
    match parse_grant(params)? {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            verifier,
        } => exchange_code(shared, &code, redirect_uri, verifier),
        Grant::RefreshToken {
            refresh_token,
            scope,
        } => refresh(shared, &refresh_token, scope),
    }
}

fn authenticate(shared: &Shared, credentials: ClientCredentials) -> Result<(), OAuthError> {
    match credentials {
        ClientCredentials::Basic { id, secret } | ClientCredentials::Post { id, secret }
            if id == shared.client_id && secret == shared.client_secret =>
        {
            Ok(())
        }
        _ => Err(OAuthError::invalid_client()),
    }
}

fn parse_grant(params: &Params) -> Result<Grant, OAuthError> {
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    let missing = |what| OAuthError::bad_request("invalid_request", what);
    match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => Ok(Grant::AuthorizationCode {
            code: get("code").ok_or_else(|| missing("code is required"))?,
            redirect_uri: get("redirect_uri"),
            verifier: get("code_verifier"),
        }),
        Some("refresh_token") => Ok(Grant::RefreshToken {
            refresh_token: get("refresh_token")
                .ok_or_else(|| missing("refresh_token is required"))?,
            scope: get("scope"),
        }),
        Some(_) => Err(OAuthError::bad_request(
            "unsupported_grant_type",
            "only authorization_code and refresh_token",
        )),
        None => Err(missing("grant_type is required")),
    }
}

fn exchange_code(
    shared: &Shared,
    code: &str,
    redirect_uri: Option<String>,
    verifier: Option<String>,
) -> Result<Value, OAuthError> {
    // Single use: the code is gone whatever happens next.
    let grant = shared.inner().codes.remove(code);
    let grant = grant.ok_or_else(|| OAuthError::invalid_grant("unknown or used code"))?;
    if grant.issued.elapsed() >= CODE_TTL {
        return Err(OAuthError::invalid_grant("code expired"));
    }
    let github = matches!(shared.mode, ProviderMode::Github { .. });
    let redirect_ok = match redirect_uri {
        Some(uri) => uri == grant.redirect_uri,
        None => github,
    };
    if !redirect_ok {
        return Err(OAuthError::invalid_grant("redirect_uri does not match")
            .github_as("redirect_uri_mismatch"));
    }
    check_pkce(grant.challenge.as_deref(), verifier.as_deref())?;
    let family = shared.new_family();
    let issued = shared
        .issue(family, &grant.scope, grant.offline)
        .ok_or_else(full)?;
    let mut body = response_body(shared, &issued);
    if wants_id_token(shared, &grant.scope) {
        let id_token = jwks::id_token(shared, grant.nonce.as_deref()).ok_or_else(full)?;
        insert(&mut body, "id_token", id_token.into());
    }
    Ok(body)
}

/// RFC 7636 §4.6, and RFC 9700 §2.1.1: a verifier without a stored challenge is refused too.
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    let ok = match (challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let valid_chars = verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            (43..=128).contains(&verifier.len())
                && valid_chars
                && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
        }
        (None, None) => true,
        _ => false,
    };
    ok.then_some(())
        .ok_or_else(|| OAuthError::invalid_grant("PKCE verification failed"))
}

fn refresh(shared: &Shared, token: &str, scope: Option<String>) -> Result<Value, OAuthError> {
    let bad = || OAuthError::invalid_grant("refresh token invalid").github_as("bad_refresh_token");
    let (rotate, reuse_detection, grace) = {
        let mut knobs = shared.knobs();
        if std::mem::take(&mut knobs.invalid_grant_next_refresh) {
            return Err(bad());
        }
        // Google never rotates refresh tokens, whatever the options say.
        let rotate = knobs.rotate && shared.mode != ProviderMode::Google;
        (rotate, knobs.reuse_detection, knobs.rotation_grace)
    };
    let (family, granted) = {
        let mut inner = shared.inner();
        let record = inner.refresh.get_mut(token).ok_or_else(bad)?;
        let family = record.family;
        // Okta's grace period: a token rotated away moments ago still works.
        let in_grace = record.rotated && record.rotated_at.is_some_and(|at| at.elapsed() <= grace);
        if record.revoked && !in_grace {
            if record.rotated && reuse_detection {
                inner.revoke_family(family);
            }
            return Err(bad());
        }
        // Rotation: the presented token is spent (RFC 9700 §4.14.2).
        record.revoked |= rotate;
        if rotate && !record.rotated {
            record.rotated = true;
            record.rotated_at = Some(tokio::time::Instant::now());
        }
        (family, record.scope.clone())
    };
    let scope = match scope {
        Some(asked) if !is_subset(&asked, &granted) => {
            return Err(OAuthError::bad_request(
                "invalid_scope",
                "scope exceeds the grant",
            ));
        }
        Some(asked) => asked,
        None => granted,
    };
    let mut issued = shared.issue(family, &scope, rotate).ok_or_else(full)?;
    if !rotate && modes::echoes_refresh_token(shared.mode) {
        issued.refresh_token = Some(token.to_owned());
    }
    let mut body = response_body(shared, &issued);
    if wants_id_token(shared, &scope) {
        let id_token = jwks::id_token(shared, None).ok_or_else(full)?;
        insert(&mut body, "id_token", id_token.into());
    }
    Ok(body)
}

fn is_subset(asked: &str, granted: &str) -> bool {
    let granted: Vec<&str> = granted.split([' ', ',']).collect();
    asked.split([' ', ',']).all(|s| granted.contains(&s))
}

fn wants_id_token(shared: &Shared, scope: &str) -> bool {
    modes::is_oidc(shared.mode) && scope.split(' ').any(|s| s == "openid")
}

fn full() -> OAuthError {
    OAuthError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the fake IdP holds too many tokens",
    )
}

fn insert(body: &mut Value, key: &str, value: Value) {
    if let Some(map) = body.as_object_mut() {
        map.insert(key.into(), value);
    }
}

/// The success body, in the shape of the mode's provider.
fn response_body(shared: &Shared, issued: &Issued) -> Value {
    let mode = shared.mode;
    let scopes: Vec<&str> = issued
        .scope
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .collect();
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": modes::token_type(mode),
        "scope": scopes.join(modes::scope_separator(mode)),
    });
    if let (true, Some(secs)) = (modes::sends_expires_in(mode), issued.expires_in) {
        insert(&mut body, "expires_in", secs.into());
    }
    if let Some(refresh) = &issued.refresh_token {
        insert(&mut body, "refresh_token", refresh.clone().into());
    }
    match mode {
        ProviderMode::Keycloak if issued.refresh_token.is_some() => {
            insert(&mut body, "refresh_expires_in", 1800.into());
            insert(&mut body, "not-before-policy", 0.into());
        }
        ProviderMode::Github { app: true } if issued.refresh_token.is_some() => {
            let secs = modes::GITHUB_APP_REFRESH_TTL_SECS;
            insert(&mut body, "refresh_token_expires_in", secs.into());
        }
        ProviderMode::Salesforce => {
            let issued_at = chrono::Utc::now().timestamp_millis().to_string();
            insert(&mut body, "instance_url", shared.base.clone().into());
            insert(&mut body, "id", shared.salesforce_identity_url().into());
            insert(&mut body, "issued_at", issued_at.into());
            insert(&mut body, "signature", "ZmFrZS1zaWduYXR1cmU=".into());
        }
        _ => {}
    }
    body
}
