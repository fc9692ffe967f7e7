//! Signing in to the account page through the tenant's upstream IdP, with the same machinery
//! as an authorization (PKCE S256, `state`, OIDC nonce, the provider's one callback URL): the
//! callback recognises an account login by this browser's login cookie and hands the verified
//! user back to [`signed_in`]. Signing out clears the session cookie.

use axum::{
    Form,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde::Deserialize;

use super::session::{self, AccountLogin, AccountSession};
use crate::{
    crypto::hash,
    domain::{UpstreamProvider, UserContext},
    error::ErrorPage,
    services::Services,
    tenancy::TenantContext,
};

#[derive(Deserialize)]
pub struct LoginQuery {
    /// The provider to sign in with; the tenant's default when absent.
    provider: Option<String>,
}

/// `GET /t/{tenant}/account/login`: to the IdP.
pub async fn start(
    State(state): State<Services>,
    Path(raw): Path<String>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, ErrorPage> {
    let ctx = state.tenancy.resolve(&raw).await?;
    let providers = state.tenancy.providers(&ctx).await?;
    let provider = match q.provider.as_deref() {
        Some(name) => providers.iter().find(|p| p.name.as_str() == name),
        None => providers.first(),
    }
    .ok_or_else(|| {
        ErrorPage::new(
            StatusCode::NOT_FOUND,
            "Sign-in unavailable",
            "This organisation has no such identity provider.",
        )
    })?;
    let upstream = state
        .upstream
        .login_redirect(ctx.slug(), provider)
        .await
        .map_err(|e| ErrorPage::idp_unreachable(provider.name.as_str(), "account login", &e))?;
    let login = AccountLogin {
        tenant_id: ctx.tenant.id,
        provider_id: provider.id,
        state_hash: hash::sha256_hex(upstream.state.expose().as_bytes()),
        pkce_verifier: upstream.pkce_verifier.expose().clone(),
        nonce: upstream.nonce.clone(),
        expires_at: Utc::now() + session::LOGIN_TTL,
    };
    let mut response = see_other(upstream.url.as_str());
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::begin_login(&state, &login));
    Ok(response)
}

/// The end of an account login, once the callback has verified the user: a fresh session,
/// and back to the account page.
pub fn signed_in(
    state: &Services,
    ctx: &TenantContext,
    provider: &UpstreamProvider,
    user: &UserContext,
) -> Response {
    let greeting = user
        .name
        .clone()
        .or_else(|| user.email.clone())
        .or_else(|| user.username.clone());
    let s = AccountSession {
        tenant_id: ctx.tenant.id,
        subject: user.subject.clone(),
        greeting,
        provider: provider.name.to_string(),
        nonce: crate::crypto::random::token(),
        expires_at: Utc::now() + session::SESSION_TTL,
    };
    tracing::info!(provider = %provider.name, "account page sign-in");
    let mut response = see_other(&super::page_url(ctx));
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session::clear_login(state));
    headers.append(header::SET_COOKIE, session::start(state, &s));
    response
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /t/{tenant}/account/logout`.
pub async fn logout(
    State(state): State<Services>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ErrorPage> {
    let ctx = state.tenancy.resolve(&raw).await?;
    if let Some(s) = session::current(&state, &headers, ctx.tenant.id) {
        let Ok(Form(form)) = form else {
            return Err(super::forged());
        };
        if !session::csrf_ok(&state, &s, &form.csrf) {
            return Err(super::forged());
        }
    }
    let mut response = see_other(&super::page_url(&ctx));
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::end(&state));
    Ok(response)
}

/// A `303 See Other` to `location`, with the pages' hardening headers.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    crate::pages::harden(response.headers_mut());
    response
}
