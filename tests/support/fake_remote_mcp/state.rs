//! The fake remote's state: registered clients, codes, tokens (with their family, for reuse
//! detection), knobs and counters. One mutex; no test holds it across an await.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

/// How often the bridge called each endpoint.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub prm: u32,
    pub as_metadata: u32,
    pub register: u32,
    pub authorize: u32,
    pub token_code: u32,
    pub token_refresh: u32,
    /// Refreshes refused because the token was spent already (reuse detected).
    pub refresh_reuse: u32,
    pub revoke: u32,
    /// `/mcp` requests with a good token, with a bad one (401), and with none at all (401;
    /// discovery's probe).
    pub mcp_ok: u32,
    pub mcp_unauthorized: u32,
    pub mcp_anonymous: u32,
}

pub struct Client {
    pub secret: String,
    pub redirect_uris: Vec<String>,
}

pub struct Code {
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: String,
    pub resource: String,
    pub user: String,
    pub scope: String,
}

pub struct Access {
    pub user: String,
    pub expires: Instant,
    pub revoked: bool,
}

pub struct Refresh {
    pub user: String,
    pub client_id: String,
    pub family: u64,
    pub spent: bool,
    pub revoked: bool,
    pub scope: String,
}

pub struct Inner {
    pub clients: HashMap<String, Client>,
    pub codes: HashMap<String, Code>,
    pub access: HashMap<String, Access>,
    pub refresh: HashMap<String, Refresh>,
    pub next: u64,
    pub user: String,
    pub access_ttl: Duration,
    pub refresh_delay: Duration,
    pub counters: Counters,
    pub mcp_authorizations: Vec<String>,
    pub last_authorize: Option<HashMap<String, String>>,
}

pub struct Shared {
    pub base: String,
    inner: Mutex<Inner>,
}

impl Shared {
    pub fn new(base: String) -> Self {
        Self {
            base,
            inner: Mutex::new(Inner {
                clients: HashMap::new(),
                codes: HashMap::new(),
                access: HashMap::new(),
                refresh: HashMap::new(),
                next: 0,
                user: "remote-alice".into(),
                access_ttl: Duration::from_secs(3600),
                refresh_delay: Duration::ZERO,
                counters: Counters::default(),
                mcp_authorizations: Vec::new(),
                last_authorize: None,
            }),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}-{}", self.next, uuid::Uuid::new_v4().simple())
    }

    /// A new access token and refresh token of `family` (a new family when `None`).
    pub fn issue(
        &mut self,
        user: &str,
        client_id: &str,
        scope: &str,
        family: Option<u64>,
    ) -> serde_json::Value {
        let access = self.fresh("rat");
        let refresh = self.fresh("rrt");
        let family = family.unwrap_or(self.next);
        let ttl = self.access_ttl;
        self.access.insert(
            access.clone(),
            Access {
                user: user.into(),
                expires: Instant::now() + ttl,
                revoked: false,
            },
        );
        self.refresh.insert(
            refresh.clone(),
            Refresh {
                user: user.into(),
                client_id: client_id.into(),
                family,
                spent: false,
                revoked: false,
                scope: scope.into(),
            },
        );
        serde_json::json!({
            "access_token": access, "token_type": "Bearer", "expires_in": ttl.as_secs(),
            "refresh_token": refresh, "scope": scope,
        })
    }

    /// Reuse detected: every token of the family goes.
    pub fn revoke_family(&mut self, family: u64) {
        self.refresh
            .values_mut()
            .filter(|r| r.family == family)
            .for_each(|r| r.revoked = true);
    }
}
