//! An account-page sign-in coming back through the upstream callback (the IdP knows one
//! redirect URI per provider): checked like an authorization, ending in a session.

use axum::{http::StatusCode, response::Response};
use chrono::Utc;

use super::{callback_checks::check_issuer, params::Params};
use crate::{error::ErrorPage, oauth::OAuthState, tenancy::TenantContext};

/// An account-page sign-in: the same provider check, RFC 9207 issuer check, PKCE code
/// exchange and ID-token validation (nonce) as an authorization, then a session instead of a
/// code. No grant is stored; the upstream tokens of this login are not kept.
pub(super) async fn finish_account_login(
    state: &OAuthState,
    ctx: &TenantContext,
    provider_name: &str,
    params: &Params,
    login: &crate::account::session::AccountLogin,
) -> Result<Response, ErrorPage> {
    let bad = |m: &'static str| {
        ErrorPage::new(StatusCode::BAD_REQUEST, "Sign-in could not be completed", m)
    };
    let provider = state
        .tenancy
        .providers(ctx)
        .await?
        .into_iter()
        .find(|p| p.id == login.provider_id && p.name.as_str() == provider_name)
        .ok_or_else(|| bad("This response came back to the wrong identity provider."))?;
    if params.get("error").is_some() {
        return Err(bad("The identity provider did not sign you in."));
    }
    let code = params
        .get("code")
        .ok_or_else(|| bad("The identity provider returned no code."))?;
    check_issuer(state, ctx, &provider, params.get("iss"))
        .await
        .map_err(bad)?;
    let user = state
        .upstream
        .finish_login(
            ctx.slug(),
            &provider,
            code,
            &login.pkce_verifier,
            Some(login.nonce.as_str()),
            Utc::now(),
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, provider = %provider.name, "account sign-in failed upstream");
            ErrorPage::new(
                StatusCode::BAD_GATEWAY,
                "Sign-in could not be completed",
                "The identity provider refused or could not complete the sign-in. Please try again.",
            )
        })?
        .user;
    Ok(crate::account::login::signed_in(
        state, ctx, &provider, &user,
    ))
}
