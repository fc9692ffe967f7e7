//! Ending connections: the remote's tokens are revoked at the remote (RFC 7009, when its
//! authorization server advertises a `revocation_endpoint`) and the row is deleted. Revocation
//! at the remote is best effort (bounded, logged): the row is deleted first, so a remote that is
//! down never keeps a token usable through the bridge.

use std::time::Duration;

use uuid::Uuid;

use super::RemoteError;
use crate::{
    services::Services,
    store::{
        audit::{self, AuditEntry},
        remote_connections::{self, Connection, Deleted},
        remote_registrations::{self, Registration},
    },
};

/// Bound on each revocation request.
const REVOKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Disconnects one connection of a tenant (admin API). `None` when there was none.
pub async fn disconnect(
    state: &Services,
    tenant_id: Uuid,
    id: Uuid,
    actor: &str,
) -> Result<Option<Deleted>, RemoteError> {
    let deleted = remote_connections::delete(&state.pool, &state.sealer, tenant_id, id)
        .await
        .map_err(|e| RemoteError::from_store(&e))?;
    let Some(deleted) = deleted else {
        return Ok(None);
    };
    ended(state, tenant_id, &deleted, actor).await;
    Ok(Some(deleted))
}

/// Disconnects every remote server of `subject` (their grant was revoked). Returns how many.
pub async fn disconnect_subject(
    state: &Services,
    tenant_id: Uuid,
    subject: &str,
    actor: &str,
) -> Result<usize, RemoteError> {
    let deleted =
        remote_connections::delete_subject(&state.pool, &state.sealer, tenant_id, subject)
            .await
            .map_err(|e| RemoteError::from_store(&e))?;
    for d in &deleted {
        ended(state, tenant_id, d, actor).await;
    }
    Ok(deleted.len())
}

/// After a connection's row was deleted: revoke its tokens at the remote, audit.
pub async fn ended(state: &Services, tenant_id: Uuid, d: &Deleted, actor: &str) {
    match remote_registrations::find(&state.pool, &state.sealer, d.mcp_server_id).await {
        Ok(Some(registration)) => at_remote(state, &registration, &d.connection).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "no registration to revoke a remote token with"),
    }
    let entry = AuditEntry {
        tenant_id: Some(tenant_id),
        actor,
        action: "remote.disconnect",
        target_type: Some("remote_connection"),
        target_id: Some(d.connection.id.to_string()),
        before: Some(serde_json::json!({"subject": d.subject, "mcp_server_id": d.mcp_server_id})),
        after: None,
        request_id: None,
    };
    if let Ok(mut conn) = state.pool.acquire().await
        && let Err(e) = audit::record(&mut conn, &entry).await
    {
        tracing::warn!(error = %e, "could not audit a remote disconnect");
    }
}

/// RFC 7009 at the remote: the refresh token first (revoking it usually ends the access token
/// too), then the access token. Nothing when no endpoint is advertised.
pub async fn at_remote(state: &Services, registration: &Registration, c: &Connection) {
    let Some(endpoint) = registration.revocation_endpoint.as_deref() else {
        return;
    };
    let tokens = [
        c.refresh_token.as_deref().map(|t| (t, "refresh_token")),
        Some((c.access_token.as_str(), "access_token")),
    ];
    for (token, hint) in tokens.into_iter().flatten() {
        let mut form = vec![("token", token), ("token_type_hint", hint)];
        let mut request = state.upstream.http().post(endpoint).timeout(REVOKE_TIMEOUT);
        match registration.client_secret.as_deref() {
            Some(secret) => request = request.basic_auth(&registration.client_id, Some(secret)),
            None => form.push(("client_id", registration.client_id.as_str())),
        }
        let outcome = match request.form(&form).send().await {
            Ok(r) if r.status().is_success() => "ok",
            Ok(_) => "refused",
            Err(_) => "unavailable",
        };
        metrics::counter!("remote_oauth_revocations_total", "outcome" => outcome).increment(1);
        if outcome != "ok" {
            tracing::warn!(outcome, hint, "revoking a remote token failed");
        }
    }
}
