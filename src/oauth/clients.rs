//! Finding the client behind a `client_id`, as `/authorize` and `/token` need it: a registered
//! (dynamic or static) client from the store, or — for an `https` URL — the client described by
//! its metadata document, from the cache while fresh, otherwise fetched, checked and stored.

use crate::tenancy::TenantContext;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    client_metadata::{RawMetadata, Rules, validate},
    client_metadata_document::{self as document, FetchError},
};
use crate::{
    domain::{AuthMethod, Client, ClientKind},
    services::Services,
    store::{self, StoreError, clients::NewClient},
};

/// Why a `client_id` could not be turned into a client. An unknown plain `client_id` is not an
/// error: [`resolve_client`] returns `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum ClientLookupError {
    /// The metadata document URL answered 404 or 410.
    #[error("the client metadata document does not exist")]
    NotFound,
    /// The URL or the document breaks a rule; the reason is safe to show to the client
    /// developer (it names fields, never echoes document content).
    #[error("invalid client metadata document: {0}")]
    InvalidDocument(String),
    /// The document could not be fetched (timeout, connection, status, size, type).
    #[error("the client metadata document could not be fetched: {0}")]
    FetchFailed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FetchError> for ClientLookupError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::NotFound => Self::NotFound,
            FetchError::Forbidden => Self::InvalidDocument(e.to_string()),
            FetchError::Unresolvable | FetchError::Failed(_) | FetchError::Status(_) => {
                Self::FetchFailed(e.to_string())
            }
        }
    }
}

/// The client for `client_id` in this tenant at `now`.
///
/// - A registered client (dynamic or static) is returned as stored.
/// - With `registration.metadata_documents` on, a `client_id` shaped like a document URL is
///   served from the stored copy while `metadata_expires_at` is after `now`; otherwise the
///   document is fetched (SSRF-guarded), validated and upserted with a new expiry.
/// - Anything else is `Ok(None)`: no such client.
pub async fn resolve_client(
    state: &Services,
    ctx: &TenantContext,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Client>, ClientLookupError> {
    crate::telemetry::record_client_id(client_id);
    let pool = &state.pool;
    let registered = store::clients::find(pool, ctx.tenant.id, client_id).await?;
    if let Some(client) = registered
        .as_ref()
        .filter(|c| c.kind != ClientKind::MetadataDocument)
    {
        return Ok(Some(client.clone()));
    }
    let config = &state.config.registration;
    if !config.metadata_documents {
        return Ok(None);
    }
    let looks_like_url = client_id.starts_with("https://")
        || (config.allow_private_metadata_hosts && client_id.starts_with("http://"));
    if !looks_like_url {
        return Ok(None);
    }
    let url = document::document_url(client_id, config.allow_private_metadata_hosts).ok_or_else(
        || {
            ClientLookupError::InvalidDocument(
                "client_id is not a valid metadata document URL".into(),
            )
        },
    )?;
    if registered.is_some() {
        if let Some(fresh) =
            store::clients::find_fresh_document(pool, ctx.tenant.id, client_id, now).await?
        {
            return Ok(Some(fresh));
        }
    }
    let fetched = document::fetch(
        &url,
        config.metadata_fetch_timeout.get(),
        config.allow_private_metadata_hosts,
    )
    .await?;
    let expires_at = now
        + chrono::Duration::from_std(fetched.max_age)
            .unwrap_or_else(|_| chrono::Duration::hours(1));
    let client = store_document(state, ctx, client_id, &fetched.body, expires_at).await?;
    tracing::info!(
        tenant = ctx.slug(),
        client_id,
        %expires_at,
        "client metadata document fetched"
    );
    Ok(Some(client))
}

/// Draft section 4: the document must name this exact `client_id`, carry no shared secret and
/// use no secret-based authentication; the rest follows RFC 7591 section 2 like a registration.
async fn store_document(
    state: &Services,
    ctx: &TenantContext,
    client_id: &str,
    body: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<Client, ClientLookupError> {
    let invalid = |reason: &str| ClientLookupError::InvalidDocument(reason.to_owned());
    let value: Value = serde_json::from_slice(body).map_err(|_| invalid("not valid JSON"))?;
    let raw = RawMetadata::from_json(value).map_err(|e| invalid(&e.to_string()))?;
    if raw.client_id.as_deref() != Some(client_id) {
        return Err(invalid("client_id in the document does not match its URL"));
    }
    if raw.carries_secret {
        return Err(invalid("the document must not contain a client secret"));
    }
    if raw
        .token_endpoint_auth_method
        .as_deref()
        .is_some_and(|m| m != "none")
    {
        return Err(invalid("token_endpoint_auth_method must be none"));
    }
    let valid = validate(
        raw,
        &Rules {
            tenant_scopes: &ctx.tenant.scopes,
            max_redirect_uris: state.config.registration.max_redirect_uris,
            default_auth_method: AuthMethod::None,
        },
    )
    .map_err(|e| invalid(&e.to_string()))?;
    let scope = valid.scope.map(|s| s.to_string());
    let client = store::clients::upsert(
        &state.pool,
        &NewClient {
            tenant_id: ctx.tenant.id,
            client_id,
            kind: ClientKind::MetadataDocument,
            secret_hash: None,
            auth_method: AuthMethod::None,
            application_type: valid.application_type,
            client_name: valid.client_name.as_deref(),
            redirect_uris: valid
                .redirect_uris
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            grant_types: valid.grant_types,
            scope: scope.as_deref(),
            metadata: Value::Object(valid.metadata),
            registration_token_hash: None,
            metadata_expires_at: Some(expires_at),
            registered_from: None,
        },
    )
    .await?;
    Ok(client)
}
