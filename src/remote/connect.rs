//! Connecting a user to a remote server, in the browser:
//!
//! 1. `GET /t/{t}/remote/connect?link=…` — the one-time link from the elicitation, bound to the
//!    user's grant and the server, consumed here. A browser that the bridge remembers as another
//!    user of the tenant (the signed user cookie of the login flow) is refused. The bridge then
//!    sends the browser to the remote authorization server: authorization code with PKCE S256,
//!    `state`, `resource` (RFC 8707), and sets a cookie binding this browser to that `state`.
//! 2. `GET /t/{t}/remote/callback?code&state` — accepted only from the browser holding the
//!    binding of that `state` (so a victim cannot be made to finish a flow an attacker started,
//!    attaching the victim's remote account to the attacker's user, nor the reverse), with the
//!    issuer checked when the remote sends `iss` (RFC 9207). The code is exchanged and the tokens
//!    stored sealed for (tenant, subject, server), replacing (and revoking) an earlier connection.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{Duration, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::{RemoteError, registration};
use crate::{
    crypto::{hash, random},
    domain::McpServer,
    pages,
    services::Services,
    store::{
        audit::{self, AuditEntry},
        remote_connections::{self, ConnectFor},
    },
    tenancy::TenantContext,
};

/// How long the user has at the remote authorization server.
const PENDING_TTL: Duration = Duration::minutes(10);

#[derive(Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    link: Option<String>,
}

/// `GET /t/{tenant}/remote/connect?link=…`
pub async fn start(
    State(state): State<Services>,
    Path(tenant): Path<String>,
    Query(q): Query<StartQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(ctx) = state.tenancy.resolve(&tenant).await else {
        return page(
            StatusCode::NOT_FOUND,
            "Unknown tenant",
            "There is no such tenant here.",
        );
    };
    let Some(link) = q.link.filter(|l| !l.is_empty() && l.len() <= 128) else {
        return page(
            StatusCode::BAD_REQUEST,
            "No connect link",
            "Open the link your MCP client showed you.",
        );
    };
    let who = match remote_connections::consume_link(&state.pool, &link, Utc::now()).await {
        Ok(Some(who)) if who.tenant_id == ctx.tenant.id => who,
        Ok(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Link expired",
                "This connect link was already used or has expired. Retry the request in your MCP client to get a new one.",
            );
        }
        Err(e) => return failure(&state, "", &RemoteError::from_store(&e)),
    };
    if let Some(remembered) = crate::cookies::remembered_user(&state, &headers, ctx.slug())
        && remembered != who.subject
    {
        refused(&state, &ctx, &who, "connect link opened by another user").await;
        return page(
            StatusCode::FORBIDDEN,
            "Not your link",
            "This connect link belongs to another user of this tenant. Nothing was connected.",
        );
    }
    let Some(server) = server_of(&state, &ctx, &who).await else {
        return page(
            StatusCode::NOT_FOUND,
            "Unknown server",
            "This MCP server no longer exists.",
        );
    };
    match redirect_to_remote(&state, &ctx, &server, &who).await {
        Ok(response) => response,
        Err(e) => failure(&state, server.name.as_str(), &e),
    }
}

pub(super) async fn server_of(
    state: &Services,
    ctx: &TenantContext,
    who: &ConnectFor,
) -> Option<McpServer> {
    let servers = state.tenancy.servers(ctx).await.ok()?;
    servers
        .into_iter()
        .find(|s| s.id == who.mcp_server_id && s.remote_oauth)
}

async fn redirect_to_remote(
    state: &Services,
    ctx: &TenantContext,
    server: &McpServer,
    who: &ConnectFor,
) -> Result<Response, RemoteError> {
    let registration = registration::ensure(state, ctx.slug(), server).await?;
    let verifier = random::token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let oauth_state = random::token();
    let nonce = random::token();
    remote_connections::insert_pending(
        &state.pool,
        &state.sealer,
        &oauth_state,
        &nonce,
        &verifier,
        who,
        Utc::now() + PENDING_TTL,
    )
    .await
    .map_err(|e| RemoteError::from_store(&e))?;
    let mut url = Url::parse(&registration.authorization_endpoint)
        .map_err(|_| RemoteError::Internal("stored authorization endpoint is not a URL".into()))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &registration.client_id)
            .append_pair(
                "redirect_uri",
                &registration::callback_url(state, ctx.slug()),
            )
            .append_pair("state", &oauth_state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", &registration.resource);
        if !registration.scopes.is_empty() {
            q.append_pair("scope", &registration.scopes.join(" "));
        }
    }
    let mut response = (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response();
    let cookie = binding_cookie(state, &oauth_state, &nonce, PENDING_TTL.num_seconds());
    response.headers_mut().append(header::SET_COOKIE, cookie);
    pages::harden(response.headers_mut());
    super::record(server.name.as_str(), "connect", "started");
    Ok(response)
}

pub(super) async fn refused(state: &Services, ctx: &TenantContext, who: &ConnectFor, why: &str) {
    tracing::warn!(tenant = ctx.slug(), why, "remote connect refused");
    metrics::counter!("remote_oauth_refused_total").increment(1);
    let entry = AuditEntry {
        tenant_id: Some(ctx.tenant.id),
        actor: "user",
        action: "remote.connect_refused",
        target_type: Some("mcp_server"),
        target_id: Some(who.mcp_server_id.to_string()),
        before: None,
        after: Some(serde_json::json!({"subject": who.subject, "why": why})),
        request_id: None,
    };
    if let Ok(mut conn) = state.pool.acquire().await
        && let Err(e) = audit::record(&mut conn, &entry).await
    {
        tracing::warn!(error = %e, "could not audit a refused remote connect");
    }
}

pub(super) fn failure(_state: &Services, server: &str, e: &RemoteError) -> Response {
    if !server.is_empty() {
        super::record(server, "connect", e.label());
    }
    tracing::warn!(server, reason = %e, "remote connect failed");
    match e {
        RemoteError::Unavailable { .. } | RemoteError::DatabaseUnavailable => {
            let mut r = page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                "The server or the bridge is unavailable right now. Retry from your MCP client in a moment.",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(5u64));
            r
        }
        _ => page(
            StatusCode::BAD_GATEWAY,
            "Could not connect",
            "The MCP server's authorization server could not be used. Ask your administrator to check its configuration.",
        ),
    }
}

pub(super) fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let mut response = (status, Html(pages::error_page(title, message))).into_response();
    pages::harden(response.headers_mut());
    response
}

/// `mab-remote-{16 hex of SHA-256(state)}`, `__Host-` under https.
pub(super) fn cookie_name(state: &Services, oauth_state: &str) -> String {
    let prefix = if state.config.public_url.scheme() == "https" {
        "__Host-"
    } else {
        ""
    };
    let digest = hash::hex(&hash::sha256(oauth_state.as_bytes()));
    format!(
        "{prefix}mab-remote-{}",
        digest.get(..16).unwrap_or_default()
    )
}

pub(super) fn binding_cookie(
    state: &Services,
    oauth_state: &str,
    nonce: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if state.config.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={nonce}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(state, oauth_state)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("mab-invalid=1"))
}

pub(super) fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `GET /t/{tenant}/remote/{server}/client-metadata.json`: the bridge's client ID metadata
/// document for that server's authorization server.
pub async fn metadata_document(
    State(state): State<Services>,
    Path((tenant, server)): Path<(String, String)>,
) -> Response {
    let Ok(ctx) = state.tenancy.resolve(&tenant).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let known = state.tenancy.servers(&ctx).await.is_ok_and(|servers| {
        servers
            .iter()
            .any(|s| s.remote_oauth && s.name.as_str() == server)
    });
    if !known {
        return StatusCode::NOT_FOUND.into_response();
    }
    axum::Json(registration::metadata_document(&state, ctx.slug(), &server)).into_response()
}
