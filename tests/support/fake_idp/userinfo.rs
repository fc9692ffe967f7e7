//! Bearer-protected resources: userinfo in each provider's shape (OIDC userinfo, Atlassian `/me`,
//! GitHub `/user` and `/user/emails`, Salesforce identity URL), Atlassian accessible resources,
//! and a generic upstream API.

use std::sync::{Arc, atomic::AtomicU64};

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    FakeUser, ProviderMode, modes,
    reply::invalid_token,
    request::bearer_token,
    state::{Shared, bump},
};

/// Counts, waits the userinfo delay and applies injected userinfo faults when `delayed`, then
/// checks the bearer token; `Ok(scope)`.
async fn authorized(
    shared: &Shared,
    headers: &HeaderMap,
    counter: &AtomicU64,
    delayed: bool,
) -> Result<String, Response> {
    bump(counter);
    let delay = shared.knobs().userinfo_delay;
    if delayed && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let fault = if delayed {
        shared.knobs().userinfo_fault.take()
    } else {
        None
    };
    if let Some(status) = fault {
        return Err(super::reply::injected_fault(status));
    }
    bearer_token(headers)
        .and_then(|token| shared.live_access(&token))
        .ok_or_else(|| invalid_token(shared.mode))
}

pub async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorized(&shared, &headers, &shared.counters.userinfo, true).await {
        return denied;
    }
    let mut user = user_json(&shared);
    let extra = shared.knobs().extra_claims.clone();
    if let Some(user) = user.as_object_mut() {
        user.extend(extra);
    }
    Json(user).into_response()
}

fn user_json(shared: &Shared) -> Value {
    let mut user = shared.user.clone();
    if let Some(name) = shared.knobs().renamed.clone() {
        user.name = name;
    }
    let user = &user;
    let (given, family) = user.name.split_once(' ').unwrap_or((&user.name, ""));
    match shared.mode {
        ProviderMode::Keycloak
        | ProviderMode::Oidc
        | ProviderMode::Entra
        | ProviderMode::Okta
        | ProviderMode::Auth0 => json!({
            "sub": user.subject, "email": user.email, "email_verified": true, "name": user.name,
            "preferred_username": user.username, "given_name": given, "family_name": family,
        }),
        ProviderMode::Google => json!({
            "sub": user.subject, "email": user.email, "email_verified": true, "name": user.name,
            "given_name": given, "family_name": family,
        }),
        ProviderMode::Atlassian => json!({
            "account_id": user.subject, "email": user.email, "name": user.name,
            "nickname": user.username, "account_type": "atlassian", "account_status": "active",
            "email_verified": true, "extended_profile": {},
        }),
        ProviderMode::Salesforce => json!({
            "sub": shared.salesforce_identity_url(), "user_id": user.subject,
            "organization_id": modes::SALESFORCE_ORG_ID, "preferred_username": user.username,
            "nickname": user.username, "name": user.name, "email": user.email,
            "email_verified": true, "given_name": given, "family_name": family,
        }),
        ProviderMode::Github { .. } => {
            let email = shared
                .knobs()
                .github_public_email
                .then(|| user.email.clone());
            json!({
                "id": github_user_id(user), "login": user.username, "name": user.name,
                "email": email, "type": "User", "node_id": format!("U_{}", github_user_id(user)),
            })
        }
    }
}

/// GitHub's numeric user id: the subject if it is a number, else a stable hash of it.
pub fn github_user_id(user: &FakeUser) -> u64 {
    user.subject.parse().unwrap_or_else(|_| {
        let hash = user
            .subject
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        hash % 100_000_000 + 1
    })
}

/// GitHub `GET /user/emails`: the primary verified address and an unverified secondary one.
pub async fn github_emails(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorized(&shared, &headers, &shared.counters.emails, true).await {
        return denied;
    }
    let public = shared.knobs().github_public_email;
    Json(json!([
        { "email": shared.user.email, "primary": true, "verified": true,
          "visibility": if public { Some("public") } else { None } },
        { "email": format!("unverified+{}", shared.user.email), "primary": false,
          "verified": false, "visibility": null },
    ]))
    .into_response()
}

/// Salesforce: the identity URL given as `id` in token responses.
pub async fn salesforce_identity(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = authorized(&shared, &headers, &shared.counters.userinfo, true).await {
        return denied;
    }
    let user = &shared.user;
    Json(json!({
        "id": shared.salesforce_identity_url(), "asserted_user": true, "user_id": user.subject,
        "organization_id": modes::SALESFORCE_ORG_ID, "username": user.username,
        "nick_name": user.username, "display_name": user.name, "email": user.email,
        "email_verified": true, "active": true, "user_type": "STANDARD",
    }))
    .into_response()
}

/// Atlassian: the cloud sites the token reaches, with the granted scopes.
pub async fn accessible_resources(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    let counter = &shared.counters.accessible_resources;
    let scope = match authorized(&shared, &headers, counter, false).await {
        Ok(scope) => scope,
        Err(denied) => return denied,
    };
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    Json(json!([{
        "id": "11111111-2222-4333-8444-555555555555",
        "url": "https://fake-site.atlassian.net",
        "name": "fake-site",
        "scopes": scopes,
        "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/site.png",
    }]))
    .into_response()
}

/// A protected upstream API: 200 JSON for a live access token, 401 otherwise.
pub async fn api(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match authorized(&shared, &headers, &shared.counters.api, false).await {
        Ok(scope) => {
            Json(json!({ "ok": true, "sub": shared.user.subject, "scope": scope })).into_response()
        }
        Err(denied) => denied,
    }
}
