//! The callback's checks: the browser that approved the consent (consent cookie), the upstream
//! answer itself (expiry, IdP error, RFC 9207 issuer), and a skipped consent still on record for
//! whoever actually logged in, else the consent page again.

use axum::{
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{consent, params::Params};
use crate::{
    cookies,
    crypto::hash,
    domain::{Client, PendingAuthorization, UpstreamProvider},
    error::{ErrorCode, ErrorPage},
    oauth::OAuthState,
    store,
    tenancy::TenantContext,
    upstream::UpstreamError,
};

/// The upstream code, or why the IdP's answer ends the authorization (the error the client
/// gets): the authorization expired, the IdP sent an error or no code, or the wrong issuer.
pub(super) async fn upstream_code<'a>(
    state: &OAuthState,
    ctx: &TenantContext,
    provider: &UpstreamProvider,
    pending: &PendingAuthorization,
    params: &'a Params,
    now: DateTime<Utc>,
) -> Result<&'a str, (ErrorCode, &'static str)> {
    if pending.expires_at <= now {
        return Err((
            ErrorCode::AccessDenied,
            "the authorization expired; start again",
        ));
    }
    if let Some(error) = params.get("error") {
        tracing::info!(error = %crate::upstream::error::sanitize(error), provider = %provider.name, "upstream returned an error");
        let code = if error == "access_denied" {
            ErrorCode::AccessDenied
        } else {
            ErrorCode::ServerError
        };
        return Err((code, "the identity provider did not sign the user in"));
    }
    let code = params.get("code").ok_or((
        ErrorCode::ServerError,
        "the identity provider returned no code",
    ))?;
    check_issuer(state, ctx, provider, params.get("iss"))
        .await
        .map_err(|description| (ErrorCode::ServerError, description))?;
    Ok(code)
}

/// The OAuth error a failed upstream login becomes at the client.
pub(super) fn login_failure(e: &UpstreamError) -> (ErrorCode, &'static str) {
    match e {
        UpstreamError::Rejected(_) => (
            ErrorCode::AccessDenied,
            "the identity provider refused the sign-in",
        ),
        UpstreamError::Unavailable { .. } => (
            ErrorCode::TemporarilyUnavailable,
            "the identity provider is unavailable; try again",
        ),
        _ => (ErrorCode::ServerError, "the sign-in could not be completed"),
    }
}

/// The callback must arrive in the browser that approved the consent. Returns the binding hash
/// the pending authorization must carry for this browser to consume it.
pub(super) fn check_browser(
    state: &OAuthState,
    headers: &HeaderMap,
    pending: &PendingAuthorization,
    client_id: &str,
) -> Result<Vec<u8>, ErrorPage> {
    let nonce = cookies::consent_nonce(state, headers, pending.id, client_id);
    match (nonce, &pending.consent_binding_hash) {
        (Some(nonce), Some(expected))
            if hash::constant_time_eq(&hash::sha256(nonce.as_bytes()), expected) =>
        {
            Ok(expected.clone())
        }
        _ => Err(ErrorPage::new(
            StatusCode::FORBIDDEN,
            "Sign-in could not be completed",
            "This sign-in was started in another browser. Start again from your application.",
        )),
    }
}

/// Consent was skipped at `/authorize` because the browser's remembered-user cookie named
/// `remembered`. The cookie is a hint, never an authorization (it can be planted, or left behind
/// on a shared browser): the code is issued only if that same subject logged in and its consent
/// for this client, server, scopes (and, for public clients, redirect URI) is still on record.
pub(super) async fn still_consented(
    state: &OAuthState,
    client: &Client,
    pending: &PendingAuthorization,
    remembered: &str,
    logged_in: &str,
) -> Result<bool, ErrorPage> {
    if remembered != logged_in {
        return Ok(false);
    }
    let scopes = pending.scopes.to_vec();
    let consent = store::consents::Consent {
        client_pk: pending.client_pk,
        subject: logged_in,
        mcp_server_id: pending.mcp_server_id,
        scopes: &scopes,
        redirect_uri: &pending.redirect_uri,
    };
    Ok(store::consents::covers(&state.pool, &consent, consent::redirect_match(client)).await?)
}

/// Shows the consent page for the same request, as a fresh pending authorization bound to this
/// browser: approving it goes upstream again (the upstream login just made is discarded, no code
/// was issued), denying it tells the client `access_denied`. The planted or stale
/// remembered-user cookie is cleared.
pub(super) async fn ask_again(
    state: &OAuthState,
    ctx: &TenantContext,
    client: &Client,
    pending: &PendingAuthorization,
) -> Result<Response, ErrorPage> {
    let fresh = PendingAuthorization {
        id: Uuid::new_v4(),
        consent_binding_hash: None,
        upstream_nonce: None,
        remembered_subject: None,
        expires_at: Utc::now() + state.config.auth.pending_authorization_ttl.to_chrono(),
        ..pending.clone()
    };
    store::pending::insert(&state.pool, &fresh).await?;
    let mut response = consent::render(state, ctx, client, &fresh).await?;
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        cookies::clear_consent(state, pending.id),
    );
    headers.append(header::SET_COOKIE, cookies::forget_user(state));
    Ok(response)
}

/// RFC 9207: when the IdP names itself, it must be the IdP we sent the user to.
pub(super) async fn check_issuer(
    state: &OAuthState,
    ctx: &TenantContext,
    provider: &UpstreamProvider,
    iss: Option<&str>,
) -> Result<(), &'static str> {
    let Some(iss) = iss else { return Ok(()) };
    let endpoints = state
        .upstream
        .endpoints(ctx.slug(), provider)
        .await
        .map_err(|_| "the identity provider is unavailable")?;
    match endpoints.issuer {
        // Entra's multi-tenant template names the user's directory, not one fixed issuer.
        Some(expected) if crate::upstream::provider::entra::discovery_names(&expected, iss) => {
            Ok(())
        }
        Some(_) => Err("the response came from an unexpected issuer"),
        None => Ok(()),
    }
}
