//! The console's session: one `HttpOnly`, `SameSite=Strict` cookie sealed with the shared
//! keyring, holding the admin token the operator typed into the sign-in form (so every page is
//! an admin API call made with that token: the same authentication, tenant binding and audit
//! actor as the REST API), a random nonce for CSRF tokens, and an expiry. Before sign-in the
//! cookie holds only the nonce, so the sign-in form has a CSRF token too.

use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    browser_session::{CookieKind, SameSite, live},
    domain::Secret,
    services::Services,
};

/// How long a console session lasts (not renewed: sign in again).
pub const SESSION_TTL: Duration = Duration::minutes(30);

const COOKIE: CookieKind = CookieKind {
    name: "mab-console",
    purpose: "admin-console-session",
    same_site: SameSite::Strict,
};

#[derive(Serialize, Deserialize)]
struct Stored {
    token: Option<String>,
    nonce: String,
    expires_at: DateTime<Utc>,
}

/// A browser's console session; `token` is `None` before sign-in.
pub struct ConsoleSession {
    pub token: Option<Secret<String>>,
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
}

fn secure(state: &Services) -> bool {
    state.config.public_url.scheme() == "https"
}

impl ConsoleSession {
    /// This browser's live session, if any.
    pub fn current(state: &Services, headers: &HeaderMap) -> Option<Self> {
        let s: Stored = COOKIE.read(&state.sealer, secure(state), headers)?;
        live(s.expires_at, Utc::now()).then(|| Self {
            token: s.token.map(Secret::new),
            nonce: s.nonce,
            expires_at: s.expires_at,
        })
    }

    /// A fresh session, signed in with `token` or anonymous.
    pub fn fresh(token: Option<String>) -> Self {
        Self {
            token: token.map(Secret::new),
            nonce: crate::crypto::random::token(),
            expires_at: Utc::now() + SESSION_TTL,
        }
    }

    pub fn set_cookie(&self, state: &Services) -> HeaderValue {
        let stored = Stored {
            token: self.token.as_ref().map(|t| t.expose().clone()),
            nonce: self.nonce.clone(),
            expires_at: self.expires_at,
        };
        let left = (self.expires_at - Utc::now()).num_seconds().max(0);
        COOKIE.set(
            &state.sealer,
            secure(state),
            &stored,
            u64::try_from(left).unwrap_or(0),
        )
    }

    pub fn clear_cookie(state: &Services) -> HeaderValue {
        COOKIE.clear(secure(state))
    }

    pub fn csrf_token(&self, state: &Services) -> String {
        COOKIE.csrf_token(&state.sealer, &self.nonce)
    }

    pub fn csrf_ok(&self, state: &Services, submitted: &str) -> bool {
        COOKIE.csrf_ok(&state.sealer, &self.nonce, submitted)
    }
}
