//! Per-tool authorization in the gateway: the MCP server's policy ([`crate::policy`]) applied to
//! each JSON-RPC request before it is forwarded.
//!
//! A server without a policy costs nothing here. With one, a `POST` body is read (within
//! `gateway.replay_buffer_bytes`, as JSON, strictly) and every message in it decided:
//!
//! * any message denied: nothing is forwarded; each request gets a JSON-RPC error in its own id
//!   (in a batch, the others are refused too, so that a batch never half-runs);
//! * otherwise any message needing a scope the token lacks: `403` with
//!   `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` (the token's scopes plus
//!   the missing ones, so that re-authorizing loses nothing) and `resource_metadata`;
//! * otherwise the request goes on, with the body as read; a `*/list` request gets a
//!   [`ListFilter`] for its answer.
//!
//! A body the gateway cannot read (too large, not JSON, repeated keys) is refused: with a
//! policy, what is not inspected is not forwarded. `GET` (the server's own SSE stream) and
//! `DELETE` (session end) carry no call and pass.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};

use super::{
    auth::Authenticated,
    challenge::{Challenge, Resource},
    list_filter::{ListFilter, Who},
    user_cache::CachedUser,
};
use crate::{
    domain::McpServer,
    gateway::GatewayState,
    policy::{
        Call, Decision, Evaluation, Policy, PolicyDocument,
        jsonrpc::{self, Body as RpcBody, Message, Unreadable},
        lists::list_kind,
    },
    store::{self, StoreError},
};

/// JSON-RPC error code of a call the policy denies (implementation-defined server error range).
pub const POLICY_DENIED: i64 = -32003;
/// A client that has not sent its body by then is not going to.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A server's policy settings as the gateway keeps them with its target.
#[derive(Clone, Debug, Default)]
pub struct ServerPolicy {
    pub policy: Option<Arc<Policy>>,
    /// Send `X-Auth-Groups` / `X-Auth-Roles`.
    pub claim_headers: bool,
}

/// Loads and compiles `server`'s policy. A stored policy that no longer compiles (written by
/// another version) denies every call, loudly: failing open would be the worse surprise.
pub async fn load(state: &GatewayState, server: &McpServer) -> Result<ServerPolicy, StoreError> {
    let Some(row) = store::policies::find(&state.pool, server.id).await? else {
        return Ok(ServerPolicy::default());
    };
    let policy = row.document.map(|document| {
        let compiled = serde_json::from_value::<PolicyDocument>(document)
            .map_err(|e| e.to_string())
            .and_then(|d| Policy::compile(&d).map_err(|e| e.to_string()));
        Arc::new(compiled.unwrap_or_else(|reason| {
            tracing::error!(server = %server.name, %reason, "the stored policy does not compile; every call is denied");
            Policy::deny_all()
        }))
    });
    Ok(ServerPolicy {
        policy,
        claim_headers: row.claim_headers,
    })
}

/// What to do with a request.
pub enum Checked {
    /// Forward it (its body possibly read and put back), filtering the answer if there is a
    /// filter. Boxed: a request is large beside a response.
    Forward(Box<(Request, Option<ListFilter>)>),
    /// Answered here.
    Answered(Response),
}

/// Applies the target's policy to `request`.
pub async fn check(
    state: &GatewayState,
    auth: &Authenticated,
    user: Arc<CachedUser>,
    request: Request,
) -> Checked {
    let Some(policy) = auth.target.policy.policy.clone() else {
        return Checked::Forward(Box::new((request, None)));
    };
    if request.method() != Method::POST {
        return Checked::Forward(Box::new((request, None)));
    }
    let (parts, bytes) = match read_body(state, request).await {
        Ok(read) => read,
        Err(refused) => return Checked::Answered(refused),
    };
    let rpc = match jsonrpc::read(&bytes) {
        Ok(rpc) => rpc,
        Err(unreadable) => return Checked::Answered(unreadable_answer(&unreadable)),
    };
    let who = Who::new(auth, user);
    let subject = who.subject();
    let evaluation = Evaluation::new(&policy, &subject);
    let decisions: Vec<Option<Decision<'_>>> = rpc
        .messages()
        .iter()
        .map(|m| call_of(m).map(|call| evaluation.decide(&call)))
        .collect();
    let log = Denials { auth, who: &who };
    if decisions
        .iter()
        .flatten()
        .any(|d| matches!(d, Decision::Deny { .. }))
    {
        log.record(&rpc, &decisions);
        return Checked::Answered(denied(&rpc, &decisions));
    }
    let mut missing: Vec<&str> = Vec::new();
    for decision in decisions.iter().flatten() {
        if let Decision::StepUp { scopes, .. } = decision {
            missing.extend(scopes.iter().copied());
        }
    }
    if !missing.is_empty() {
        log.record(&rpc, &decisions);
        return Checked::Answered(step_up(auth, &missing));
    }
    let filter = match &rpc {
        RpcBody::Single(message) => message.method.as_deref().and_then(list_kind).map(|kind| {
            ListFilter::new(
                policy.clone(),
                who.clone(),
                kind,
                state.config.gateway.max_body_bytes,
            )
        }),
        RpcBody::Batch(_) => None,
    };
    Checked::Forward(Box::new((
        Request::from_parts(parts, Body::from(bytes)),
        filter,
    )))
}

/// The body of a `POST`, read whole for the policy: refused when it is not JSON, larger than
/// `gateway.replay_buffer_bytes` or slower than [`BODY_READ_TIMEOUT`].
async fn read_body(
    state: &GatewayState,
    request: Request,
) -> Result<(http::request::Parts, bytes::Bytes), Response> {
    if !is_json(request.headers()) {
        let reason = "the MCP server's policy needs a JSON body (Content-Type: application/json)";
        return Err(refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            -32600,
            reason,
        ));
    }
    let (parts, body) = request.into_parts();
    let limit = state.config.gateway.replay_buffer_bytes;
    match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok((parts, bytes)),
        Ok(Err(_)) => {
            let reason = "the body is larger than the gateway can inspect for this server's policy";
            Err(refusal(StatusCode::PAYLOAD_TOO_LARGE, None, -32600, reason))
        }
        Err(_) => {
            let reason = "the body did not arrive in time";
            Err(refusal(StatusCode::REQUEST_TIMEOUT, None, -32600, reason))
        }
    }
}

fn call_of(message: &Message) -> Option<Call<'_>> {
    Some(Call {
        method: message.method.as_deref()?,
        target: message.target.as_deref(),
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn rpc_error(id: Option<&Value>, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": {"code": code, "message": message}})
}

fn refusal(status: StatusCode, id: Option<&Value>, code: i64, message: &str) -> Response {
    (status, Json(rpc_error(id, code, message))).into_response()
}

fn unreadable_answer(unreadable: &Unreadable) -> Response {
    metrics::counter!("gateway_policy_unreadable_total").increment(1);
    let message = unreadable.to_string();
    refusal(
        StatusCode::BAD_REQUEST,
        unreadable.id(),
        unreadable.code(),
        &message,
    )
}

/// JSON-RPC errors for every request of the body: the denied ones, and in a batch the others,
/// which are not forwarded either. A JSON-RPC answer, so `200`.
fn denied(rpc: &RpcBody, decisions: &[Option<Decision<'_>>]) -> Response {
    const DENIED: &str = "the gateway's policy does not allow this call";
    const WITHHELD: &str = "not forwarded: another call in this batch was denied";
    let errors: Vec<Value> = rpc
        .messages()
        .iter()
        .zip(decisions)
        .filter(|(m, _)| m.id.is_some() || matches!(rpc, RpcBody::Single(_)))
        .map(|(m, d)| {
            let message = if matches!(d, Some(Decision::Deny { .. })) {
                DENIED
            } else {
                WITHHELD
            };
            rpc_error(m.id.as_ref(), POLICY_DENIED, message)
        })
        .collect();
    match rpc {
        RpcBody::Single(_) => {
            Json(errors.into_iter().next().unwrap_or(Value::Null)).into_response()
        }
        RpcBody::Batch(_) => Json(Value::Array(errors)).into_response(),
    }
}

/// `403 insufficient_scope` asking for the token's scopes plus `missing`.
fn step_up(auth: &Authenticated, missing: &[&str]) -> Response {
    let mut scopes: Vec<&str> = auth
        .claims
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    for &scope in missing {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let resource = Resource {
        metadata_url: &auth.target.metadata_url,
        scopes: &auth.target.scopes,
    };
    Challenge::InsufficientScope(scopes.join(" ")).into_response(&resource)
}

/// The audit trail of refusals: one log line and one counter per denied or step-up call.
struct Denials<'a> {
    auth: &'a Authenticated,
    who: &'a Who,
}

impl Denials<'_> {
    fn record(&self, rpc: &RpcBody, decisions: &[Option<Decision<'_>>]) {
        let server = self.auth.target.server.name.as_str();
        for (message, decision) in rpc.messages().iter().zip(decisions) {
            let (outcome, rule) = match decision {
                Some(Decision::Deny { rule }) => ("denied", *rule),
                Some(Decision::StepUp { rule, .. }) => ("step_up", *rule),
                _ => continue,
            };
            tracing::warn!(
                tenant = %self.who.tenant(),
                user = %self.auth.claims.sub,
                client = %self.auth.claims.client_id,
                server,
                method = ?message.method.as_deref().unwrap_or_default(),
                target = ?message.target.as_deref().unwrap_or_default(),
                rule,
                outcome,
                "policy refused a call"
            );
            metrics::counter!("gateway_policy_refusals_total", "server" => server.to_owned(),
                "rule" => rule.to_owned(), "outcome" => outcome)
            .increment(1);
        }
    }
}
