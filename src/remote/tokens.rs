//! The user's access token at a remote server, as the gateway needs it: current (refreshed
//! first when it expires within `auth.upstream_refresh_skew`) or replaced after the remote
//! answered `401` to it.
//!
//! At most one refresh per connection runs at a time: callers in this process share one flight
//! (the refresh coordinator's [`Flights`](crate::upstream::refresh::flight::Flights)), and a
//! flight takes the connection's row lock (`SELECT … FOR UPDATE`) for the refresh, so a flight
//! on another replica waits for it and then finds the token it stored (a newer `version`)
//! instead of spending the rotated refresh token a second time — which a remote with reuse
//! detection would treat as theft. The rotated refresh token is committed before the new
//! access token is used. The lock is on this one user's row only; the remote call is bounded by
//! the upstream client's timeout.
//!
//! `invalid_grant` marks the connection `needs_reconnect`: the gateway elicits again.

use chrono::{DateTime, Duration, Utc};
use futures_util::FutureExt;
use uuid::Uuid;

use super::{RemoteError, RemoteState};
use crate::{
    crypto::hash,
    domain::{McpServer, Secret},
    services::Services,
    store::{
        audit::{self, AuditEntry},
        remote_connections::{self, Connection, ConnectionStatus},
    },
    upstream::{
        UpstreamError,
        provider::ClientAuth,
        token_endpoint::{self, ClientCredentials},
    },
};

/// A remote access token ready to send.
#[derive(Clone)]
pub struct RemoteAccess {
    pub token: Secret<String>,
    pub version: i64,
}

/// A proactive refresh shares a flight per connection; a rejected token one per connection and
/// token hash.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum FlightKey {
    Current(Uuid),
    Replace(Uuid, [u8; 32]),
}

/// What every caller of one flight gets.
pub type Flown = Result<RemoteAccess, RemoteError>;

/// Which token the caller wants.
#[derive(Clone)]
enum Want {
    /// One that does not expire within the skew.
    Current,
    /// Any but this one (the remote rejected it).
    Replace(Secret<String>),
}

impl Want {
    fn needs_refresh(&self, c: &Connection, skew: Duration, now: DateTime<Utc>) -> bool {
        match self {
            Self::Current => c.access_expires_at.is_some_and(|at| at - skew <= now),
            Self::Replace(rejected) => {
                hash::constant_time_eq(rejected.expose().as_bytes(), c.access_token.as_bytes())
            }
        }
    }
}

/// Who and what: the tenant, the user's subject, the server.
pub struct Key<'a> {
    pub tenant_id: Uuid,
    pub subject: &'a str,
    pub server: &'a McpServer,
}

fn access(c: &Connection) -> RemoteAccess {
    RemoteAccess {
        token: Secret::new(c.access_token.clone()),
        version: c.version,
    }
}

fn skew(state: &Services) -> Duration {
    state.config.auth.upstream_refresh_skew.to_chrono()
}

/// The user's current remote access token; `NotConnected` when there is none to use.
pub async fn current(state: &RemoteState, key: &Key<'_>) -> Result<RemoteAccess, RemoteError> {
    let now = Utc::now();
    let c = read(state, key).await?;
    if !Want::Current.needs_refresh(&c, skew(state), now) {
        return Ok(access(&c));
    }
    fly(state, key, FlightKey::Current(c.id), c.id, Want::Current).await
}

/// The remote answered `401` to `rejected`: refresh once (however many callers report the same
/// token) and return the new token.
pub async fn after_rejection(
    state: &RemoteState,
    key: &Key<'_>,
    rejected: &str,
) -> Result<RemoteAccess, RemoteError> {
    let c = read(state, key).await?;
    let want = Want::Replace(Secret::new(rejected.to_owned()));
    if !want.needs_refresh(&c, skew(state), Utc::now()) {
        return Ok(access(&c));
    }
    let flight = FlightKey::Replace(c.id, hash::sha256(rejected.as_bytes()));
    fly(state, key, flight, c.id, want).await
}

async fn read(state: &Services, key: &Key<'_>) -> Result<Connection, RemoteError> {
    let found = remote_connections::find(
        &state.pool,
        &state.sealer,
        key.tenant_id,
        key.subject,
        key.server.id,
    )
    .await
    .map_err(|e| RemoteError::from_store(&e))?;
    match found {
        Some(c) if c.status == ConnectionStatus::Active => Ok(c),
        _ => Err(RemoteError::NotConnected),
    }
}

async fn fly(
    state: &RemoteState,
    key: &Key<'_>,
    flight: FlightKey,
    id: Uuid,
    want: Want,
) -> Result<RemoteAccess, RemoteError> {
    let owned = (state.clone(), key.server.clone(), key.tenant_id);
    let work = move || {
        let (state, server, tenant_id) = owned;
        async move {
            let flown = refresh(&state, &server, tenant_id, id, &want).await;
            super::record(
                server.name.as_str(),
                "refresh",
                flown.as_ref().map_or_else(RemoteError::label, |_| "ok"),
            );
            flown
        }
        .boxed()
    };
    let panicked = Err(RemoteError::Internal(
        "the remote refresh task panicked".into(),
    ));
    let (flown, _) = state.flights.join(flight, work, panicked).await;
    flown
}

/// One flight: lock the row, decide again (someone may have refreshed while we waited), call
/// the remote token endpoint, store, commit.
async fn refresh(
    state: &Services,
    server: &McpServer,
    tenant_id: Uuid,
    id: Uuid,
    want: &Want,
) -> Result<RemoteAccess, RemoteError> {
    let store = |e: crate::store::StoreError| RemoteError::from_store(&e);
    let mut tx = state.pool.begin().await.map_err(|e| store(e.into()))?;
    let c = remote_connections::lock(&mut tx, &state.sealer, id)
        .await
        .map_err(store)?
        .filter(|c| c.status == ConnectionStatus::Active)
        .ok_or(RemoteError::NotConnected)?;
    if !want.needs_refresh(&c, skew(state), Utc::now()) {
        return Ok(access(&c));
    }
    let Some(refresh_token) = c.refresh_token.clone() else {
        remote_connections::mark_needs_reconnect(&mut tx, id)
            .await
            .map_err(store)?;
        tx.commit().await.map_err(|e| store(e.into()))?;
        return Err(RemoteError::NotConnected);
    };
    // Registered when the user connected; gone only if the remote refused it since.
    let registration =
        crate::store::remote_registrations::find(&state.pool, &state.sealer, server.id)
            .await
            .map_err(store)?
            .ok_or(RemoteError::NotConnected)?;
    let creds = ClientCredentials {
        client_id: &registration.client_id,
        client_secret: registration.client_secret.as_deref(),
        auth: ClientAuth::Basic,
    };
    let form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
        ("resource", registration.resource.as_str()),
    ];
    let url = url::Url::parse(&registration.token_endpoint)
        .map_err(|_| RemoteError::Internal("stored token endpoint is not a URL".into()))?;
    let answer = token_endpoint::send(
        state.upstream.http(),
        &url,
        &creds,
        form,
        Utc::now(),
        None,
        None,
    )
    .await;
    match answer {
        Ok(answer) => {
            let version =
                remote_connections::store_refreshed(&mut tx, &state.sealer, id, &answer.tokens)
                    .await
                    .map_err(store)?;
            tx.commit().await.map_err(|e| store(e.into()))?;
            Ok(RemoteAccess {
                token: Secret::new(answer.tokens.access_token),
                version,
            })
        }
        Err((UpstreamError::Rejected(_), _)) => {
            refused(tx, server, tenant_id, id).await?;
            Err(RemoteError::NotConnected)
        }
        Err((UpstreamError::Config(reason), _)) => {
            // The remote refused the bridge itself: register again next time.
            super::registration::forget(state, server.id).await;
            Err(RemoteError::Refused(reason))
        }
        Err((e, _)) => Err(RemoteError::from_upstream(&e)),
    }
}

/// The remote refused the refresh token: the connection needs the user again, recorded in
/// the audit log, in the refresh's transaction.
async fn refused(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    server: &McpServer,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(), RemoteError> {
    let store = |e: crate::store::StoreError| RemoteError::from_store(&e);
    remote_connections::mark_needs_reconnect(&mut tx, id)
        .await
        .map_err(store)?;
    let entry = AuditEntry {
        tenant_id: Some(tenant_id),
        actor: "gateway",
        action: "remote.needs_reconnect",
        target_type: Some("remote_connection"),
        target_id: Some(id.to_string()),
        before: None,
        after: Some(serde_json::json!({"server": server.name})),
        request_id: None,
    };
    audit::record(&mut tx, &entry).await.map_err(store)?;
    tx.commit().await.map_err(|e| store(e.into()))?;
    tracing::info!(server = %server.name, connection = %id,
        "the remote refused the refresh token; the user must connect again");
    Ok(())
}
