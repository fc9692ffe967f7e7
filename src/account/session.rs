//! The account page's two cookies: the login in progress (upstream `state`, PKCE verifier and
//! nonce, sealed, ten minutes) and the signed-in session (tenant, subject, thirty minutes).
//! Both `SameSite=Lax`: the IdP sends the browser back with a top-level navigation from its own
//! site, and the page it lands on must see the session. Forms are protected by CSRF tokens.

use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    browser_session::{CookieKind, SameSite, live},
    services::Services,
};

/// How long a signed-in account session lasts (it is not renewed: sign in again).
pub const SESSION_TTL: Duration = Duration::minutes(30);
/// How long the upstream login may take.
pub const LOGIN_TTL: Duration = Duration::minutes(10);

const SESSION: CookieKind = CookieKind {
    name: "mab-account",
    purpose: "account-session",
    same_site: SameSite::Lax,
};

const LOGIN: CookieKind = CookieKind {
    name: "mab-account-login",
    purpose: "account-login",
    same_site: SameSite::Lax,
};

/// A signed-in user of one tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountSession {
    pub tenant_id: Uuid,
    pub subject: String,
    /// The name to greet (display name, email or username), if the IdP gave one.
    pub greeting: Option<String>,
    /// The provider the user signed in with.
    pub provider: String,
    /// Random; the CSRF token derives from it.
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
}

/// An upstream login started from the account page.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountLogin {
    pub tenant_id: Uuid,
    pub provider_id: Uuid,
    /// SHA-256 (hex) of the upstream `state`.
    pub state_hash: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
}

fn secure(state: &Services) -> bool {
    state.config.public_url.scheme() == "https"
}

fn seconds(d: Duration) -> u64 {
    u64::try_from(d.num_seconds()).unwrap_or(0)
}

/// This browser's live session for `tenant_id`, if any.
pub fn current(state: &Services, headers: &HeaderMap, tenant_id: Uuid) -> Option<AccountSession> {
    let s: AccountSession = SESSION.read(&state.sealer, secure(state), headers)?;
    (s.tenant_id == tenant_id && live(s.expires_at, Utc::now())).then_some(s)
}

pub fn start(state: &Services, session: &AccountSession) -> HeaderValue {
    SESSION.set(&state.sealer, secure(state), session, seconds(SESSION_TTL))
}

pub fn end(state: &Services) -> HeaderValue {
    SESSION.clear(secure(state))
}

pub fn csrf_token(state: &Services, session: &AccountSession) -> String {
    SESSION.csrf_token(&state.sealer, &session.nonce)
}

pub fn csrf_ok(state: &Services, session: &AccountSession, submitted: &str) -> bool {
    SESSION.csrf_ok(&state.sealer, &session.nonce, submitted)
}

pub fn begin_login(state: &Services, login: &AccountLogin) -> HeaderValue {
    LOGIN.set(&state.sealer, secure(state), login, seconds(LOGIN_TTL))
}

pub fn clear_login(state: &Services) -> HeaderValue {
    LOGIN.clear(secure(state))
}

/// The account login this browser started for `tenant_id` whose upstream `state` hashes to
/// `state_hash`, if there is one and it has not expired.
pub fn login_in_progress(
    state: &Services,
    headers: &HeaderMap,
    tenant_id: Uuid,
    state_hash: &str,
) -> Option<AccountLogin> {
    let l: AccountLogin = LOGIN.read(&state.sealer, secure(state), headers)?;
    let same_state =
        crate::crypto::hash::constant_time_eq(l.state_hash.as_bytes(), state_hash.as_bytes());
    (l.tenant_id == tenant_id && same_state && live(l.expires_at, Utc::now())).then_some(l)
}
