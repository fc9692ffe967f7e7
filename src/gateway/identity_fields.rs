//! The `X-Auth-*` values of one request, from wherever they are kept (an [`Identity`], or the
//! token's claims and the cached user context), the user's own ones written into one buffer.

use std::{ops::Range, sync::Arc};

use http::{HeaderName, HeaderValue};
use percent_encoding::utf8_percent_encode;

use super::{
    ASSERTION, CLIENT_ID, EMAIL, GROUPS, IdentityHeaders, NAME, ROLES, SCOPES, SUBJECT,
    Sensitivity, TENANT, UNSAFE_IN_VALUE, encode, raw,
};
use crate::gateway::{assertion::Signed, token_claims::TokenClaims, user_cache::CachedUser};

/// The values of the `X-Auth-*` headers, borrowed from wherever they are kept.
pub(super) struct Fields<'a> {
    pub(super) subject: &'a str,
    pub(super) tenant: &'a str,
    pub(super) client_id: &'a str,
    /// Space-separated, no empty item.
    pub(super) scopes: &'a str,
    pub(super) email: Option<&'a str>,
    pub(super) name: Option<&'a str>,
    pub(super) assertion: Assertion<'a>,
    /// Already encoded item by item ([`Identity::with_claim_headers`]).
    pub(super) groups: Option<&'a str>,
    pub(super) roles: Option<&'a str>,
}

/// Where the `X-Auth-Assertion` comes from.
pub(super) enum Assertion<'a> {
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
    pub(super) fn headers(self) -> IdentityHeaders {
        let shared = |name: &HeaderName, value: &str| {
            crate::gateway::interned::value(value, |raw| encode(name, raw, Sensitivity::Plain))
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
pub(super) fn nonempty(value: Option<&str>) -> Option<&str> {
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
