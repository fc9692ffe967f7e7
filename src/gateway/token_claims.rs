//! A verified access token's claims as the gateway keeps them, one per cached token.
//!
//! `tokens::AccessClaims` holds five owned `String`s, and four of them (issuer, audience,
//! client id, scope) are the same few values for every user of one client on one MCP server:
//! kept per cached token they were ~150 bytes of copies per user, and even as four shared
//! `Arc<str>`s 64 bytes of pointers (issue 13, item 4: memory per cached user). Converted once
//! after verification, those four are one shared [`SharedClaims`] (one pointer, interned by
//! value in a bounded table, as `interned.rs` does for header values); only the subject, the
//! token id and the expiry are the token's own. The issue time is not kept: nothing reads it
//! after verification.

use std::{
    collections::HashSet,
    ops::Deref,
    sync::{Arc, LazyLock, Mutex},
};

use uuid::Uuid;

use crate::tokens::AccessClaims;

/// The claims of a verified access token (see the module documentation); the same fields and
/// meaning as [`AccessClaims`], less `iat`. The shared ones are read through `Deref`
/// (`claims.aud`), as if they were its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenClaims {
    shared: Arc<SharedClaims>,
    pub sub: Box<str>,
    pub jti: Uuid,
    pub exp: i64,
}

/// The claims that repeat across the tokens of one client for one MCP server and scope set.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SharedClaims {
    pub iss: Box<str>,
    pub aud: Box<str>,
    pub client_id: Box<str>,
    /// Space-separated.
    pub scope: Box<str>,
}

impl Deref for TokenClaims {
    type Target = SharedClaims;

    fn deref(&self) -> &SharedClaims {
        &self.shared
    }
}

impl From<AccessClaims> for TokenClaims {
    fn from(claims: AccessClaims) -> Self {
        let shared = SharedClaims {
            iss: claims.iss.into_boxed_str(),
            aud: claims.aud.into_boxed_str(),
            client_id: claims.client_id.into_boxed_str(),
            scope: claims.scope.into_boxed_str(),
        };
        Self {
            shared: interned(shared),
            sub: claims.sub.into_boxed_str(),
            jti: claims.jti,
            exp: claims.exp,
        }
    }
}

/// Distinct shared claims kept at most (tenants × MCP servers × clients × scope sets in use);
/// past that a token's are its own, which costs what it cost before, never an unbounded table.
const CAPACITY: usize = 4096;

static SHARED: LazyLock<Mutex<HashSet<Arc<SharedClaims>>>> =
    LazyLock::new(|| Mutex::new(HashSet::new()));

/// The shared copy of `claims`.
fn interned(claims: SharedClaims) -> Arc<SharedClaims> {
    // A poisoned lock only means another thread panicked while inserting: the set is intact.
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = shared.get(&claims) {
        return known.clone();
    }
    let claims = Arc::new(claims);
    if shared.len() < CAPACITY {
        shared.insert(claims.clone());
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(sub: &str, scope: &str) -> AccessClaims {
        AccessClaims {
            iss: "https://issuer/t/interned-test".into(),
            sub: sub.into(),
            aud: "https://issuer/t/interned-test/mcp/demo".into(),
            client_id: "client-1".into(),
            scope: scope.into(),
            jti: Uuid::new_v4(),
            iat: 0,
            exp: 1,
        }
    }

    #[test]
    fn tokens_of_one_client_share_their_repeating_claims_and_keep_their_own() {
        let (a, b) = (
            TokenClaims::from(access("user-a", "mcp read")),
            TokenClaims::from(access("user-b", "mcp read")),
        );
        assert!(Arc::ptr_eq(&a.shared, &b.shared));
        assert_eq!((&*a.sub, &*b.sub), ("user-a", "user-b"));
        assert_eq!(&*a.aud, "https://issuer/t/interned-test/mcp/demo");
        assert_eq!(&*a.scope, "mcp read");

        let other = TokenClaims::from(access("user-a", "mcp"));
        assert!(!Arc::ptr_eq(&a.shared, &other.shared), "another scope set");
        assert_eq!(&*other.scope, "mcp");
    }
}
