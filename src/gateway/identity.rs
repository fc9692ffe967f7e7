//! Who a forwarded request is for, and the `X-Auth-*` headers that tell the MCP server.
//!
//! The values come from upstream identity providers, so they may hold anything (a display name
//! with a newline, a non-ASCII email). Header values cannot, so every value is percent-encoded
//! over control characters, non-ASCII bytes and `%` itself: always the same rule, so an MCP
//! server can percent-decode every `X-Auth-*` value without guessing, and plain ASCII values
//! (the usual case) arrive unchanged.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::{assertion::Signed, token_claims::TokenClaims};
use super::{spoofed::remove_identity_headers, user_cache::CachedUser};

#[path = "identity_fields.rs"]
mod fields;
use fields::{Assertion, Fields};

const SUBJECT: HeaderName = HeaderName::from_static("x-auth-subject");
const EMAIL: HeaderName = HeaderName::from_static("x-auth-email");
const NAME: HeaderName = HeaderName::from_static("x-auth-name");
const TENANT: HeaderName = HeaderName::from_static("x-auth-tenant");
const CLIENT_ID: HeaderName = HeaderName::from_static("x-auth-client-id");
const SCOPES: HeaderName = HeaderName::from_static("x-auth-scopes");
const UPSTREAM_TOKEN: HeaderName = HeaderName::from_static("x-auth-upstream-token");
const ASSERTION: HeaderName = HeaderName::from_static("x-auth-assertion");
const GROUPS: HeaderName = HeaderName::from_static("x-auth-groups");
const ROLES: HeaderName = HeaderName::from_static("x-auth-roles");

/// Control characters (CR, LF, NUL, DEL…) cannot be in a header value; `%` is encoded so that
/// decoding is unambiguous. Non-ASCII is always encoded by `utf8_percent_encode`.
const UNSAFE_IN_VALUE: &AsciiSet = &CONTROLS.add(b'%');
/// In a list header (`X-Auth-Groups`), `,` separates values, so inside a value it is encoded.
const UNSAFE_IN_LIST_ITEM: &AsciiSet = &UNSAFE_IN_VALUE.add(b',');

/// Who the request is for; turned into `X-Auth-*` headers. Built by the auth layer.
///
/// `Debug` leaves the two credentials out, so an `Identity` can be logged.
#[derive(Clone, Default)]
pub struct Identity {
    /// The user's stable id at the upstream provider.
    pub subject: String,
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Tenant slug.
    pub tenant: String,
    /// The MCP client the token was issued to.
    pub client_id: String,
    /// Granted scopes, sent space-separated.
    pub scopes: Vec<String>,
    /// Only for MCP servers that opted in: sent as `X-Auth-Upstream-Token`.
    pub upstream_token: Option<String>,
    /// A short-lived signed JWT for `X-Auth-Assertion`, so the MCP server can verify the
    /// identity headers came from the gateway.
    pub assertion: Option<String>,
    /// Only for MCP servers that opted in (`claim_headers`): the mapped `groups` claim as
    /// `X-Auth-Groups`, comma-separated, each value percent-encoded (`,` included).
    pub groups: Option<String>,
    /// Likewise the mapped `roles` claim as `X-Auth-Roles`.
    pub roles: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &self.subject)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("upstream_token", &self.upstream_token.is_some())
            .field("assertion", &self.assertion.is_some())
            .finish_non_exhaustive()
    }
}

/// The headers an [`IdentityHeaders`] holds, in the order of its values.
static FIXED: [HeaderName; 9] = [
    SUBJECT, TENANT, CLIENT_ID, SCOPES, EMAIL, NAME, ASSERTION, GROUPS, ROLES,
];

impl Identity {
    /// The identity of `user` behind the access token `claims`, in tenant `tenant`, with no
    /// upstream token: what the gateway builds and keeps per access token.
    pub fn of(
        claims: &TokenClaims,
        tenant: &str,
        user: &CachedUser,
        assertion: Option<String>,
    ) -> Self {
        Self {
            subject: claims.sub.to_string(),
            email: user.email.as_deref().map(str::to_owned),
            name: user.name.as_deref().map(str::to_owned),
            tenant: tenant.to_owned(),
            client_id: claims.client_id.to_string(),
            scopes: claims
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            upstream_token: None,
            assertion,
            groups: None,
            roles: None,
        }
    }

    /// The same identity with the user's mapped `groups` and `roles` (a server that opted in);
    /// a user without them gets no such header.
    pub fn with_claim_headers(self, user: &CachedUser) -> Self {
        Self {
            groups: list(user, "groups"),
            roles: list(user, "roles"),
            ..self
        }
    }

    /// The `X-Auth-*` values, encoded for one request (see [`IdentityHeaders::of`], the
    /// gateway's way to the same headers).
    pub fn headers(&self) -> IdentityHeaders {
        let scopes = self.scopes.join(" ");
        let headers = Fields {
            subject: &self.subject,
            tenant: &self.tenant,
            client_id: &self.client_id,
            scopes: &scopes,
            email: self.email.as_deref(),
            name: self.name.as_deref(),
            assertion: match self.assertion.as_deref() {
                Some(text) => Assertion::Text(text),
                None => Assertion::None,
            },
            groups: self.groups.as_deref(),
            roles: self.roles.as_deref(),
        }
        .headers();
        match self.upstream_token.as_deref() {
            Some(token) => headers.with_upstream_token(token),
            None => headers,
        }
    }
}

/// An [`Identity`] as header values, ready to add to a request. Cheap to clone: the values
/// are shared. `Debug` shows the header names only.
///
/// The values sit in a fixed array in the order of [`FIXED`] rather than as (name, value)
/// pairs: the names are static.
#[derive(Clone)]
pub struct IdentityHeaders {
    values: Arc<[Option<HeaderValue>; 9]>,
    upstream_token: Option<HeaderValue>,
    /// `Authorization: Bearer …` for a remote MCP server with its own OAuth (issue 18): the
    /// user's token *from that server*, never the bridge's.
    bearer: Option<HeaderValue>,
}

impl std::fmt::Debug for IdentityHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.fixed().map(|(name, _)| name))
            .entries(self.upstream_token.as_ref().map(|_| UPSTREAM_TOKEN))
            .finish()
    }
}

impl IdentityHeaders {
    /// The headers of `user` behind the access token `claims` in tenant `tenant`, with the
    /// `X-Auth-Assertion` encoded from `signed` (none without) and, when `claim_headers`, the
    /// mapped groups and roles: what [`Identity::of`] and [`Identity::headers`] give, without
    /// copying every value into an `Identity` first (the gateway builds them per request).
    pub fn of(
        claims: &TokenClaims,
        tenant: &str,
        user: &CachedUser,
        signed: Option<&Signed>,
        claim_headers: bool,
    ) -> Self {
        let (groups, roles) = if claim_headers {
            (list(user, "groups"), list(user, "roles"))
        } else {
            (None, None)
        };
        let normalized;
        let scopes = if claims.scope.split(' ').any(str::is_empty) {
            normalized = claims
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            &normalized
        } else {
            &*claims.scope
        };
        Fields {
            subject: &claims.sub,
            tenant,
            client_id: &claims.client_id,
            scopes,
            email: user.email.as_deref(),
            name: user.name.as_deref(),
            assertion: match signed {
                Some(signed) => Assertion::Signed {
                    signed,
                    claims,
                    user,
                },
                None => Assertion::None,
            },
            groups: groups.as_deref(),
            roles: roles.as_deref(),
        }
        .headers()
    }

    /// The same identity with the user's upstream access token (a server that opted in), or
    /// another one after a refresh. An empty token sends none.
    pub fn with_upstream_token(&self, token: &str) -> Self {
        Self {
            values: Arc::clone(&self.values),
            upstream_token: Some(token)
                .filter(|t| !t.is_empty())
                .and_then(|t| encode(&UPSTREAM_TOKEN, t, Sensitivity::Sensitive)),
            bearer: self.bearer.clone(),
        }
    }

    /// Only `Authorization: Bearer {token}`: what a remote MCP server with its own OAuth gets
    /// (a third party: no `X-Auth-*` identity headers). A token that cannot be a header value
    /// sends none, and the remote answers 401.
    pub fn remote_bearer(token: &str) -> Self {
        let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
            .ok()
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        Self {
            values: Arc::new(Default::default()),
            upstream_token: None,
            bearer,
        }
    }

    /// Whether an upstream token is sent (and so a `401` may mean it was refused).
    pub fn has_upstream_token(&self) -> bool {
        self.upstream_token.is_some()
    }

    /// The headers sent apart from the upstream token.
    fn fixed(&self) -> impl Iterator<Item = (&'static HeaderName, &HeaderValue)> {
        FIXED
            .iter()
            .zip(self.values.iter())
            .filter_map(|(name, value)| Some((name, value.as_ref()?)))
    }

    /// Removes every `x-auth-*` header (whoever set it) and adds this identity's.
    pub(super) fn replace_headers(&self, headers: &mut HeaderMap) {
        remove_identity_headers(headers);
        for (name, value) in self.fixed() {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(token) = &self.upstream_token {
            headers.insert(UPSTREAM_TOKEN, token.clone());
        }
        if let Some(bearer) = &self.bearer {
            headers.insert(http::header::AUTHORIZATION, bearer.clone());
        }
    }
}

/// The user's mapped claim `name` as a list header's value: comma-separated, each item
/// percent-encoded (`,` included).
fn list(user: &CachedUser, name: &str) -> Option<String> {
    let items = user.claims.get(name)?.as_list();
    let encoded: Vec<String> = items
        .iter()
        .map(|item| utf8_percent_encode(item, UNSAFE_IN_LIST_ITEM).to_string())
        .collect();
    Some(encoded.join(","))
}

/// A value already percent-encoded (list headers); empty means no header.
fn raw(name: &HeaderName, value: Option<&str>) -> Option<HeaderValue> {
    let value = value.filter(|v| !v.is_empty())?;
    HeaderValue::from_str(value)
        .map_err(|_| tracing::warn!(header = %name, "identity header value dropped"))
        .ok()
}

/// Whether a header value is a credential (the assertion, the upstream token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sensitivity {
    Plain,
    Sensitive,
}

/// Sensitive values are marked so `http`'s and hyper's `Debug` output never shows them.
///
/// The value is copied into a buffer of exactly its length: a `String` grown by formatting
/// keeps up to twice its length, and a cached assertion would keep that slack per token.
fn encode(name: &HeaderName, value: &str, sensitivity: Sensitivity) -> Option<HeaderValue> {
    let encoded: std::borrow::Cow<'_, str> = utf8_percent_encode(value, UNSAFE_IN_VALUE).into();
    match HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(encoded.as_bytes())) {
        Ok(mut value) => {
            value.set_sensitive(sensitivity == Sensitivity::Sensitive);
            Some(value)
        }
        // Unreachable after encoding; dropping the header is the safe failure.
        Err(_) => {
            tracing::warn!(header = %name, "identity header value dropped");
            None
        }
    }
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
