//! A verified access token's claims as the gateway keeps them, one per cached token.
//!
//! `tokens::AccessClaims` holds five owned `String`s, and four of them (issuer, audience,
//! client id, scope) are the same few values for every user of one MCP server: kept per cached
//! token they were ~150 bytes of copies per user (issue 13, item 4: memory per cached user).
//! Converted once after verification, those four are shared `Arc<str>`s (`interned::text`);
//! only the subject is the token's own.

use std::sync::Arc;

use uuid::Uuid;

use super::interned;
use crate::tokens::AccessClaims;

/// The claims of a verified access token (see the module documentation); the same fields and
/// meaning as [`AccessClaims`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenClaims {
    pub iss: Arc<str>,
    pub sub: Box<str>,
    pub aud: Arc<str>,
    pub client_id: Arc<str>,
    /// Space-separated.
    pub scope: Arc<str>,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
}

impl From<AccessClaims> for TokenClaims {
    fn from(claims: AccessClaims) -> Self {
        Self {
            iss: interned::text(&claims.iss),
            sub: claims.sub.into_boxed_str(),
            aud: interned::text(&claims.aud),
            client_id: interned::text(&claims.client_id),
            scope: interned::text(&claims.scope),
            jti: claims.jti,
            iat: claims.iat,
            exp: claims.exp,
        }
    }
}
