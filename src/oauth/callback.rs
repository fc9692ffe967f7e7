//! `GET /t/{tenant}/callback/{provider}`: where the upstream IdP sends the browser back.
//!
//! The upstream `state` is consumed once (the pending row is deleted as it is read), must come
//! back to the browser that approved the consent (consent cookie), and for IdPs that send RFC 9207
//! `iss` the issuer must be the one we sent the user to (mix-up defence). Then the upstream code
//! is exchanged, the grant stored with its tokens sealed, and the client gets the bridge's own
//! single-use code.

use crate::tenancy::TenantContext;
use axum::{
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{consent, params::Params, redirect};
use crate::cookies;
use crate::{
    crypto::{Sealed, hash, random},
    domain::{AuthorizationCode, Client, PendingAuthorization, UpstreamProvider},
    error::{ErrorCode, ErrorPage},
    oauth::OAuthState,
    store::{self, grants::NewGrant},
    upstream::{Login, UpstreamError},
};

pub async fn callback(
    State(state): State<OAuthState>,
    Path((raw, provider_name)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ErrorPage> {
    let ctx = state.tenancy.resolve(&raw).await?;
    let params = Params::parse(query.as_deref().unwrap_or("").as_bytes())
        .map_err(|_| bad("The response from the identity provider was malformed."))?;
    // A sign-in to the account page comes back here too (the IdP knows one redirect URI per
    // provider): this browser's account-login cookie names the `state` it started.
    if let Some(upstream_state) = params.get("state") {
        let state_hash = hash::hex(&hash::sha256(upstream_state.as_bytes()));
        if let Some(login) =
            crate::account::session::login_in_progress(&state, &headers, ctx.tenant.id, &state_hash)
        {
            return finish_account_login(&state, &ctx, &provider_name, &params, &login).await;
        }
    }
    let Claimed {
        provider,
        client,
        pending,
        verifier,
    } = claim(&state, &ctx, &provider_name, &headers, &params).await?;
    let now = Utc::now();
    let fail = |code: ErrorCode, description: &str| {
        let mut r = redirect::error(
            &pending.redirect_uri,
            code,
            description,
            pending.client_state.as_deref(),
            &ctx.issuer,
            StatusCode::FOUND,
        );
        r.headers_mut().append(
            header::SET_COOKIE,
            cookies::clear_consent(&state, pending.id),
        );
        r
    };
    let code = match upstream_code(&state, &ctx, &provider, &pending, &params, now).await {
        Ok(code) => code,
        Err((code, description)) => return Ok(fail(code, description)),
    };
    let verifier = match state
        .sealer
        .open_string(&verifier, &format!("pending:{}:pkce", pending.id))
    {
        Ok(v) => v,
        Err(e) => return Err(ErrorPage::internal("pending pkce verifier", &e)),
    };
    let login = match state
        .upstream
        .finish_login(
            ctx.slug(),
            &provider,
            code,
            &verifier,
            pending.upstream_nonce.as_deref(),
            now,
        )
        .await
    {
        Ok(login) => login,
        Err(e) => {
            tracing::warn!(error = %e, provider = %provider.name, "upstream login failed");
            let (code, description) = login_failure(&e);
            return Ok(fail(code, description));
        }
    };
    if let Some(remembered) = pending.remembered_subject.as_deref()
        && !still_consented(&state, &client, &pending, remembered, &login.user.subject).await?
    {
        tracing::warn!(client = %client.client_id, provider = %provider.name,
            "consent was skipped for the remembered user, but another user (or one without that consent) logged in; asking for consent");
        return ask_again(&state, &ctx, &client, &pending).await;
    }
    let bridge_code = complete(&state, &ctx, &provider, &pending, &login).await?;
    let response = code_issued(&state, &ctx, &pending, &login.user.subject, &bridge_code);
    tracing::info!(client = %client.client_id, provider = %provider.name, "authorization code issued");
    Ok(response)
}

fn bad(message: &'static str) -> ErrorPage {
    ErrorPage::new(
        StatusCode::BAD_REQUEST,
        "Sign-in could not be completed",
        message,
    )
}

/// A pending authorization this callback has consumed, with what it names.
struct Claimed {
    provider: UpstreamProvider,
    client: Client,
    pending: PendingAuthorization,
    /// The sealed upstream PKCE verifier.
    verifier: Sealed,
}

/// Finds the pending authorization the upstream `state` names and consumes it, once the
/// browser is known to be the one that approved: read first, so that a request from anywhere
/// else (no consent cookie) cannot cancel the authorization for the real one.
async fn claim(
    state: &OAuthState,
    ctx: &TenantContext,
    provider_name: &str,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Claimed, ErrorPage> {
    let upstream_state = params
        .get("state")
        .ok_or_else(|| bad("The response from the identity provider has no state."))?;
    let state_hash = hash::sha256(upstream_state.as_bytes());
    let gone = || {
        bad(
            "This sign-in has already been used or does not exist. Start again from your application.",
        )
    };
    let found = store::pending::find_by_state(&state.pool, ctx.tenant.id, &state_hash)
        .await?
        .ok_or_else(gone)?;
    let providers = state.tenancy.providers(ctx).await?;
    let provider = providers
        .into_iter()
        .find(|p| p.id == found.provider_id && p.name.as_str() == provider_name)
        .ok_or_else(|| bad("This response came back to the wrong identity provider."))?;
    let client = store::clients::find_by_pk(&state.pool, found.client_pk)
        .await?
        .ok_or_else(|| bad("The client was removed."))?;
    let binding_hash = check_browser(state, headers, &found, &client.client_id)?;
    let (pending, verifier) =
        store::pending::consume_by_state(&state.pool, ctx.tenant.id, &state_hash, &binding_hash)
            .await?
            .ok_or_else(gone)?;
    Ok(Claimed {
        provider,
        client,
        pending,
        verifier,
    })
}

/// The upstream code, or why the IdP's answer ends the authorization (the error the client
/// gets): the authorization expired, the IdP sent an error or no code, or the wrong issuer.
async fn upstream_code<'a>(
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
fn login_failure(e: &UpstreamError) -> (ErrorCode, &'static str) {
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

/// The redirect that hands the client the bridge's code (RFC 6749 4.1.2, with RFC 9207 `iss`),
/// clearing the consent cookie and remembering who logged in.
fn code_issued(
    state: &OAuthState,
    ctx: &TenantContext,
    pending: &PendingAuthorization,
    subject: &str,
    bridge_code: &str,
) -> Response {
    let mut params = vec![("code", bridge_code)];
    if let Some(s) = pending.client_state.as_deref() {
        params.push(("state", s));
    }
    params.push(("iss", ctx.issuer.as_str()));
    let mut response = redirect::to_client(&pending.redirect_uri, &params, StatusCode::FOUND);
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        cookies::clear_consent(state, pending.id),
    );
    headers.append(
        header::SET_COOKIE,
        cookies::remember_user(state, ctx.slug(), subject),
    );
    response
}

/// An account-page sign-in: the same provider check, RFC 9207 issuer check, PKCE code
/// exchange and ID-token validation (nonce) as an authorization, then a session instead of a
/// code. No grant is stored; the upstream tokens of this login are not kept.
async fn finish_account_login(
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

/// The callback must arrive in the browser that approved the consent. Returns the binding hash
/// the pending authorization must carry for this browser to consume it.
fn check_browser(
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
async fn still_consented(
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
async fn ask_again(
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
async fn check_issuer(
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

/// Stores the grant, records the consent and issues the bridge code, in one transaction.
async fn complete(
    state: &OAuthState,
    ctx: &TenantContext,
    provider: &UpstreamProvider,
    pending: &PendingAuthorization,
    login: &Login,
) -> Result<String, ErrorPage> {
    let grant_id = Uuid::new_v4();
    let code = random::token();
    let user_context =
        serde_json::to_value(&login.user).map_err(|e| ErrorPage::internal("user context", &e))?;
    let now = Utc::now();
    let mut tx = state
        .pool
        .begin()
        .await
        .map_err(|e| ErrorPage::database("begin", e))?;
    let grant = NewGrant {
        id: grant_id,
        tenant_id: ctx.tenant.id,
        provider_id: provider.id,
        client_pk: pending.client_pk,
        subject: &login.user.subject,
        user_context: &user_context,
        tokens: &login.tokens,
    };
    store::grants::insert(&mut tx, &state.sealer, &grant).await?;
    let scopes = pending.scopes.to_vec();
    let consent = store::consents::Consent {
        client_pk: pending.client_pk,
        subject: &login.user.subject,
        mcp_server_id: pending.mcp_server_id,
        scopes: &scopes,
        redirect_uri: &pending.redirect_uri,
    };
    store::consents::record(&mut tx, ctx.tenant.id, &consent).await?;
    let record = AuthorizationCode {
        code_hash: hash::sha256(code.as_bytes()).to_vec(),
        tenant_id: ctx.tenant.id,
        client_pk: pending.client_pk,
        grant_id,
        mcp_server_id: pending.mcp_server_id,
        redirect_uri: pending.redirect_uri.clone(),
        code_challenge: pending.code_challenge.clone(),
        scopes: pending.scopes.clone(),
        resource: pending.resource.clone(),
        expires_at: now + state.config.auth.authorization_code_ttl.to_chrono(),
    };
    store::codes::insert(&mut tx, &record).await?;
    tx.commit()
        .await
        .map_err(|e| ErrorPage::database("commit", e))?;
    Ok(code)
}
