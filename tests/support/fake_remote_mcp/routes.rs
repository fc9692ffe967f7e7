//! The fake remote's endpoints.

use std::{collections::HashMap, sync::Arc, time::Instant};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::state::{Client, Code, Shared};

type S = State<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/.well-known/oauth-protected-resource/mcp", get(prm))
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/register", post(register))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/mcp", post(mcp).get(mcp_get))
        .with_state(shared)
}

async fn prm(State(s): S) -> Json<Value> {
    s.lock().counters.prm += 1;
    Json(json!({
        "resource": format!("{}/mcp", s.base),
        "authorization_servers": [s.base],
        "scopes_supported": ["wiki.read", "wiki.write"],
        "bearer_methods_supported": ["header"],
    }))
}

async fn as_metadata(State(s): S) -> Json<Value> {
    s.lock().counters.as_metadata += 1;
    let b = &s.base;
    Json(json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "registration_endpoint": format!("{b}/register"),
        "revocation_endpoint": format!("{b}/revoke"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

async fn register(State(s): S, Json(body): Json<Value>) -> Response {
    let uris: Vec<String> = body["redirect_uris"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if uris.is_empty() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri");
    }
    let mut st = s.lock();
    st.counters.register += 1;
    let id = st.fresh("client");
    let secret = st.fresh("secret");
    st.clients.insert(
        id.clone(),
        Client {
            secret: secret.clone(),
            redirect_uris: uris.clone(),
        },
    );
    (
        StatusCode::CREATED,
        Json(json!({
            "client_id": id, "client_secret": secret, "redirect_uris": uris,
            "token_endpoint_auth_method": "client_secret_basic",
        })),
    )
        .into_response()
}

async fn authorize(State(s): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut st = s.lock();
    st.counters.authorize += 1;
    st.last_authorize = Some(q.clone());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let client_id = get("client_id");
    let redirect_uri = get("redirect_uri");
    let known = st
        .clients
        .get(&client_id)
        .is_some_and(|c| c.redirect_uris.contains(&redirect_uri));
    if !known {
        return (StatusCode::BAD_REQUEST, "unknown client or redirect_uri").into_response();
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return (StatusCode::BAD_REQUEST, "PKCE S256 required").into_response();
    }
    if get("resource") != format!("{}/mcp", s.base) {
        return (StatusCode::BAD_REQUEST, "resource must be this server").into_response();
    }
    let code = st.fresh("code");
    let user = st.user.clone();
    st.codes.insert(
        code.clone(),
        Code {
            client_id,
            redirect_uri: redirect_uri.clone(),
            challenge: get("code_challenge"),
            resource: get("resource"),
            user,
            scope: get("scope"),
        },
    );
    let mut to = url::Url::parse(&redirect_uri).expect("registered redirect URI");
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"))
        .append_pair("iss", &s.base);
    Redirect::to(to.as_str()).into_response()
}

/// The client authenticated with HTTP Basic (a registered client's secret).
fn client_of(st: &super::state::Inner, headers: &HeaderMap) -> Option<String> {
    let basic = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(basic).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = url::form_urlencoded::parse(format!("a={id}").as_bytes())
        .next()?
        .1
        .into_owned();
    let secret = url::form_urlencoded::parse(format!("a={secret}").as_bytes())
        .next()?
        .1
        .into_owned();
    st.clients
        .get(&id)
        .filter(|c| c.secret == secret)
        .map(|_| id)
}

async fn token(
    State(s): S,
    headers: HeaderMap,
    axum::Form(f): axum::Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    match get("grant_type").as_str() {
        "authorization_code" => {
            let mut st = s.lock();
            st.counters.token_code += 1;
            let Some(client_id) = client_of(&st, &headers) else {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            };
            let Some(code) = st.codes.remove(&get("code")) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
            if code.client_id != client_id
                || code.redirect_uri != get("redirect_uri")
                || code.challenge != challenge
                || code.resource != get("resource")
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            let answer = st.issue(&code.user, &client_id, &code.scope, None);
            Json(answer).into_response()
        }
        "refresh_token" => {
            let delay = s.lock().refresh_delay;
            tokio::time::sleep(delay).await;
            let mut st = s.lock();
            st.counters.token_refresh += 1;
            let Some(client_id) = client_of(&st, &headers) else {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            };
            let presented = get("refresh_token");
            let Some(r) = st.refresh.get_mut(&presented) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if r.client_id != client_id || r.revoked {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            if r.spent {
                let family = r.family;
                st.counters.refresh_reuse += 1;
                st.revoke_family(family);
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            r.spent = true;
            let (user, family, scope) = (r.user.clone(), r.family, r.scope.clone());
            let answer = st.issue(&user, &client_id, &scope, Some(family));
            Json(answer).into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

async fn revoke(
    State(s): S,
    headers: HeaderMap,
    axum::Form(f): axum::Form<HashMap<String, String>>,
) -> Response {
    let mut st = s.lock();
    st.counters.revoke += 1;
    if client_of(&st, &headers).is_none() {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let token = f.get("token").cloned().unwrap_or_default();
    if let Some(a) = st.access.get_mut(&token) {
        a.revoked = true;
    }
    if let Some(r) = st.refresh.get_mut(&token) {
        r.revoked = true;
    }
    StatusCode::OK.into_response()
}

fn challenge(base: &str) -> Response {
    let value = format!(
        "Bearer error=\"invalid_token\", resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\""
    );
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, value)],
    )
        .into_response()
}

/// The user of a good access token in `headers`, counting the call either way.
fn authorized(s: &Shared, headers: &HeaderMap) -> Option<String> {
    let mut st = s.lock();
    let Some(raw) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        // Discovery's probe for the `WWW-Authenticate` challenge.
        st.counters.mcp_anonymous += 1;
        return None;
    };
    st.mcp_authorizations.push(raw.clone());
    let user = raw
        .strip_prefix("Bearer ")
        .and_then(|t| st.access.get(t))
        .filter(|a| !a.revoked && a.expires > Instant::now())
        .map(|a| a.user.clone());
    match user {
        Some(_) => st.counters.mcp_ok += 1,
        None => st.counters.mcp_unauthorized += 1,
    }
    user
}

async fn mcp_get(State(s): S, headers: HeaderMap) -> Response {
    if authorized(&s, &headers).is_none() {
        return challenge(&s.base);
    }
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}

async fn mcp(State(s): S, headers: HeaderMap, Json(m): Json<Value>) -> Response {
    let Some(user) = authorized(&s, &headers) else {
        return challenge(&s.base);
    };
    let Some(id) = m.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let result = match m["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "fake-remote-wiki", "version": "1"},
        }),
        "tools/list" => json!({"tools": [{"name": "whoami", "description": "the remote user",
            "inputSchema": {"type": "object"}}]}),
        "tools/call" => json!({"content": [{"type": "text", "text": user}],
            "structuredContent": {"user": user}}),
        "ping" => json!({}),
        _ => return Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no such method"}})).into_response(),
    };
    let mut response = Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response();
    response.headers_mut().insert(
        "mcp-session-id",
        "fake-remote-session".parse().expect("static"),
    );
    response
}
