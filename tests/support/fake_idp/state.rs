//! What the fake remembers: codes, tokens, the test's knobs and the call counters. One std mutex,
//! never held across an `.await`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rand::{Rng, distributions::Alphanumeric};
use tokio::time::Instant;

use super::{FakeIdpOptions, FakeUser, ProviderMode, jwks::SigningKey, modes, request::Params};

/// Upper bound on remembered codes and tokens (each map); beyond it new issues are refused.
pub const MAX_ENTRIES: usize = 20_000;
/// Authorization codes live ten minutes at most (RFC 9700).
pub const CODE_TTL: Duration = Duration::from_secs(600);

/// How often each endpoint was called (a snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub discovery: u64,
    pub jwks: u64,
    pub authorize: u64,
    /// Token requests with `grant_type=authorization_code` (failed ones included).
    pub token_authorization_code: u64,
    /// Token requests with `grant_type=refresh_token` (failed ones included).
    pub token_refresh: u64,
    /// Token-endpoint answers that were errors (injected faults included).
    pub token_errors: u64,
    /// Userinfo, Atlassian `/me`, GitHub `/user`, Salesforce identity URL.
    pub userinfo: u64,
    pub revoke: u64,
    pub api: u64,
    /// Atlassian `accessible-resources`.
    pub accessible_resources: u64,
    /// GitHub `/user/emails`.
    pub emails: u64,
}

#[derive(Default)]
pub struct CounterCells {
    pub discovery: AtomicU64,
    pub jwks: AtomicU64,
    pub authorize: AtomicU64,
    pub token_authorization_code: AtomicU64,
    pub token_refresh: AtomicU64,
    pub token_errors: AtomicU64,
    pub userinfo: AtomicU64,
    pub revoke: AtomicU64,
    pub api: AtomicU64,
    pub accessible_resources: AtomicU64,
    pub emails: AtomicU64,
}

pub fn bump(cell: &AtomicU64) {
    cell.fetch_add(1, Ordering::Relaxed);
}

impl CounterCells {
    pub fn snapshot(&self) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            discovery: get(&self.discovery),
            jwks: get(&self.jwks),
            authorize: get(&self.authorize),
            token_authorization_code: get(&self.token_authorization_code),
            token_refresh: get(&self.token_refresh),
            token_errors: get(&self.token_errors),
            userinfo: get(&self.userinfo),
            revoke: get(&self.revoke),
            api: get(&self.api),
            accessible_resources: get(&self.accessible_resources),
            emails: get(&self.emails),
        }
    }
}

/// An injected token-endpoint failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Next { remaining: u32, status: u16 },
    Forever { status: u16 },
}

impl Fault {
    /// The status to fail this request with, counting one of `Next`'s failures down.
    pub fn take(&mut self) -> Option<u16> {
        match *self {
            Fault::None => None,
            Fault::Forever { status } => Some(status),
            Fault::Next { remaining, status } => {
                *self = match remaining {
                    0 | 1 => Fault::None,
                    n => Fault::Next {
                        remaining: n - 1,
                        status,
                    },
                };
                (remaining > 0).then_some(status)
            }
        }
    }
}

/// The test's controls, changeable while the server runs.
pub struct Knobs {
    /// `None`: the mode's default lifetime.
    pub ttl: Option<Duration>,
    pub rotate: bool,
    pub token_delay: Duration,
    pub userinfo_delay: Duration,
    pub fault: Fault,
    pub deny_next_login: bool,
    pub invalid_grant_next_refresh: bool,
    /// Presenting a spent refresh token revokes its whole grant (RFC 9700 §4.14.2).
    pub reuse_detection: bool,
    /// GitHub: whether `/user` shows the email (else `null`, as for a private email).
    pub github_public_email: bool,
    /// `Some`: userinfo reports this display name instead of the user's (a renamed user).
    pub renamed: Option<String>,
    /// Claims added to the OIDC-style userinfo answers (Keycloak `groups`, `realm_access`…).
    pub extra_claims: serde_json::Map<String, serde_json::Value>,
    /// `None`: any loopback `http` redirect URI; `Some`: exactly these.
    pub redirect_uris: Option<Vec<String>>,
    /// Injected userinfo failures (`fail_next_userinfo_requests`).
    pub userinfo_fault: Fault,
    /// How long a rotated-away refresh token still works (Okta's grace period).
    pub rotation_grace: Duration,
    /// Every token answer waits this long *after* the request was processed (a response lost
    /// on the way back: the IdP has rotated, the bridge never hears of it).
    pub answer_delay: Duration,
    /// Claims that replace the usual ones in every ID token from now on (a forged or
    /// misbehaving IdP: another `tid`, another `iss`).
    pub id_token_claims: serde_json::Map<String, serde_json::Value>,
}

pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    /// Whether the exchange yields a refresh token (mode rules applied at `/authorize`).
    pub offline: bool,
    pub issued: Instant,
}

pub struct AccessRecord {
    pub family: u64,
    pub expires_at: Option<Instant>,
    pub revoked: bool,
    pub scope: String,
}

pub struct RefreshRecord {
    pub family: u64,
    pub revoked: bool,
    /// Spent by rotation (as opposed to revoked).
    pub rotated: bool,
    /// When rotation spent it (the grace period counts from here).
    pub rotated_at: Option<Instant>,
    pub scope: String,
}

#[derive(Default)]
pub struct Inner {
    pub codes: HashMap<String, CodeGrant>,
    pub access: HashMap<String, AccessRecord>,
    pub refresh: HashMap<String, RefreshRecord>,
    pub issued_access: VecDeque<String>,
    pub issued_refresh: VecDeque<String>,
    pub next_family: u64,
    /// Google: a first offline consent yields a refresh token, later ones need `prompt=consent`.
    pub google_consented: bool,
    pub last_authorize: Option<Params>,
    pub last_token_request: Option<Params>,
}

impl Inner {
    /// Revokes every token of one grant.
    pub fn revoke_family(&mut self, family: u64) {
        let refresh = self.refresh.values_mut().filter(|r| r.family == family);
        refresh.for_each(|r| r.revoked = true);
        let access = self.access.values_mut().filter(|a| a.family == family);
        access.for_each(|a| a.revoked = true);
    }
}

/// What one issue produced.
pub struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
    pub scope: String,
}

pub struct Shared {
    pub base: String,
    pub mode: ProviderMode,
    pub client_id: String,
    pub client_secret: String,
    pub user: FakeUser,
    pub key: SigningKey,
    pub counters: CounterCells,
    pub knobs: Mutex<Knobs>,
    pub inner: Mutex<Inner>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn random_token(prefix: &str) -> String {
    let body: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    format!("{prefix}{body}")
}

impl Shared {
    pub fn new(base: String, opts: FakeIdpOptions) -> Self {
        Shared {
            mode: opts.mode,
            client_id: opts.client_id,
            client_secret: opts.client_secret,
            user: opts.user,
            key: SigningKey::generate(opts.id_token_alg),
            counters: CounterCells::default(),
            knobs: Mutex::new(Knobs {
                ttl: opts.access_token_ttl,
                rotate: opts.rotate_refresh_tokens,
                token_delay: Duration::ZERO,
                userinfo_delay: Duration::ZERO,
                fault: Fault::None,
                deny_next_login: false,
                invalid_grant_next_refresh: false,
                reuse_detection: false,
                github_public_email: true,
                renamed: None,
                extra_claims: serde_json::Map::new(),
                redirect_uris: None,
                userinfo_fault: Fault::None,
                rotation_grace: modes::rotation_grace(opts.mode),
                answer_delay: Duration::ZERO,
                id_token_claims: serde_json::Map::new(),
            }),
            inner: Mutex::new(Inner::default()),
            base,
        }
    }

    pub fn knobs(&self) -> MutexGuard<'_, Knobs> {
        guard(&self.knobs)
    }

    pub fn inner(&self) -> MutexGuard<'_, Inner> {
        guard(&self.inner)
    }

    pub fn issuer(&self) -> String {
        format!("{}{}", self.base, modes::issuer_path(self.mode))
    }

    pub fn salesforce_identity_url(&self) -> String {
        let (base, org, user) = (&self.base, modes::SALESFORCE_ORG_ID, &self.user.subject);
        format!("{base}/id/{org}/{user}")
    }

    /// The live access token's record, if `token` is known, unrevoked and unexpired.
    pub fn live_access(&self, token: &str) -> Option<String> {
        let inner = self.inner();
        let rec = inner.access.get(token)?;
        let expired = rec.expires_at.is_some_and(|at| Instant::now() >= at);
        (!rec.revoked && !expired).then(|| rec.scope.clone())
    }

    /// Issues an access token (and a refresh token when `refresh` is set) in `family`.
    pub fn issue(&self, family: u64, scope: &str, refresh: bool) -> Option<Issued> {
        let ttl = self.knobs().ttl.or(modes::default_ttl(self.mode));
        let (at_prefix, rt_prefix) = modes::token_prefixes(self.mode);
        let mut inner = self.inner();
        if inner.access.len() >= MAX_ENTRIES || inner.refresh.len() >= MAX_ENTRIES {
            return None;
        }
        let access_token = random_token(at_prefix);
        let record = AccessRecord {
            family,
            expires_at: ttl.map(|ttl| Instant::now() + ttl),
            revoked: false,
            scope: scope.to_owned(),
        };
        inner.access.insert(access_token.clone(), record);
        push_bounded(&mut inner.issued_access, access_token.clone());
        let refresh_token = refresh.then(|| {
            let token = random_token(rt_prefix);
            let record = RefreshRecord {
                family,
                revoked: false,
                rotated: false,
                rotated_at: None,
                scope: scope.to_owned(),
            };
            inner.refresh.insert(token.clone(), record);
            push_bounded(&mut inner.issued_refresh, token.clone());
            token
        });
        Some(Issued {
            access_token,
            refresh_token,
            expires_in: ttl.map(|t| t.as_secs()),
            scope: scope.to_owned(),
        })
    }

    pub fn new_family(&self) -> u64 {
        let mut inner = self.inner();
        inner.next_family += 1;
        inner.next_family
    }
}

fn push_bounded(list: &mut VecDeque<String>, token: String) {
    if list.len() >= MAX_ENTRIES {
        list.pop_front();
    }
    list.push_back(token);
}
