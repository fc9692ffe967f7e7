//! Dynamic client registration (RFC 7591) at `POST /t/{tenant}/register`, and the RFC 7592
//! read and delete operations at `/t/{tenant}/register/{client_id}`, authorised by the
//! registration access token handed out at registration.
//!
//! Open registration is an abuse magnet, so before anything is stored: a global switch, a
//! per-IP rate limit, a body size limit enforced while reading, typed parsing with bounded
//! lists, and a per-tenant cap on dynamic clients.

use crate::tenancy::TenantContext;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    Extension, Json,
    body::Body,
    extract::{ConnectInfo, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};

use super::client_metadata::{RawMetadata, Rules, ValidMetadata, validate};
use crate::{
    crypto::{hash, random},
    domain::{AuthMethod, Client, ClientKind},
    error::{ErrorCode, OAuthError},
    oauth::OAuthState,
    store::{self, clients::NewClient},
};

type PeerAddr = Option<Extension<ConnectInfo<SocketAddr>>>;

/// RFC 7591 section 3: registers a client and answers `201` with its metadata, the credentials
/// it needs (section 3.2.1) and the RFC 7592 registration access token and URI.
pub async fn register(
    State(state): State<OAuthState>,
    Path(raw_tenant): Path<String>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthError> {
    let ip = admit(&state, peer)?;
    let config = &state.config.registration;
    let ctx = state.tenancy.resolve(&raw_tenant).await?;
    let value = read_json(&headers, body, state.config.server.max_body_bytes).await?;
    let valid = validate(
        RawMetadata::from_json(value)?,
        &Rules {
            tenant_scopes: &ctx.tenant.scopes,
            max_redirect_uris: config.max_redirect_uris,
            default_auth_method: AuthMethod::ClientSecretBasic,
        },
    )?;
    let count = store::clients::count_dynamic(&state.pool, ctx.tenant.id).await?;
    if count >= i64::from(config.max_clients_per_tenant) {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "registration limit reached",
        ));
    }
    let (client, credentials) = store_client(&state, &ctx, valid, ip).await?;
    tracing::info!(
        tenant = ctx.slug(),
        client_id = %client.client_id,
        auth_method = client.auth_method.as_str(),
        "client registered"
    );
    let mut doc = client_document(&client, &ctx.issuer);
    doc.insert(
        "registration_access_token".into(),
        credentials.registration_token.into(),
    );
    if let Some(secret) = credentials.secret {
        doc.insert("client_secret".into(), secret.into());
        // RFC 7591 section 3.2.1: 0 means the secret does not expire.
        doc.insert("client_secret_expires_at".into(), 0.into());
    }
    Ok(no_store(StatusCode::CREATED, doc))
}

/// RFC 7592 section 2.1: the client's current registration, without its secret.
pub async fn read(
    State(state): State<OAuthState>,
    Path((raw_tenant, client_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let ctx = state.tenancy.resolve(&raw_tenant).await?;
    authorise(&state, &ctx, &client_id, &headers).await?;
    let client = store::clients::find(&state.pool, ctx.tenant.id, &client_id)
        .await?
        .ok_or_else(invalid_token)?;
    Ok(no_store(
        StatusCode::OK,
        client_document(&client, &ctx.issuer),
    ))
}

/// RFC 7592 section 2.3: deletes the client; its grants, codes and tokens cascade.
pub async fn delete(
    State(state): State<OAuthState>,
    Path((raw_tenant, client_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let ctx = state.tenancy.resolve(&raw_tenant).await?;
    authorise(&state, &ctx, &client_id, &headers).await?;
    let mut tx = state.pool.begin().await.map_err(store::StoreError::from)?;
    let Some(id) = store::clients::delete(&mut tx, ctx.tenant.id, &client_id).await? else {
        return Err(invalid_token());
    };
    // Announced on the transaction: every replica forgets the client when the deletion commits.
    let event = crate::coherence::CacheEvent::ClientChanged { client: id };
    crate::coherence::announce_in(&mut tx, &event).await?;
    tx.commit().await.map_err(store::StoreError::from)?;
    crate::coherence::apply(&state.caches, &event).await;
    tracing::info!(tenant = ctx.slug(), client_id = %client_id, "client deleted by its registration token");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The cheap gates before any database work: the global switch (403) and the per-IP rate
/// limit (429 with `Retry-After`). Returns the address the registration is recorded under.
fn admit(state: &OAuthState, peer: PeerAddr) -> Result<IpAddr, OAuthError> {
    if !state.config.registration.enabled {
        return Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "dynamic client registration is disabled",
        ));
    }
    let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.0.ip());
    state
        .registration_limiter
        .check(ip, std::time::Instant::now())
        .map_err(|secs| {
            OAuthError::unavailable("too many registrations from this address", secs)
                .with_status(StatusCode::TOO_MANY_REQUESTS)
        })?;
    Ok(ip)
}

struct Credentials {
    secret: Option<String>,
    registration_token: String,
}

/// Inserts the client with fresh credentials, of which only SHA-256 hashes are stored.
async fn store_client(
    state: &OAuthState,
    ctx: &TenantContext,
    valid: ValidMetadata,
    ip: IpAddr,
) -> Result<(Client, Credentials), OAuthError> {
    let client_id = random::token();
    let secret = (valid.auth_method != AuthMethod::None).then(random::token);
    let registration_token = random::token();
    let mut metadata = valid.metadata;
    metadata.insert("client_id_issued_at".into(), Utc::now().timestamp().into());
    let scope = valid.scope.map(|s| s.to_string());
    let client = store::clients::upsert(
        &state.pool,
        &NewClient {
            tenant_id: ctx.tenant.id,
            client_id: &client_id,
            kind: ClientKind::Dynamic,
            secret_hash: secret
                .as_deref()
                .map(|s| hash::sha256(s.as_bytes()).to_vec()),
            auth_method: valid.auth_method,
            application_type: valid.application_type,
            client_name: valid.client_name.as_deref(),
            redirect_uris: valid
                .redirect_uris
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            grant_types: valid.grant_types,
            scope: scope.as_deref(),
            metadata: Value::Object(metadata),
            registration_token_hash: Some(hash::sha256(registration_token.as_bytes()).to_vec()),
            metadata_expires_at: None,
            registered_from: Some(ip.to_string()),
        },
    )
    .await?;
    Ok((
        client,
        Credentials {
            secret,
            registration_token,
        },
    ))
}

/// The registered metadata as RFC 7591 section 3.2.1 returns it (never the secret).
fn client_document(client: &Client, issuer: &str) -> Map<String, Value> {
    let mut doc = match &client.metadata {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let uris: Vec<&str> = client.redirect_uris.iter().map(|r| r.as_str()).collect();
    doc.insert("client_id".into(), client.client_id.clone().into());
    doc.insert("redirect_uris".into(), uris.into());
    doc.insert(
        "token_endpoint_auth_method".into(),
        client.auth_method.as_str().into(),
    );
    let grant_types: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
    doc.insert("grant_types".into(), grant_types.into());
    doc.insert(
        "application_type".into(),
        client.application_type.as_str().into(),
    );
    if let Some(name) = &client.client_name {
        doc.insert("client_name".into(), name.clone().into());
    }
    if let Some(scope) = &client.scope {
        doc.insert("scope".into(), scope.clone().into());
    }
    doc.insert(
        "registration_client_uri".into(),
        format!("{issuer}/register/{}", client.client_id).into(),
    );
    doc
}

fn no_store(status: StatusCode, doc: Map<String, Value>) -> Response {
    let mut response = (status, Json(Value::Object(doc))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Reads a JSON body of at most `limit` bytes. The limit is enforced while streaming, so an
/// oversized body is refused without being buffered (a `Content-Length` above it, at once).
async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, OAuthError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(OAuthError::invalid_request(
            "the request body must be application/json",
        ));
    }
    let too_large = || {
        OAuthError::invalid_request("the request body is too large")
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Err(_) => {
            return Err(OAuthError::invalid_request(
                "the request body could not be read",
            ));
        }
    };
    serde_json::from_slice(&bytes)
        .map_err(|_| OAuthError::invalid_request("the request body is not valid JSON"))
}

fn invalid_token() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidToken,
        "missing or invalid registration access token",
    )
    .with_www_authenticate("Bearer error=\"invalid_token\"".into())
}

/// RFC 7592 section 3: the bearer registration access token, compared in constant time with
/// the stored hash. An unknown client, another tenant's client and a wrong token all get the
/// same `401`, so the endpoint is no oracle for which client ids exist.
async fn authorise(
    state: &OAuthState,
    ctx: &TenantContext,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<(), OAuthError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(invalid_token)?;
    let stored =
        store::clients::registration_token_hash(&state.pool, ctx.tenant.id, client_id).await?;
    let presented = hash::sha256(token.as_bytes());
    match stored {
        Some(stored) if hash::constant_time_eq(&stored, &presented) => Ok(()),
        _ => Err(invalid_token()),
    }
}
