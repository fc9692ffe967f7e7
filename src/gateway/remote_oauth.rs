//! The gateway's hook for remote-OAuth MCP servers: the request goes with the user's token *from
//! that server* (`Authorization: Bearer`, no `X-Auth-*` headers, never the bridge's token); a
//! `401` from the server refreshes that token once and replays the request once; no usable
//! connection answers with an elicitation ([`crate::remote::elicit`]).
//!
//! A JSON `POST` is buffered (up to `gateway.max_body_bytes`) to read its JSON-RPC `id`, and,
//! for `initialize`, whether the client declared URL elicitation — remembered per access token
//! for the requests that follow.

use axum::{
    body::{Body, Bytes},
    extract::{RawPathParams, Request},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::{Forwarded, GatewayState, IdentityHeaders, auth::Authenticated};
use crate::{
    remote::{
        RemoteError, elicit, record,
        tokens::{self, Key},
    },
    store::remote_connections::ConnectFor,
};

/// Forwards `request` to the remote-OAuth server `auth.target` with the user's remote token.
pub async fn proxy(
    state: &GatewayState,
    auth: &Authenticated,
    params: &RawPathParams,
    request: Request,
) -> Response {
    let rest = params
        .iter()
        .find_map(|(name, value)| (name == "rest").then_some(value))
        .unwrap_or("")
        .to_owned();
    let (request, message) = match inspect(state, request).await {
        Ok(inspected) => inspected,
        Err(response) => return response,
    };
    if let Some(declared) = message.as_ref().and_then(elicit::declared_url_elicitation) {
        state
            .remote
            .url_elicitation
            .insert(auth.claims.jti, declared)
            .await;
    }
    let server = &auth.target.server;
    let key = Key {
        tenant_id: auth.target.ctx.tenant.id,
        subject: &auth.claims.sub,
        server,
    };
    let kind = request_kind(&request, message.as_ref());
    let access = match tokens::current(&state.remote, &key).await {
        Ok(access) => access,
        Err(e) => return problem(state, auth, &kind, e).await,
    };
    let identity = IdentityHeaders::remote_bearer(access.token.expose());
    let proxy = &state.gateway.proxy;
    let upstream = &auth.target.upstream;
    match proxy
        .forward_replayable(request, upstream, &rest, &identity)
        .await
    {
        Forwarded::Done(response) => response,
        // Too large to replay. The remote's 401 is not passed on: the client would take it for
        // the bridge's and re-authorize here, or chase the remote's own metadata. The token is
        // refreshed for the client's retry.
        Forwarded::Unauthorized {
            response,
            replay: None,
        } => {
            drop(response);
            match tokens::after_rejection(&state.remote, &key, access.token.expose()).await {
                Ok(_) => unavailable(
                    &kind,
                    1,
                    "the remote token was refreshed; retry the request",
                ),
                Err(e) => problem(state, auth, &kind, e).await,
            }
        }
        Forwarded::Unauthorized {
            response,
            replay: Some(replay),
        } => {
            drop(response);
            match tokens::after_rejection(&state.remote, &key, access.token.expose()).await {
                Ok(fresh) => {
                    record(server.name.as_str(), "replay", "sent");
                    let identity = IdentityHeaders::remote_bearer(fresh.token.expose());
                    replay.send(proxy, &identity).await
                }
                Err(e) => problem(state, auth, &kind, e).await,
            }
        }
    }
}

/// What the answer to a failed request can be.
enum Kind {
    /// A JSON-RPC request: answered with a JSON-RPC error for its id.
    Request(Value),
    /// A JSON-RPC notification or response: nothing to answer but a status.
    Notification,
    /// `GET` (the SSE stream), `DELETE`, or a body that is no JSON-RPC message.
    Other,
}

fn request_kind(request: &Request, message: Option<&Value>) -> Kind {
    if request.method() != Method::POST {
        return Kind::Other;
    }
    match message {
        Some(m) if m.get("method").is_some() => match m.get("id") {
            Some(id) if id.is_string() || id.is_number() => Kind::Request(id.clone()),
            _ => Kind::Notification,
        },
        Some(_) => Kind::Notification,
        None => Kind::Other,
    }
}

/// Buffers a JSON `POST` and parses it; other requests pass untouched.
async fn inspect(
    state: &GatewayState,
    request: Request,
) -> Result<(Request, Option<Value>), Response> {
    let json_post = request.method() == Method::POST
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
    if !json_post {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let limit = state.config.gateway.max_body_bytes;
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({"error": "payload_too_large"})),
        )
            .into_response()
    })?;
    let message = serde_json::from_slice(&bytes).ok();
    Ok((Request::from_parts(parts, Body::from(bytes)), message))
}

/// The answer when no remote token could be used.
async fn problem(
    state: &GatewayState,
    auth: &Authenticated,
    kind: &Kind,
    e: RemoteError,
) -> Response {
    let server = auth.target.server.name.as_str();
    match e {
        RemoteError::NotConnected => elicit_connect(state, auth, kind).await,
        RemoteError::Unavailable { retry_after } => {
            record(server, "gateway", "unavailable");
            unavailable(
                kind,
                retry_after,
                "the remote MCP server's authorization server is unavailable",
            )
        }
        RemoteError::DatabaseUnavailable => {
            crate::store::unavailable::record("remote", "loading the user's remote connection", &e);
            unavailable(
                kind,
                crate::store::unavailable::RETRY_AFTER_SECS,
                crate::store::unavailable::MESSAGE,
            )
        }
        other => {
            record(server, "gateway", other.label());
            tracing::warn!(server, reason = %other, "no remote token for the request");
            rpc_status(
                kind,
                StatusCode::BAD_GATEWAY,
                -32603,
                "the remote MCP server's authorization failed",
            )
        }
    }
}

async fn elicit_connect(state: &GatewayState, auth: &Authenticated, kind: &Kind) -> Response {
    let server = auth.target.server.name.as_str();
    let Kind::Request(id) = kind else {
        // No request to answer with an elicitation: no stream, nothing accepted.
        return match kind {
            Kind::Notification => StatusCode::ACCEPTED.into_response(),
            _ => (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, HeaderValue::from_static("POST"))],
            )
                .into_response(),
        };
    };
    let who = ConnectFor {
        tenant_id: auth.target.ctx.tenant.id,
        mcp_server_id: auth.target.server.id,
        grant_id: auth.grant_id,
        subject: auth.claims.sub.to_string(),
    };
    let ask = match elicit::new_link(state, auth.target.ctx.slug(), &who, Utc::now()).await {
        Ok(ask) => ask,
        Err(e) => {
            crate::store::unavailable::record("remote", "storing a connect link", &e);
            return unavailable(
                kind,
                crate::store::unavailable::RETRY_AFTER_SECS,
                crate::store::unavailable::MESSAGE,
            );
        }
    };
    let url_mode = state
        .remote
        .url_elicitation
        .get(&auth.claims.jti)
        .await
        .unwrap_or(false);
    record(server, "elicit", if url_mode { "url" } else { "message" });
    axum::Json(elicit::rpc_error(id, &ask, server, url_mode)).into_response()
}

fn unavailable(kind: &Kind, retry_after: u64, message: &str) -> Response {
    let mut response = rpc_status(kind, StatusCode::SERVICE_UNAVAILABLE, -32000, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

fn rpc_status(kind: &Kind, status: StatusCode, code: i64, message: &str) -> Response {
    let body = match kind {
        Kind::Request(id) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        }
        _ => json!({"error": "remote_unavailable", "error_description": message}),
    };
    (status, axum::Json(body)).into_response()
}
