//! Client metadata (RFC 7591 section 2) as a client sends it — in a registration request or in a
//! client ID metadata document — parsed and checked once, into what the store keeps.
//!
//! Both sources share the rules: redirect URIs per `application_type`, the grant and response
//! types this server supports, scopes within the tenant's, bounded names, lists and extras.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{
    domain::{ApplicationType, AuthMethod, ClientName, RedirectUri, Scopes},
    error::{ErrorCode, OAuthError},
};

const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token"];
const MAX_URL_BYTES: usize = 2000;
const MAX_CONTACTS: usize = 10;
const MAX_CONTACT_BYTES: usize = 320;
const MAX_EXTRA_FIELDS: usize = 20;
const MAX_EXTRA_BYTES: usize = 4096;

/// Fields only the server assigns (RFC 7591 section 3.2.1); a client cannot supply them.
const SERVER_ASSIGNED: &[&str] = &[
    "client_id",
    "client_id_issued_at",
    "client_secret",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

/// Optional URLs a client may describe itself with; stored, shown, never fetched (no SSRF).
const URL_FIELDS: &[&str] = &["client_uri", "logo_uri", "tos_uri", "policy_uri"];

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// RFC 7591 section 3.2.2 `invalid_redirect_uri`; names the index, never echoes the value.
    #[error("redirect_uris[{index}] {reason}")]
    RedirectUri { index: usize, reason: String },
    /// RFC 7591 section 3.2.2 `invalid_client_metadata`.
    #[error("{0}")]
    Invalid(Cow<'static, str>),
}

impl From<MetadataError> for OAuthError {
    fn from(e: MetadataError) -> Self {
        let code = match e {
            MetadataError::RedirectUri { .. } => ErrorCode::InvalidRedirectUri,
            MetadataError::Invalid(_) => ErrorCode::InvalidClientMetadata,
        };
        OAuthError::new(code, e.to_string())
    }
}

fn invalid(message: impl Into<Cow<'static, str>>) -> MetadataError {
    MetadataError::Invalid(message.into())
}

/// What the client sent, field by field. Each known field is taken out of the JSON object with
/// its expected type, so a wrong type names the field without echoing its value (serde's own
/// messages quote the value, which may be kilobytes of attacker text).
#[derive(Debug, Default)]
pub struct RawMetadata {
    pub client_id: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub application_type: Option<String>,
    pub client_name: Option<String>,
    pub scope: Option<String>,
    pub contacts: Option<Vec<String>>,
    pub urls: Map<String, Value>,
    /// Whether `client_secret` or `client_secret_expires_at` were present at all.
    pub carries_secret: bool,
    /// Unknown fields, kept (bounded) in the `metadata` column.
    pub extra: Map<String, Value>,
}

impl RawMetadata {
    pub fn from_json(value: Value) -> Result<Self, MetadataError> {
        let Value::Object(mut map) = value else {
            return Err(invalid("client metadata must be a JSON object"));
        };
        let mut raw = Self {
            client_id: take(&mut map, "client_id", "a string")?,
            redirect_uris: take(&mut map, "redirect_uris", "an array of strings")?,
            token_endpoint_auth_method: take(&mut map, "token_endpoint_auth_method", "a string")?,
            grant_types: take(&mut map, "grant_types", "an array of strings")?,
            response_types: take(&mut map, "response_types", "an array of strings")?,
            application_type: take(&mut map, "application_type", "a string")?,
            client_name: take(&mut map, "client_name", "a string")?,
            scope: take(&mut map, "scope", "a string")?,
            contacts: take(&mut map, "contacts", "an array of strings")?,
            carries_secret: map.contains_key("client_secret")
                || map.contains_key("client_secret_expires_at"),
            ..Self::default()
        };
        for field in URL_FIELDS {
            if let Some(url) = take::<String>(&mut map, field, "a string")? {
                raw.urls
                    .insert((*field).into(), Value::String(https_url(field, &url)?));
            }
        }
        map.retain(|k, _| !SERVER_ASSIGNED.contains(&k.as_str()));
        if map.len() > MAX_EXTRA_FIELDS
            || Value::Object(map.clone()).to_string().len() > MAX_EXTRA_BYTES
        {
            return Err(invalid("too much additional client metadata"));
        }
        raw.extra = map;
        Ok(raw)
    }
}

/// Removes `key` and reads it as `T`; `null` counts as absent.
fn take<T: DeserializeOwned>(
    map: &mut Map<String, Value>,
    key: &'static str,
    expected: &'static str,
) -> Result<Option<T>, MetadataError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|_| invalid(format!("{key} must be {expected}"))),
    }
}

/// Checked metadata, ready to store.
#[derive(Debug)]
pub struct ValidMetadata {
    pub application_type: ApplicationType,
    pub redirect_uris: Vec<RedirectUri>,
    pub auth_method: AuthMethod,
    pub grant_types: Vec<String>,
    pub scope: Option<Scopes>,
    pub client_name: Option<String>,
    /// `response_types`, the descriptive URLs, `contacts` and unknown extras.
    pub metadata: Map<String, Value>,
}

/// What the caller decides rather than the client.
pub struct Rules<'a> {
    /// The tenant's scopes; a client's `scope` must be within them.
    pub tenant_scopes: &'a [String],
    pub max_redirect_uris: usize,
    /// RFC 7591 section 2: `client_secret_basic` for registrations; `none` for documents.
    pub default_auth_method: AuthMethod,
}

pub fn validate(raw: RawMetadata, rules: &Rules<'_>) -> Result<ValidMetadata, MetadataError> {
    let application_type = match raw.application_type.as_deref() {
        None => ApplicationType::Web,
        Some(v) => ApplicationType::parse(v)
            .ok_or_else(|| invalid("application_type must be \"web\" or \"native\""))?,
    };
    let redirect_uris =
        redirect_uris(raw.redirect_uris, application_type, rules.max_redirect_uris)?;
    let auth_method = match raw.token_endpoint_auth_method.as_deref() {
        None => rules.default_auth_method,
        Some(v) => AuthMethod::parse(v).ok_or_else(|| {
            invalid("token_endpoint_auth_method must be none, client_secret_basic or client_secret_post")
        })?,
    };
    let grant_types = grant_types(raw.grant_types)?;
    let response_types = raw.response_types.unwrap_or_else(|| vec!["code".into()]);
    if response_types.is_empty() || response_types.iter().any(|r| r != "code") {
        return Err(invalid("response_types may only contain \"code\""));
    }
    let scope = scope(raw.scope.as_deref(), rules.tenant_scopes)?;
    let client_name = client_name(raw.client_name)?;
    let mut metadata = raw.extra;
    metadata.extend(raw.urls);
    metadata.insert("response_types".into(), Value::from(vec!["code"]));
    if let Some(contacts) = contacts(raw.contacts)? {
        metadata.insert("contacts".into(), Value::from(contacts));
    }
    Ok(ValidMetadata {
        application_type,
        redirect_uris,
        auth_method,
        grant_types,
        scope,
        client_name,
        metadata,
    })
}

fn redirect_uris(
    given: Option<Vec<String>>,
    app: ApplicationType,
    max: usize,
) -> Result<Vec<RedirectUri>, MetadataError> {
    let given = given.unwrap_or_default();
    if given.is_empty() {
        return Err(invalid("redirect_uris is required and must not be empty"));
    }
    if given.len() > max {
        return Err(invalid(format!("at most {max} redirect_uris are allowed")));
    }
    let mut out: Vec<RedirectUri> = Vec::with_capacity(given.len());
    for (index, uri) in given.iter().enumerate() {
        let reject = |reason: String| MetadataError::RedirectUri { index, reason };
        // RFC 3986 section 2: a URI is ASCII; internationalised hosts come as punycode. This
        // keeps homoglyphs and bidi controls out of what consent pages and matching see.
        if !uri.is_ascii() {
            return Err(reject(
                "must be ASCII (use punycode for internationalised hosts)".into(),
            ));
        }
        let parsed = RedirectUri::parse(uri, app).map_err(|e| reject(e.to_string()))?;
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    Ok(out)
}

fn grant_types(given: Option<Vec<String>>) -> Result<Vec<String>, MetadataError> {
    let given = given.unwrap_or_else(|| GRANT_TYPES.iter().map(|g| (*g).to_owned()).collect());
    if given.iter().any(|g| !GRANT_TYPES.contains(&g.as_str())) {
        return Err(invalid(
            "grant_types may only contain authorization_code and refresh_token",
        ));
    }
    // RFC 7591 section 2.1: response type `code` goes with grant type `authorization_code`.
    if !given.iter().any(|g| g == "authorization_code") {
        return Err(invalid("grant_types must include authorization_code"));
    }
    Ok(GRANT_TYPES
        .iter()
        .filter(|g| given.iter().any(|x| x == *g))
        .map(|g| (*g).to_owned())
        .collect())
}

fn scope(given: Option<&str>, tenant: &[String]) -> Result<Option<Scopes>, MetadataError> {
    let Some(given) = given else { return Ok(None) };
    let scopes = Scopes::parse(given).map_err(|_| invalid("scope is malformed"))?;
    if scopes.is_empty() {
        return Ok(None);
    }
    if !scopes.is_subset_of(&Scopes::from_trusted(tenant.iter().cloned())) {
        return Err(invalid("scope contains scopes this tenant does not offer"));
    }
    Ok(Some(scopes))
}

fn client_name(given: Option<String>) -> Result<Option<String>, MetadataError> {
    let Some(name) = given else { return Ok(None) };
    let name = ClientName::parse(&name).map_err(|e| invalid(e.to_string()))?;
    Ok(name.map(ClientName::into_string))
}

fn contacts(given: Option<Vec<String>>) -> Result<Option<Vec<String>>, MetadataError> {
    let Some(contacts) = given else {
        return Ok(None);
    };
    if contacts.len() > MAX_CONTACTS
        || contacts
            .iter()
            .any(|c| c.len() > MAX_CONTACT_BYTES || c.chars().any(is_unsafe_char))
    {
        return Err(invalid(format!(
            "contacts must be at most {MAX_CONTACTS} short strings"
        )));
    }
    Ok(Some(contacts))
}

/// Control characters, and the invisible ones (bidirectional controls included) that let text
/// shown on the consent page read differently from what it is ("Trojan Source", CVE-2021-42574).
fn is_unsafe_char(c: char) -> bool {
    c.is_control() || crate::domain::client_name::is_default_ignorable(c)
}

/// An absolute `https` URL with a host and no credentials, returned in its normalised form.
fn https_url(field: &'static str, value: &str) -> Result<String, MetadataError> {
    let bad = || invalid(format!("{field} must be an https URL"));
    if value.len() > MAX_URL_BYTES || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let url = url::Url::parse(value).map_err(|_| bad())?;
    if url.scheme() != "https"
        || url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(bad());
    }
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rules() -> Rules<'static> {
        static SCOPES: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| vec!["mcp".into(), "mcp:tools".into()]);
        Rules {
            tenant_scopes: &SCOPES,
            max_redirect_uris: 3,
            default_auth_method: AuthMethod::ClientSecretBasic,
        }
    }

    fn check(v: Value) -> Result<ValidMetadata, MetadataError> {
        validate(RawMetadata::from_json(v)?, &rules())
    }

    #[test]
    fn defaults_follow_rfc_7591() {
        let m = check(json!({"redirect_uris": ["https://a.example/cb"]})).unwrap();
        assert_eq!(m.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(m.application_type, ApplicationType::Web);
        assert_eq!(m.grant_types, ["authorization_code", "refresh_token"]);
        assert!(m.scope.is_none());
    }

    #[test]
    fn a_wrong_type_names_the_field_without_echoing_the_value() {
        let long = "x".repeat(3000);
        let e = check(json!({"redirect_uris": long})).unwrap_err();
        assert_eq!(e.to_string(), "redirect_uris must be an array of strings");
    }

    #[test]
    fn a_bad_redirect_uri_is_reported_by_index() {
        let e =
            check(json!({"redirect_uris": ["https://a.example/cb", "javascript:x"]})).unwrap_err();
        assert!(
            matches!(e, MetadataError::RedirectUri { index: 1, .. }),
            "{e}"
        );
    }

    #[test]
    fn unsupported_methods_grants_responses_and_scopes_are_refused() {
        for bad in [
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            json!({"grant_types": ["implicit"]}),
            json!({"grant_types": ["refresh_token"]}),
            json!({"response_types": ["token"]}),
            json!({"scope": "admin"}),
            json!({"application_type": "desktop"}),
            json!({"logo_uri": "http://a.example/logo.png"}),
            json!({"client_name": "a".repeat(201)}),
            json!({"client_name": "Claude\u{202e}lihp"}),
            json!({"contacts": vec!["a@b.example"; 11]}),
        ] {
            let mut body = bad.clone();
            body["redirect_uris"] = json!(["https://a.example/cb"]);
            assert!(
                matches!(check(body), Err(MetadataError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn server_assigned_fields_are_dropped_and_extras_are_bounded() {
        let m = check(json!({
            "redirect_uris": ["https://a.example/cb"],
            "registration_client_uri": "https://evil.example/",
            "software_id": "x"
        }))
        .unwrap();
        assert!(!m.metadata.contains_key("registration_client_uri"));
        assert_eq!(m.metadata["software_id"], "x");
        let big = check(json!({"redirect_uris": ["https://a.example/cb"], "x": "y".repeat(5000)}));
        assert!(matches!(big, Err(MetadataError::Invalid(_))));
    }
}
