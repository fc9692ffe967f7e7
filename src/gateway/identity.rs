//! Who a forwarded request is for, and the `X-Auth-*` headers that tell the MCP server.
//!
//! The values come from upstream identity providers, so they may hold anything (a display name
//! with a newline, a non-ASCII email). Header values cannot, so every value is percent-encoded
//! over control characters, non-ASCII bytes and `%` itself: always the same rule, so an MCP
//! server can percent-decode every `X-Auth-*` value without guessing, and plain ASCII values
//! (the usual case) arrive unchanged.

use std::{ops::Range, sync::Arc};

use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::{assertion::Signed, token_claims::TokenClaims};
use super::{spoofed::remove_identity_headers, user_cache::CachedUser};

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

/// The values of the `X-Auth-*` headers, borrowed from wherever they are kept.
struct Fields<'a> {
    subject: &'a str,
    tenant: &'a str,
    client_id: &'a str,
    /// Space-separated, no empty item.
    scopes: &'a str,
    email: Option<&'a str>,
    name: Option<&'a str>,
    assertion: Assertion<'a>,
    /// Already encoded item by item ([`Identity::with_claim_headers`]).
    groups: Option<&'a str>,
    roles: Option<&'a str>,
}

/// Where the `X-Auth-Assertion` comes from.
enum Assertion<'a> {
    None,
    /// A JWT already encoded ([`Identity::assertion`]).
    Text(&'a str),
    /// Encoded now from its signature and what it was signed over (the gateway).
    Signed {
        signed: &'a Signed,
        claims: &'a TokenClaims,
        user: &'a CachedUser,
    },
}

impl Fields<'_> {
    /// The tenant, client id and scopes repeat across users: their values are shared
    /// (`interned.rs`), a reference count each. The user's own values (subject, email, name)
    /// and the assertion are written into one buffer that their header values share: one
    /// allocation, where a value each cost two (its copy, then the shared handle its first
    /// clone made; issue 13, item 2). Nothing here is kept per access token (issue 13, item 4:
    /// memory per cached user): the gateway keeps only the assertion's signature and builds
    /// these per request.
    fn headers(self) -> IdentityHeaders {
        let shared = |name: &HeaderName, value: &str| {
            super::interned::value(value, |raw| encode(name, raw, Sensitivity::Plain))
        };
        let own = [
            Some(self.subject),
            nonempty(self.email),
            nonempty(self.name),
        ];
        let spare = own.iter().flatten().map(|v| encoded_len(v)).sum::<usize>();
        let mut buffer = Vec::new();
        let assertion = match self.assertion {
            Assertion::None => None,
            Assertion::Text(text) => nonempty(Some(text)).map(|text| {
                buffer.reserve(encoded_len(text) + spare);
                push_encoded(&mut buffer, text)
            }),
            Assertion::Signed {
                signed,
                claims,
                user,
            } => signed
                .encode_into(claims, user, &mut buffer, spare)
                .map(|()| 0..buffer.len())
                .map_err(|e| tracing::error!(error = %e, "cannot encode the identity assertion"))
                .ok(),
        };
        buffer.reserve(spare);
        let [subject, email, name] = own.map(|v| v.map(|v| push_encoded(&mut buffer, v)));
        let buffer = bytes::Bytes::from(buffer);
        let value = |header: &HeaderName, range: Option<Range<usize>>, sensitivity| {
            let mut value = HeaderValue::from_maybe_shared(buffer.slice(range?))
                .map_err(|_| tracing::warn!(%header, "identity header value dropped"))
                .ok()?;
            value.set_sensitive(sensitivity == Sensitivity::Sensitive);
            Some(value)
        };
        let values = [
            value(&SUBJECT, subject, Sensitivity::Plain),
            shared(&TENANT, self.tenant),
            shared(&CLIENT_ID, self.client_id),
            shared(&SCOPES, self.scopes),
            value(&EMAIL, email, Sensitivity::Plain),
            value(&NAME, name, Sensitivity::Plain),
            value(&ASSERTION, assertion, Sensitivity::Sensitive),
            raw(&GROUPS, self.groups),
            raw(&ROLES, self.roles),
        ];
        IdentityHeaders {
            values: Arc::new(values),
            upstream_token: None,
            bearer: None,
        }
    }
}

/// `value` unless empty: an empty value sends no header.
fn nonempty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// The length of `value` percent-encoded (see [`encode`]).
fn encoded_len(value: &str) -> usize {
    utf8_percent_encode(value, UNSAFE_IN_VALUE)
        .map(str::len)
        .sum()
}

/// Appends `value` percent-encoded (see [`encode`]) to `buffer`; where it went.
fn push_encoded(buffer: &mut Vec<u8>, value: &str) -> Range<usize> {
    let start = buffer.len();
    for part in utf8_percent_encode(value, UNSAFE_IN_VALUE) {
        buffer.extend_from_slice(part.as_bytes());
    }
    start..buffer.len()
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
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            subject: "user-1".into(),
            email: Some("ada@example.com".into()),
            name: Some("Ada\r\nX-Auth-Subject: admin".into()),
            tenant: "acme".into(),
            client_id: "client-1".into(),
            scopes: vec!["mcp".into(), "read".into()],
            upstream_token: Some("upstream-secret".into()),
            assertion: None,
            groups: None,
            roles: None,
        }
    }

    #[test]
    fn groups_and_roles_are_sent_only_when_opted_in_with_commas_encoded_inside_values() {
        use crate::domain::ClaimValue;
        let user = CachedUser {
            claims: [
                (
                    "groups".to_owned(),
                    ClaimValue::List(vec!["eng".into(), "a,b".into(), "Zoë".into()]),
                ),
                ("roles".to_owned(), ClaimValue::Text("admin".into())),
            ]
            .into(),
            ..CachedUser::default()
        };
        let mut headers = HeaderMap::new();
        identity().headers().replace_headers(&mut headers);
        assert!(headers.get(GROUPS).is_none());
        identity()
            .with_claim_headers(&user)
            .headers()
            .replace_headers(&mut headers);
        assert_eq!(headers[GROUPS], "eng,a%2Cb,Zo%C3%AB");
        assert_eq!(headers[ROLES], "admin");
    }

    #[test]
    fn a_value_with_a_newline_is_percent_encoded_not_split() {
        let mut headers = HeaderMap::new();
        identity().headers().replace_headers(&mut headers);
        assert_eq!(headers[NAME], "Ada%0D%0AX-Auth-Subject: admin");
        assert_eq!(headers[SUBJECT], "user-1");
        assert_eq!(headers.get_all(SUBJECT).iter().count(), 1);
    }

    #[test]
    fn non_ascii_and_percent_are_encoded() {
        let mut headers = HeaderMap::new();
        let mut identity = identity();
        identity.name = Some("José 100%".into());
        identity.headers().replace_headers(&mut headers);
        assert_eq!(headers[NAME], "Jos%C3%A9 100%25");
    }

    #[test]
    fn spoofed_identity_headers_are_replaced_and_absent_ones_removed() {
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-subject", HeaderValue::from_static("admin"));
        headers.insert("x-auth-assertion", HeaderValue::from_static("forged"));
        headers.insert("x-auth-anything", HeaderValue::from_static("forged"));
        identity().headers().replace_headers(&mut headers);
        assert_eq!(headers[SUBJECT], "user-1");
        assert!(headers.get(ASSERTION).is_none());
        assert!(headers.get("x-auth-anything").is_none());
        assert_eq!(headers[SCOPES], "mcp read");
        assert!(headers[UPSTREAM_TOKEN].is_sensitive());
    }

    /// The gateway's per-request path (`IdentityHeaders::of`) and the `Identity` one send the
    /// same headers, byte for byte and sensitivity alike.
    #[test]
    fn headers_built_for_a_token_are_those_of_its_identity() {
        use crate::domain::ClaimValue;
        let claims = TokenClaims::from(crate::tokens::AccessClaims {
            iss: "https://bridge.example.com/t/acme".into(),
            sub: "user-1".into(),
            aud: "https://bridge.example.com/t/acme/mcp/github".into(),
            client_id: "client-1".into(),
            scope: "mcp  read".into(),
            jti: uuid::Uuid::nil(),
            iat: 0,
            exp: 1,
        });
        let user = CachedUser {
            email: Some("".into()),
            name: Some("José\r\n100%".into()),
            claims: [(
                "groups".to_owned(),
                ClaimValue::List(vec!["eng".into(), "a,b".into()]),
            )]
            .into(),
        };
        let signed = Signed::for_tests();
        let jwt = signed.encode(&claims, &user).unwrap();
        for claim_headers in [false, true] {
            let mut identity = Identity::of(&claims, "acme", &user, Some(jwt.clone()));
            if claim_headers {
                identity = identity.with_claim_headers(&user);
            }
            let (mut expected, mut built) = (HeaderMap::new(), HeaderMap::new());
            identity.headers().replace_headers(&mut expected);
            IdentityHeaders::of(&claims, "acme", &user, Some(&signed), claim_headers)
                .replace_headers(&mut built);
            assert_eq!(built, expected);
            for (name, value) in &expected {
                assert_eq!(built[name].is_sensitive(), value.is_sensitive(), "{name}");
            }
            assert_eq!(built[NAME], "Jos%C3%A9%0D%0A100%25");
            assert_eq!(built[SCOPES], "mcp read");
            assert!(built.get(EMAIL).is_none());
            assert!(built[ASSERTION].is_sensitive());
            assert_eq!(built.get(GROUPS).is_some(), claim_headers);
        }
        let mut unsigned = HeaderMap::new();
        IdentityHeaders::of(&claims, "acme", &user, None, false).replace_headers(&mut unsigned);
        assert!(unsigned.get(ASSERTION).is_none());
        assert_eq!(unsigned[SUBJECT], "user-1");
    }

    #[test]
    fn debug_leaves_the_credentials_out() {
        let shown = format!("{:?}", identity());
        assert!(!shown.contains("upstream-secret"));
    }
}
