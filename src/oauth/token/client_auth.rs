//! Client authentication at the token, revocation and introspection endpoints (RFC 6749
//! section 2.3): `client_secret_basic`, `client_secret_post`, or `none` for public clients.

use crate::tenancy::TenantContext;
use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Utc;

use crate::{
    crypto::hash,
    domain::{AuthMethod, Client},
    error::OAuthError,
    oauth::OAuthState,
    oauth::{clients, params::Params},
};

/// The credentials a request presented.
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: AuthMethod,
}

/// Reads the credentials; using two methods at once is an error (RFC 6749 section 2.3).
pub fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    if let Some(encoded) = basic {
        if params.contains("client_secret") {
            return Err(OAuthError::invalid_request(
                "use one client authentication method",
            ));
        }
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let (id, secret) = decoded
            .as_deref()
            .and_then(|d| d.split_once(':'))
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let (id, secret) = (decode(id), decode(secret));
        if params.get("client_id").is_some_and(|body| body != id) {
            return Err(OAuthError::invalid_request(
                "client_id differs from the authenticated client",
            ));
        }
        return Ok(Presented {
            client_id: id,
            secret: Some(secret),
            method: AuthMethod::ClientSecretBasic,
        });
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    Ok(match params.get("client_secret") {
        Some(secret) => Presented {
            client_id: client_id.to_owned(),
            secret: Some(secret.to_owned()),
            method: AuthMethod::ClientSecretPost,
        },
        None => Presented {
            client_id: client_id.to_owned(),
            secret: None,
            method: AuthMethod::None,
        },
    })
}

/// Authenticates the client as it registered: a confidential client must prove its secret
/// with its registered method, a public client must not present one.
pub async fn authenticate(
    state: &OAuthState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, OAuthError> {
    let p = presented(headers, params)?;
    crate::telemetry::trace_context::record_client_id(&p.client_id);
    let client = client(state, ctx, &p.client_id).await?;
    let ok = match (client.auth_method, p.method, &client.secret_hash, &p.secret) {
        (AuthMethod::None, AuthMethod::None, _, None) => true,
        (registered, used, Some(stored), Some(secret)) if registered == used => {
            hash::constant_time_eq(&hash::sha256(secret.as_bytes()), stored)
        }
        _ => false,
    };
    if ok {
        Ok(client)
    } else {
        tracing::info!(client = %crate::crypto::hash::fingerprint(&p.client_id), "client authentication failed");
        Err(OAuthError::invalid_client("client authentication failed"))
    }
}

/// The client `client_id`, from memory when this replica may serve it from there
/// (`client_cache`).
async fn client(
    state: &OAuthState,
    ctx: &TenantContext,
    client_id: &str,
) -> Result<Client, OAuthError> {
    if let Some(client) = state.clients.get(ctx.tenant.id, client_id).await {
        return Ok(client);
    }
    let ticket = state.clients.ticket();
    let client = clients::resolve_client(state, ctx, client_id, Utc::now())
        .await
        .map_err(|e| match e {
            clients::ClientLookupError::Store(e) => OAuthError::database("client lookup", e),
            e => OAuthError::internal("client lookup", &e),
        })?
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    state.clients.remember(ticket, &client).await;
    Ok(client)
}
