//! The consent page (MCP security best practices for proxies with one upstream client id):
//! the user sees which client asks for which MCP server and scopes before the browser is sent
//! upstream. `POST /t/{tenant}/consent` approves or denies.

use crate::tenancy::TenantContext;
use axum::{
    Form,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use super::redirect;
use crate::cookies;
use crate::{
    crypto::hash,
    domain::{AuthMethod, Client, PendingAuthorization},
    error::{ErrorCode, ErrorPage},
    oauth::OAuthState,
    pages::{self, escape},
    store,
};

fn pending_max_age(state: &OAuthState) -> u64 {
    state.config.auth.pending_authorization_ttl.get().as_secs()
}

/// How closely an earlier consent must match for this client to skip the page: public clients
/// (`token_endpoint_auth_method=none`) only for the exact redirect URI approved, port included
/// (RFC 8252 section 8.6: any local program can present a public client's id).
pub fn redirect_match(client: &Client) -> store::consents::RedirectMatch {
    if client.auth_method == AuthMethod::None {
        store::consents::RedirectMatch::Exact
    } else {
        store::consents::RedirectMatch::AnyRegistered
    }
}

/// Where the result goes, as the page shows it: the host, and for loopback URIs the port too
/// (it is what tells one local program from another).
fn destination(redirect_uri: &str) -> (String, bool) {
    let Ok(url) = url::Url::parse(redirect_uri) else {
        return (redirect_uri.to_owned(), false);
    };
    let loopback = crate::domain::redirect_uri::is_loopback(&url);
    let host = url.host_str().unwrap_or(url.scheme());
    match url.port() {
        Some(port) if loopback => (format!("{host}:{port}"), true),
        _ => (host.to_owned(), loopback),
    }
}

/// The MCP security guidance: warn when the result goes to the user's own machine, where any
/// program could be listening.
fn loopback_warning(destination: &str) -> String {
    format!(
        "<div class=\"box warn\"><strong>Check that you started this.</strong> This application \
         sends the result to a program on your own computer (<code>{}</code>). Any program can \
         use this application's name: approve only if you just asked an application on this \
         computer to connect.</div>",
        escape(destination)
    )
}

/// Renders the page with a fresh CSRF token and consent cookie. The redirect host stands beside
/// the client's name: a name is only what the client says it is (homoglyphs), the host is where
/// the tokens will go.
pub async fn render(
    state: &OAuthState,
    ctx: &TenantContext,
    client: &Client,
    pending: &PendingAuthorization,
) -> Result<Response, ErrorPage> {
    let binding =
        cookies::new_consent_binding(state, pending.id, &client.client_id, pending_max_age(state));
    let (redirect_host, loopback) = destination(&pending.redirect_uri);
    let warning = if loopback {
        loopback_warning(&redirect_host)
    } else {
        String::new()
    };
    let scopes: String = pending
        .scopes
        .iter()
        .map(|s| format!("<code>{}</code> ", escape(s)))
        .collect();
    let body = format!(
        "<h1>Allow access?</h1>\
<p><strong>{client_name}</strong> <span class=\"host\">at <strong><code>{redirect_host}</code></strong></span> wants to use <strong>{server}</strong> on {tenant} on your behalf.</p>{warning}\
<div class=\"box\"><dl><dt>Application</dt><dd>{client_name}<br><small>client id <code>{client_id}</code></small></dd>\
<dt>Will receive the result at</dt><dd><code>{redirect_host}</code></dd>\
<dt>MCP server</dt><dd><code>{resource}</code></dd><dt>Permissions</dt><dd>{scopes}</dd></dl></div>\
<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button class=\"primary\" type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>\
<p><small>You will then sign in with your organisation's identity provider.</small></p>",
        client_name = escape(client.display_name()),
        client_id = escape(&client.client_id),
        server = escape(pending.resource.rsplit('/').next().unwrap_or_default()),
        tenant = escape(&ctx.tenant.display_name),
        redirect_host = escape(&redirect_host),
        resource = escape(&pending.resource),
        action = escape(&crate::urls::consent(&ctx.issuer)),
        pending = pending.id,
        csrf = binding.csrf,
    );
    let mut response = Html(pages::layout("Allow access?", &body)).into_response();
    pages::harden(response.headers_mut());
    response
        .headers_mut()
        .append(header::SET_COOKIE, binding.set_cookie);
    Ok(response)
}

#[derive(Deserialize)]
pub struct ConsentForm {
    pending: String,
    csrf: String,
    decision: String,
}

pub async fn submit(
    State(state): State<OAuthState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ConsentForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ErrorPage> {
    let ctx = state.tenancy.resolve(&raw).await?;
    let expired = || {
        ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "This request has expired",
            "Start again from your application.",
        )
    };
    let Ok(Form(form)) = form else {
        return Err(ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "Invalid form",
            "The consent form was incomplete.",
        ));
    };
    let id = Uuid::parse_str(&form.pending).map_err(|_| expired())?;
    let now = Utc::now();
    let pending = store::pending::find_awaiting_consent(&state.pool, ctx.tenant.id, id, now)
        .await?
        .ok_or_else(expired)?;
    let client = store_client(&state, &pending).await?;
    let forged = || {
        ErrorPage::new(
            StatusCode::FORBIDDEN,
            "Request not accepted",
            "This form was not submitted from the page this server showed you.",
        )
    };
    let nonce = cookies::consent_nonce(&state, &headers, pending.id, &client.client_id)
        .ok_or_else(forged)?;
    if !cookies::csrf_ok(&state, pending.id, &nonce, &form.csrf) {
        return Err(forged());
    }
    match form.decision.as_str() {
        "approve" => approve(&state, &ctx, &client, &pending, &nonce, None).await,
        _ => {
            store::pending::delete(&state.pool, ctx.tenant.id, pending.id).await?;
            let mut response = redirect::error(
                &pending.redirect_uri,
                ErrorCode::AccessDenied,
                "the user denied access",
                pending.client_state.as_deref(),
                &ctx.issuer,
                StatusCode::SEE_OTHER,
            );
            response.headers_mut().append(
                header::SET_COOKIE,
                cookies::clear_consent(&state, pending.id),
            );
            Ok(response)
        }
    }
}

async fn store_client(
    state: &OAuthState,
    pending: &PendingAuthorization,
) -> Result<Client, ErrorPage> {
    store::clients::find_by_pk(&state.pool, pending.client_pk)
        .await?
        .ok_or_else(|| {
            ErrorPage::new(
                StatusCode::BAD_REQUEST,
                "Unknown client",
                "The client was removed.",
            )
        })
}

/// Approval for a returning user who consented before, on the strength of the remembered-user
/// cookie naming `remembered`: a consent cookie is still set, so the callback stays bound to this
/// browser, and the pending authorization remembers the subject so the callback can check that
/// this same user logged in.
pub async fn go_upstream(
    state: &OAuthState,
    ctx: &TenantContext,
    client: &Client,
    pending: &PendingAuthorization,
    remembered: &str,
) -> Result<Response, ErrorPage> {
    let binding =
        cookies::new_consent_binding(state, pending.id, &client.client_id, pending_max_age(state));
    let mut response = approve(
        state,
        ctx,
        client,
        pending,
        &binding.nonce,
        Some(remembered),
    )
    .await?;
    response
        .headers_mut()
        .append(header::SET_COOKIE, binding.set_cookie);
    Ok(response)
}

/// Creates the upstream `state`, PKCE verifier and nonce (only now, after consent), stores them
/// with the pending authorization, and sends the browser to the IdP.
async fn approve(
    state: &OAuthState,
    ctx: &TenantContext,
    client: &Client,
    pending: &PendingAuthorization,
    nonce: &str,
    remembered: Option<&str>,
) -> Result<Response, ErrorPage> {
    let providers = state.tenancy.providers(ctx).await?;
    let provider = providers
        .iter()
        .find(|p| p.id == pending.provider_id)
        .ok_or_else(|| {
            ErrorPage::new(
                StatusCode::BAD_GATEWAY,
                "Sign-in unavailable",
                "The identity provider was removed.",
            )
        })?;
    let upstream = state
        .upstream
        .login_redirect(ctx.slug(), provider)
        .await
        .map_err(|e| ErrorPage::idp_unreachable(provider.name.as_str(), "authorization", &e))?;
    let verifier = state.sealer.seal_str(
        upstream.pkce_verifier.expose(),
        &format!("pending:{}:pkce", pending.id),
    );
    let binding = store::pending::UpstreamBinding {
        state_hash: hash::sha256(upstream.state.expose().as_bytes()).to_vec(),
        pkce_verifier: &verifier,
        nonce: &upstream.nonce,
        consent_binding_hash: hash::sha256(nonce.as_bytes()).to_vec(),
        remembered_subject: remembered,
    };
    if !store::pending::approve(&state.pool, ctx.tenant.id, pending.id, &binding, Utc::now())
        .await?
    {
        return Err(ErrorPage::new(
            StatusCode::CONFLICT,
            "Already answered",
            "This request was already approved or has expired.",
        ));
    }
    tracing::info!(client = %client.client_id, provider = %provider.name, "consent approved; redirecting upstream");
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(upstream.url.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    pages::harden(response.headers_mut());
    Ok(response)
}
