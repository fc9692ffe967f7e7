//! `GET /t/{tenant}/account`: the sign-in choice, or the user's grants and remembered consents.

use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::session::{self, AccountSession};
use crate::{
    error::ErrorPage,
    pages::{self, escape},
    services::Services,
    store::{self, grant_usage::UserGrant},
    tenancy::TenantContext,
};

#[derive(Deserialize)]
pub struct PageQuery {
    /// What the last action did (shown once, as a notice).
    done: Option<String>,
}

pub async fn show(
    State(state): State<Services>,
    Path(raw): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, ErrorPage> {
    let ctx = state.tenancy.resolve(&raw).await?;
    let Some(s) = session::current(&state, &headers, ctx.tenant.id) else {
        return sign_in(&state, &ctx).await;
    };
    let grants = store::grant_usage::of_subject(&state.pool, ctx.tenant.id, &s.subject).await?;
    let consents =
        store::consents::list_records(&state.pool, ctx.tenant.id, Some(&s.subject), None).await?;
    let csrf = session::csrf_token(&state, &s);
    let notice = match q.done.as_deref() {
        Some("revoked") => {
            "<p class=\"notice\" role=\"status\">Access revoked. That application's tokens no longer work.</p>"
        }
        Some("revoked_all") => {
            "<p class=\"notice\" role=\"status\">Access revoked for every application.</p>"
        }
        Some("forgotten") => {
            "<p class=\"notice\" role=\"status\">Approval forgotten: you will be asked again next time.</p>"
        }
        _ => "",
    };
    let mut body = format!(
        "<h1>Your account at {tenant}</h1>{notice}\
<p>Signed in as <strong>{who}</strong> <span class=\"muted\">({subject}, via {provider})</span></p>\
<h2 id=\"apps\">Applications with access to your account</h2>",
        tenant = escape(&ctx.tenant.display_name),
        who = escape(s.greeting.as_deref().unwrap_or(&s.subject)),
        subject = escape(&s.subject),
        provider = escape(&s.provider),
    );
    if grants.is_empty() {
        body.push_str("<p>No application has access to your account.</p>");
    }
    for g in &grants {
        body.push_str(&grant_card(&ctx, g));
    }
    if grants.len() > 1 {
        body.push_str(&format!(
            "<p><a class=\"button danger\" href=\"{}/grants/revoke-all\">Revoke access for all applications</a></p>",
            escape(&super::page_url(&ctx))
        ));
    }
    body.push_str("<h2 id=\"consents\">Remembered approvals</h2><p class=\"muted\">While an approval is remembered, that application is not asked to show you the approval page again.</p>");
    let live: Vec<_> = consents.iter().filter(|c| c.revoked_at.is_none()).collect();
    if live.is_empty() {
        body.push_str("<p>No remembered approvals.</p>");
    }
    for c in live {
        body.push_str(&format!(
            "<div class=\"card\"><h3><code>{client}</code></h3><dl><dt>MCP server</dt><dd>{server}</dd>\
<dt>Permissions</dt><dd>{scopes}</dd><dt>Approved</dt><dd>{granted}</dd></dl>\
<a class=\"button\" href=\"{base}/consents/{id}/forget\">Forget this approval</a></div>",
            client = escape(&c.client_id),
            server = escape(c.mcp_server.as_deref().unwrap_or("any")),
            scopes = codes(&c.scopes),
            granted = when(c.granted_at),
            base = escape(&super::page_url(&ctx)),
            id = c.id,
        ));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"{base}/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\">Sign out</button></form>",
        base = escape(&super::page_url(&ctx)),
    ));
    Ok(html(&ctx, &s, "Your account", &body))
}

/// The frame of every signed-in account page: the tenant's name and the page's sections.
pub fn html(ctx: &TenantContext, _s: &AccountSession, title: &str, body: &str) -> Response {
    let base = escape(&super::page_url(ctx));
    let nav = format!(
        "<strong>{}</strong><a href=\"{base}#apps\">Applications</a><a href=\"{base}#consents\">Approvals</a>",
        escape(&ctx.tenant.display_name)
    );
    let mut response = Html(pages::console_layout(title, &nav, body)).into_response();
    pages::harden(response.headers_mut());
    response
}

async fn sign_in(state: &Services, ctx: &TenantContext) -> Result<Response, ErrorPage> {
    let providers = state.tenancy.providers(ctx).await?;
    let base = escape(&super::page_url(ctx));
    let buttons: String = providers
        .iter()
        .map(|p| {
            format!(
                "<p><a class=\"button primary\" href=\"{base}/login?provider={name}\">Sign in with {label}</a></p>",
                name = escape(&url_encode(p.name.as_str())),
                label = escape(p.name.as_str()),
            )
        })
        .collect();
    let body = format!(
        "<h1>Your account at {tenant}</h1>\
<p>Sign in to see which applications can use your account through this organisation's MCP servers, and to revoke their access.</p>{buttons}",
        tenant = escape(&ctx.tenant.display_name),
    );
    let nav = format!("<strong>{}</strong>", escape(&ctx.tenant.display_name));
    let mut response = Html(pages::console_layout("Sign in", &nav, &body)).into_response();
    pages::harden(response.headers_mut());
    Ok(response)
}

fn grant_card(ctx: &TenantContext, g: &UserGrant) -> String {
    let name = g.client_name.as_deref().unwrap_or(&g.client_id);
    let status = if g.status == "needs_reauth" {
        "<span class=\"warn\">Sign in again needed</span> (the identity provider no longer accepts this access)"
    } else {
        "Active"
    };
    format!(
        "<div class=\"card\"><h3>{name}</h3><dl>\
<dt>Sends results to</dt><dd><code>{host}</code></dd>\
<dt>Registered by</dt><dd>{kind}</dd>\
<dt>MCP servers</dt><dd>{servers}</dd><dt>Permissions</dt><dd>{scopes}</dd>\
<dt>First authorized</dt><dd>{first}</dd><dt>Last used</dt><dd>{last}</dd>\
<dt>Signed in with</dt><dd>{provider}</dd><dt>Status</dt><dd>{status}</dd>\
<dt>Client id</dt><dd><code>{client_id}</code></dd></dl>\
<a class=\"button danger\" href=\"{base}/grants/{id}/revoke\">Revoke access</a></div>",
        name = escape(name),
        host = escape(&redirect_host(g.redirect_uri.as_deref())),
        kind = registration_kind(&g.client_kind),
        servers = codes(&g.servers),
        scopes = codes(&g.scopes),
        first = when(g.created_at),
        last = g.last_used_at.map(when).unwrap_or_else(|| "not yet".into()),
        provider = escape(&g.provider),
        client_id = escape(&g.client_id),
        base = escape(&super::page_url(ctx)),
        id = g.id,
    )
}

/// Where the client receives codes: the host, with the port for loopback URIs (what tells one
/// local program from another).
pub fn redirect_host(redirect_uri: Option<&str>) -> String {
    let Some(uri) = redirect_uri else {
        return "unknown".into();
    };
    let Ok(url) = url::Url::parse(uri) else {
        return uri.to_owned();
    };
    let host = url.host_str().unwrap_or(url.scheme()).to_owned();
    match url.port() {
        Some(port) if crate::domain::redirect_uri::is_loopback(&url) => {
            format!("{host}:{port} (this computer)")
        }
        _ => host,
    }
}

fn registration_kind(kind: &str) -> &'static str {
    match kind {
        "dynamic" => "itself (dynamic client registration)",
        "metadata_document" => "its client ID metadata document",
        _ => "the operator (configured)",
    }
}

fn codes(items: &[String]) -> String {
    if items.is_empty() {
        return "<span class=\"muted\">none yet</span>".into();
    }
    items
        .iter()
        .map(|s| format!("<code>{}</code>", escape(s)))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
