//! The bridge's client registration at a remote authorization server, by the first method
//! that applies (MCP authorization spec, 2025-11-25, "Client Registration Approaches"):
//!
//! 1. the client the operator registered by hand (`remote_oauth.client_id`);
//! 2. a client ID metadata document the bridge publishes at its own https URL, when the
//!    authorization server advertises `client_id_metadata_document_supported`;
//! 3. dynamic client registration (RFC 7591) at its `registration_endpoint`.
//!
//! What was obtained is stored (secret sealed) and reused; the remote refusing it
//! (`invalid_client`) makes [`forget`] drop it so the next connect registers again.

use serde::Deserialize;
use url::Url;

use super::{RemoteError, discovery};
use crate::{
    domain::McpServer,
    services::Services,
    store::remote_registrations::{self, Registration, RegistrationMethod},
};

/// The bridge's redirect URI at every remote authorization server of a tenant.
pub fn callback_url(state: &Services, tenant: &str) -> String {
    format!("{}/remote/callback", state.issuer(tenant))
}

/// Where the bridge publishes its client ID metadata document for `server` (also its client id
/// there).
pub fn metadata_document_url(state: &Services, tenant: &str, server: &str) -> String {
    format!(
        "{}/remote/{server}/client-metadata.json",
        state.issuer(tenant)
    )
}

/// The stored registration of `server`, or a new one (discovery, then registration).
pub async fn ensure(
    state: &Services,
    tenant: &str,
    server: &McpServer,
) -> Result<Registration, RemoteError> {
    let stored = remote_registrations::find(&state.pool, &state.sealer, server.id)
        .await
        .map_err(|e| RemoteError::from_store(&e))?;
    if let Some(found) = stored {
        return Ok(found);
    }
    let settings = remote_registrations::settings(&state.pool, &state.sealer, server.id)
        .await
        .map_err(|e| RemoteError::from_store(&e))?
        .ok_or(RemoteError::NotConnected)?;
    let found = discovery::discover(state.upstream.http(), &server.upstream_url).await?;
    let scopes = settings
        .scopes
        .clone()
        .or_else(|| found.resource.scopes_supported.clone())
        .unwrap_or_default();
    let (method, client_id, client_secret) = match settings.client_id {
        Some(id) => (
            RegistrationMethod::Preconfigured,
            id,
            settings.client_secret,
        ),
        None if found.server.client_id_metadata_document_supported
            && state.config.public_url.scheme() == "https" =>
        {
            let id = metadata_document_url(state, tenant, server.name.as_str());
            (RegistrationMethod::MetadataDocument, id, None)
        }
        None => {
            let endpoint = found.server.registration_endpoint.clone().ok_or_else(|| {
                RemoteError::Registration(
                    "no client configured and the server offers no way to register".into(),
                )
            })?;
            let (id, secret) = register(state, tenant, &endpoint, &scopes).await?;
            (RegistrationMethod::Dynamic, id, secret)
        }
    };
    let registration = Registration {
        mcp_server_id: server.id,
        method,
        issuer: found.server.issuer,
        resource: found.resource.resource,
        authorization_endpoint: found.server.authorization_endpoint.to_string(),
        token_endpoint: found.server.token_endpoint.to_string(),
        revocation_endpoint: found.server.revocation_endpoint.map(String::from),
        scopes,
        client_id,
        client_secret,
    };
    remote_registrations::save(&state.pool, &state.sealer, &registration)
        .await
        .map_err(|e| RemoteError::from_store(&e))?;
    super::record(server.name.as_str(), "register", method.as_str());
    tracing::info!(server = %server.name, method = method.as_str(),
        "registered the bridge at a remote authorization server");
    Ok(registration)
}

/// The remote refused the registration: drop it (the next connect registers again).
pub async fn forget(state: &Services, server: uuid::Uuid) {
    if let Err(e) = remote_registrations::forget(&state.pool, server).await {
        tracing::warn!(error = %e, "could not forget a refused remote registration");
    }
}

#[derive(Deserialize)]
struct Registered {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

/// RFC 7591 section 3.1: a confidential web client with the tenant's callback.
async fn register(
    state: &Services,
    tenant: &str,
    endpoint: &Url,
    scopes: &[String],
) -> Result<(String, Option<String>), RemoteError> {
    let mut metadata = serde_json::json!({
        "client_name": format!("mcp-auth-bridge ({tenant})"),
        "redirect_uris": [callback_url(state, tenant)],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "application_type": "web",
    });
    if !scopes.is_empty()
        && let Some(object) = metadata.as_object_mut()
    {
        object.insert("scope".into(), scopes.join(" ").into());
    }
    let response = state
        .upstream
        .http()
        .post(endpoint.clone())
        .json(&metadata)
        .send()
        .await
        .map_err(|e| {
            RemoteError::from_upstream(&crate::upstream::UpstreamError::from_transport(&e))
        })?;
    let status = response.status();
    let body = crate::upstream::http::read_body(response)
        .await
        .map_err(|e| RemoteError::from_upstream(&e))?;
    if !status.is_success() {
        return Err(RemoteError::Registration(format!(
            "the registration endpoint answered {}",
            status.as_u16()
        )));
    }
    let registered: Registered = serde_json::from_slice(&body).map_err(|_| {
        RemoteError::Registration("the registration answer has no client_id".into())
    })?;
    Ok((registered.client_id, registered.client_secret))
}

/// The client ID metadata document the bridge publishes for `server`.
pub fn metadata_document(state: &Services, tenant: &str, server: &str) -> serde_json::Value {
    serde_json::json!({
        "client_id": metadata_document_url(state, tenant, server),
        "client_name": format!("mcp-auth-bridge ({tenant})"),
        "redirect_uris": [callback_url(state, tenant)],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}
