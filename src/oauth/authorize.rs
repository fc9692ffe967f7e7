//! `GET /t/{tenant}/authorize`: validates the request (client and redirect URI first, never
//! redirecting before both are known good), records a pending authorization, and shows the
//! consent page — or, when this user already consented, goes straight upstream.

use crate::tenancy::TenantContext;
use axum::{
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use uuid::Uuid;

use super::{consent, params::Params, redirect};
use crate::{
    domain::{
        Client, ClientKind, GrantType, McpServer, PendingAuthorization, PkceChallenge, Scopes,
    },
    error::{ErrorCode, ErrorPage},
    oauth::OAuthState,
    store,
};

/// A request whose client and redirect URI are validated: errors from here on go back to the
/// client by redirect.
struct Trusted {
    ctx: TenantContext,
    client: Client,
    redirect_uri: String,
    params: Params,
}

pub async fn authorize(
    State(state): State<OAuthState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let trusted = match trust(&state, &raw, query.as_deref().unwrap_or("")).await {
        Ok(t) => t,
        Err(page) => return page.into_response(),
    };
    let fail = |code: ErrorCode, description: &str| {
        redirect::error(
            &trusted.redirect_uri,
            code,
            description,
            trusted.params.get("state"),
            &trusted.ctx.issuer,
            StatusCode::FOUND,
        )
    };
    match validate(&state, &trusted).await {
        Ok(pending) => match start(&state, &trusted, pending, &headers).await {
            Ok(response) => response,
            Err(page) => page.into_response(),
        },
        Err((code, description)) => fail(code, &description),
    }
}

async fn trust(state: &OAuthState, raw: &str, query: &str) -> Result<Trusted, ErrorPage> {
    let ctx = state.tenancy.resolve(raw).await?;
    let bad = |message: String| {
        ErrorPage::new(
            StatusCode::BAD_REQUEST,
            "Invalid authorization request",
            message,
        )
    };
    let params = Params::parse(query.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let client_id = params
        .get("client_id")
        .ok_or_else(|| bad("client_id is missing.".into()))?;
    let client = super::clients::resolve_client(state, &ctx, client_id, Utc::now())
        .await
        .map_err(|e| match e {
            super::clients::ClientLookupError::Store(e) => ErrorPage::database("client lookup", e),
            e => bad(format!("The client could not be identified: {e}.")),
        })?
        .ok_or_else(|| {
            bad("This client is not registered with this authorization server.".into())
        })?;
    let redirect_uri = match params.get("redirect_uri") {
        Some(requested) => match client.redirect_uri_for(requested) {
            Some(_) => requested.to_owned(),
            None => {
                return Err(bad(
                    "redirect_uri does not match any URI registered for this client.".into(),
                ));
            }
        },
        None => match client.redirect_uris.as_slice() {
            [only] => only.as_str().to_owned(),
            _ => return Err(bad("redirect_uri is required.".into())),
        },
    };
    store::clients::touch(&state.pool, client.id, Utc::now()).await?;
    Ok(Trusted {
        ctx,
        client,
        redirect_uri,
        params,
    })
}

type Invalid = (ErrorCode, String);

async fn validate(state: &OAuthState, t: &Trusted) -> Result<PendingAuthorization, Invalid> {
    let p = &t.params;
    if p.get("response_type") != Some("code") {
        return Err((
            ErrorCode::UnsupportedResponseType,
            "response_type must be code".into(),
        ));
    }
    if !t.client.allows(GrantType::AuthorizationCode) {
        return Err((
            ErrorCode::UnauthorizedClient,
            "client may not use the authorization code grant".into(),
        ));
    }
    let challenge = PkceChallenge::parse(p.get("code_challenge"), p.get("code_challenge_method"))
        .map_err(|e| (ErrorCode::InvalidRequest, e.to_string()))?;
    let internal = |e: crate::store::StoreError| {
        // `temporarily_unavailable` when the database is down (RFC 6749 section 4.1.2.1).
        let e = crate::error::OAuthError::from(e);
        (e.code, e.description.into_owned())
    };
    let servers = state.tenancy.servers(&t.ctx).await.map_err(internal)?;
    let server = pick_server(state, t, &servers)?;
    let scopes = pick_scopes(t, server)?;
    let providers = state.tenancy.providers(&t.ctx).await.map_err(internal)?;
    let provider = server
        .provider_id
        .and_then(|id| providers.iter().find(|p| p.id == id))
        .or(providers.first())
        .ok_or((
            ErrorCode::ServerError,
            "no upstream identity provider is configured".into(),
        ))?;
    let now = Utc::now();
    Ok(PendingAuthorization {
        id: Uuid::new_v4(),
        tenant_id: t.ctx.tenant.id,
        client_pk: t.client.id,
        provider_id: provider.id,
        mcp_server_id: server.id,
        redirect_uri: t.redirect_uri.clone(),
        client_state: p.get("state").map(str::to_owned),
        code_challenge: challenge,
        scopes,
        resource: state.resource_url(t.ctx.slug(), server.name.as_str()),
        consent_binding_hash: None,
        upstream_nonce: None,
        remembered_subject: None,
        expires_at: now + state.config.auth.pending_authorization_ttl.to_chrono(),
    })
}

/// RFC 8707: `resource` names one of the tenant's MCP servers; without it, a tenant with a
/// single server means that one.
fn pick_server<'a>(
    state: &OAuthState,
    t: &Trusted,
    servers: &'a [McpServer],
) -> Result<&'a McpServer, Invalid> {
    match t.params.get("resource") {
        Some(resource) => {
            let wanted = resource.trim_end_matches('/');
            servers
                .iter()
                .find(|s| state.resource_url(t.ctx.slug(), s.name.as_str()) == wanted)
                .ok_or((
                    ErrorCode::InvalidTarget,
                    "resource is not an MCP server of this tenant".into(),
                ))
        }
        None => match servers {
            [only] => Ok(only),
            _ => Err((
                ErrorCode::InvalidTarget,
                "resource is required: this tenant has several MCP servers".into(),
            )),
        },
    }
}

fn pick_scopes(t: &Trusted, server: &McpServer) -> Result<Scopes, Invalid> {
    let allowed = Scopes::from_trusted(t.ctx.tenant.scopes.clone());
    let requested = match t.params.get("scope") {
        Some(s) => Scopes::parse(s).map_err(|e| (ErrorCode::InvalidScope, e.to_string()))?,
        None => Scopes::from_trusted(
            server
                .scopes
                .clone()
                .unwrap_or_else(|| t.ctx.tenant.scopes.clone()),
        ),
    };
    if !requested.is_subset_of(&allowed) {
        return Err((
            ErrorCode::InvalidScope,
            "a requested scope is not offered by this server".into(),
        ));
    }
    // Only an operator's registration limits scopes. A dynamically registered (or metadata
    // document) client chose its `scope` itself and anyone may register another with more, so
    // that value protects nothing; and MCP clients register with the scope of the first 401
    // they saw, which made every later step-up (`403 insufficient_scope`, a new authorization
    // for the wider scope) fail here. The user still consents to every scope granted.
    if t.client.kind == ClientKind::Static
        && let Some(registered) = t
            .client
            .scope
            .as_deref()
            .and_then(|s| Scopes::parse(s).ok())
        && !requested.is_subset_of(&registered)
    {
        return Err((
            ErrorCode::InvalidScope,
            "a requested scope was not registered for this client".into(),
        ));
    }
    Ok(requested)
}

async fn start(
    state: &OAuthState,
    t: &Trusted,
    pending: PendingAuthorization,
    headers: &HeaderMap,
) -> Result<Response, ErrorPage> {
    store::pending::insert(&state.pool, &pending).await?;
    let remembered = crate::cookies::remembered_user(state, headers, t.ctx.slug());
    if let Some(subject) = remembered {
        let scopes = pending.scopes.to_vec();
        let earlier = store::consents::Consent {
            client_pk: t.client.id,
            subject: &subject,
            mcp_server_id: pending.mcp_server_id,
            scopes: &scopes,
            redirect_uri: &pending.redirect_uri,
        };
        if store::consents::covers(&state.pool, &earlier, consent::redirect_match(&t.client))
            .await?
        {
            // The cookie is a hint, never an authorization: the callback checks that this same
            // subject logs in upstream, or shows the consent page after all.
            tracing::info!(client = %t.client.client_id, "consent already given; going upstream");
            return consent::go_upstream(state, &t.ctx, &t.client, &pending, &subject).await;
        }
    }
    consent::render(state, &t.ctx, &t.client, &pending).await
}
