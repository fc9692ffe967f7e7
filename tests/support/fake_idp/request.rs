//! Reading requests defensively: form bodies, client credentials, bearer tokens.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::STANDARD};

use super::reply::OAuthError;

/// Form and query parameters; RFC 6749 §3.1/§3.2: a parameter must not appear twice.
pub type Params = HashMap<String, String>;

/// At most this many parameters are read from a form or query.
const MAX_PARAMS: usize = 64;

pub fn parse_params(raw: &[u8]) -> Result<Params, &'static str> {
    let mut params = Params::new();
    for (count, (key, value)) in url::form_urlencoded::parse(raw).enumerate() {
        if count >= MAX_PARAMS {
            return Err("too many parameters");
        }
        if params
            .insert(key.into_owned(), value.into_owned())
            .is_some()
        {
            return Err("a parameter appears more than once");
        }
    }
    Ok(params)
}

/// A token/revocation request body: `application/x-www-form-urlencoded` only.
pub fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::bad_request(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    parse_params(body).map_err(|why| OAuthError::bad_request("invalid_request", why))
}

/// Which credentials the client presented (RFC 6749 §2.3.1).
pub enum ClientCredentials {
    Basic {
        id: String,
        secret: String,
    },
    Post {
        id: String,
        secret: String,
    },
    /// Only a `client_id` (public client) or nothing at all.
    None {
        id: Option<String>,
    },
}

pub fn client_credentials(
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientCredentials, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(value) => Some(decode_basic(value.to_str().unwrap_or_default())?),
        None => None,
    };
    let posted_secret = params.get("client_secret").cloned();
    let posted_id = params.get("client_id").cloned();
    match (basic, posted_secret) {
        (Some(_), Some(_)) => Err(OAuthError::bad_request(
            "invalid_request",
            "use one client authentication method, not two",
        )),
        (Some((id, secret)), None) => Ok(ClientCredentials::Basic { id, secret }),
        (None, Some(secret)) => match posted_id {
            Some(id) => Ok(ClientCredentials::Post { id, secret }),
            None => Err(OAuthError::invalid_client()),
        },
        (None, None) => Ok(ClientCredentials::None { id: posted_id }),
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))`.
fn decode_basic(value: &str) -> Result<(String, String), OAuthError> {
    let (scheme, encoded) = value
        .split_once(' ')
        .ok_or_else(OAuthError::invalid_client)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client());
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| OAuthError::invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    Ok((form_decode(id), form_decode(secret)))
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `Authorization: Bearer <token>` (GitHub also takes `token <token>`).
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    let token = token.trim();
    (known && !token.is_empty()).then(|| token.to_owned())
}

pub fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("application/json"))
}
