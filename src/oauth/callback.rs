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

use super::{
    callback_account,
    callback_checks::{ask_again, check_browser, login_failure, still_consented, upstream_code},
    params::Params,
    redirect,
};
use crate::cookies;
use crate::{
    crypto::{Sealed, hash, random},
    domain::{AuthorizationCode, Client, PendingAuthorization, UpstreamProvider},
    error::{ErrorCode, ErrorPage},
    oauth::OAuthState,
    store::{self, grants::NewGrant},
    upstream::Login,
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
            return callback_account::finish_account_login(
                &state,
                &ctx,
                &provider_name,
                &params,
                &login,
            )
            .await;
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
    let login =
        match upstream_login(&state, &ctx, &provider, &pending, &verifier, code, now).await? {
            Ok(login) => login,
            Err((code, description)) => return Ok(fail(code, description)),
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

/// Exchanges the upstream code (with the pending authorization's sealed PKCE verifier) for the
/// user's login, or the error the client gets when the IdP refuses or fails.
async fn upstream_login(
    state: &OAuthState,
    ctx: &TenantContext,
    provider: &UpstreamProvider,
    pending: &PendingAuthorization,
    verifier: &Sealed,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Result<Login, (ErrorCode, &'static str)>, ErrorPage> {
    let verifier = state
        .sealer
        .open_string(verifier, &format!("pending:{}:pkce", pending.id))
        .map_err(|e| ErrorPage::internal("pending pkce verifier", &e))?;
    let login = state
        .upstream
        .finish_login(
            ctx.slug(),
            provider,
            code,
            &verifier,
            pending.upstream_nonce.as_deref(),
            now,
        )
        .await;
    Ok(login.map_err(|e| {
        tracing::warn!(error = %e, provider = %provider.name, "upstream login failed");
        login_failure(&e)
    }))
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
    let user_context = login.stored();
    let user_context = user_context.map_err(|e| ErrorPage::internal("user context", &e))?;
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
