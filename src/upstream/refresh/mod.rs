//! The refresh coordinator: every user of an upstream access token asks here, and a grant is
//! refreshed at most once at a time — within this process (single flight) and across replicas
//! (a lease in Postgres) — with the rotated refresh token committed before anyone uses the new
//! access token.
//!
//! Why all this (see docs/references.md, "how comparable systems lose sessions"): with rotating
//! refresh tokens, two concurrent refreshes leave one of them holding a spent token, and IdPs
//! with reuse detection then revoke the whole grant; a rotated token kept only in memory, or
//! written after use with the error swallowed, is lost at the next restart; and a transient IdP
//! error treated like a revocation logs users out for nothing. So: callers that arrive while a
//! refresh is in flight take its result; a replica that loses the lease waits and re-reads what
//! the winner stored; only `invalid_grant` ends a grant; everything else is "try later" (503).
//!
//! And under faults (issue 12): a request that may have reached the IdP is never re-sent with
//! the same refresh token within a refresh; the IdP call has its own long timeout while callers
//! get 503 `Retry-After` at their own deadline (the call goes on and its answer is stored); a
//! grant whose refreshes fail backs off; a dead lease holder is noticed within one short lease;
//! and refreshes driven by rejected-token reports are bounded per grant.

mod context;
pub(crate) mod flight;
mod holder;
mod policy;
mod run;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

pub use policy::RefreshPolicy;

use self::{
    context::Ctx,
    flight::{Flights, Role},
    run::Want,
};
use super::Upstream;
use crate::{
    config::AuthConfig,
    crypto::{Sealer, hash},
    domain::{GrantStatus, Secret},
    store::grants::GrantTokens,
};

/// An upstream access token ready to use, and the grant version it belongs to.
#[derive(Clone, Debug)]
pub struct UpstreamAccess {
    pub token: Secret<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// Why no usable upstream token could be had. Only `NeedsReauth`, `Revoked` and
/// `NotRefreshable` mean "log in again" (401); `Unavailable` is the IdP's or our trouble and
/// must be answered with 503, never 401. `Internal` is logged, never shown.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RefreshError {
    /// The IdP answered `invalid_grant`: the grant is now `needs_reauth`.
    #[error("the upstream refused the refresh token; the user must log in again")]
    NeedsReauth,
    #[error("the grant is revoked or gone")]
    Revoked,
    /// No refresh token (a GitHub OAuth app, say) and the access token is dead.
    #[error("the upstream token is dead and cannot be refreshed")]
    NotRefreshable,
    /// Transient trouble after bounded retries; the grant is untouched.
    #[error("the upstream is unavailable")]
    Unavailable { retry_after: Option<u64> },
    /// No refresh now, for a reason of the bridge's (which `why` names): 503 with
    /// `Retry-After`, never 401, and not "the upstream is unavailable".
    #[error("{why}")]
    Busy { why: Busy, retry_after: u64 },
    /// The bridge's own database did not answer (pool timeout, connection lost): 503 with
    /// `Retry-After` naming the database, never the IdP, and the grant is untouched.
    #[error("the bridge's database is unavailable")]
    DatabaseUnavailable,
    #[error("refresh failed: {0}")]
    Internal(String),
}

/// Why a caller is told to come back later although the IdP may be fine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// The caller's deadline (`auth.upstream_refresh_wait`) passed while the refresh was still
    /// running; it goes on and its result is stored when it arrives.
    InFlight,
    /// Another replica held the grant's refresh lease longer than a refresh may take.
    LeaseWait,
    /// The grant's last refresh failed; it pauses before the next (`auth.upstream_refresh_backoff`).
    BackingOff,
    /// A rejected-token report within `auth.upstream_min_refresh_interval` of the last refresh.
    TooSoon,
}

impl Busy {
    /// What happened, for logs and error descriptions (no secrets, no ids).
    pub fn message(self) -> &'static str {
        match self {
            Self::InFlight => "the upstream token is being refreshed; retry shortly",
            Self::LeaseWait => "timed out waiting for another replica's refresh of this grant",
            Self::BackingOff => "the grant's last upstream refresh failed; retry later",
            Self::TooSoon => "the upstream token was refreshed moments ago; retry later",
        }
    }

    /// The `outcome` label of `upstream_refresh_total`.
    fn label(self) -> &'static str {
        match self {
            Self::InFlight => "caller_deadline",
            Self::LeaseWait => "lease_wait_timeout",
            Self::BackingOff => "backing_off",
            Self::TooSoon => "too_soon",
        }
    }
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// How a flight ended well, for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// This flight called the IdP and stored the answer.
    Refreshed,
    /// Someone else had stored a newer token by the time we looked.
    ReusedNewer,
    /// No refresh was possible or needed; the stored token still works.
    Current,
}

/// What every caller of one flight receives.
#[derive(Clone)]
struct Flown {
    result: Result<(UpstreamAccess, Outcome), RefreshError>,
    /// The provider kind, for metric labels (`unknown` when the grant could not be read).
    provider: &'static str,
}

/// Proactive refreshes share a flight per grant; reports of a rejected token share one per
/// grant and token (its SHA-256, which never leaves the process).
#[derive(Clone, PartialEq, Eq, Hash)]
enum FlightKey {
    Current(Uuid),
    Replace(Uuid, [u8; 32]),
}

/// Cheap to clone: clones share the flights in the air.
#[derive(Clone)]
pub struct RefreshCoordinator {
    ctx: Arc<Ctx>,
    flights: Flights<FlightKey, Flown>,
}

impl RefreshCoordinator {
    pub fn new(pool: PgPool, sealer: Arc<Sealer>, upstream: Upstream, auth: &AuthConfig) -> Self {
        Self {
            ctx: Arc::new(Ctx {
                pool,
                sealer,
                upstream,
                policy: RefreshPolicy::from_config(auth),
                skew: auth.upstream_refresh_skew.get(),
            }),
            flights: Flights::default(),
        }
    }

    /// The same coordinator with other timeouts and retries (tests shorten them).
    pub fn with_policy(self, policy: RefreshPolicy) -> Self {
        let ctx = Ctx {
            pool: self.ctx.pool.clone(),
            sealer: self.ctx.sealer.clone(),
            upstream: self.ctx.upstream.clone(),
            skew: self.ctx.skew,
            policy,
        };
        Self {
            ctx: Arc::new(ctx),
            flights: Flights::default(),
        }
    }

    /// The grant's current upstream access token; refreshed first when it expires within
    /// `auth.upstream_refresh_skew` (proactive). Single flight per grant. A token without an
    /// expiry is used as it is.
    pub async fn access_token(
        &self,
        grant_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<UpstreamAccess, RefreshError> {
        let grant = self.read(grant_id).await?;
        if !Want::Current.needs_refresh(&grant, self.ctx.skew, now) {
            return Ok(context::access_of(&grant));
        }
        let key = FlightKey::Current(grant_id);
        self.fly(key, grant_id, Want::Current, now).await
    }

    /// The upstream (or an MCP server) rejected `rejected` (a 401): refresh once — however many
    /// callers report the same rejected token at the same moment — and return the new token; if
    /// the stored token is already newer than `rejected`, return it without calling the IdP.
    pub async fn after_rejection(
        &self,
        grant_id: Uuid,
        rejected: &str,
        now: DateTime<Utc>,
    ) -> Result<UpstreamAccess, RefreshError> {
        let want = Want::Replace(Secret::new(rejected.to_owned()));
        let grant = self.read(grant_id).await?;
        if !want.needs_refresh(&grant, self.ctx.skew, now) {
            tracing::debug!(grant_id = %grant_id, rejected = %hash::fingerprint(rejected),
                "the rejected upstream token was already replaced");
            record(grant.provider_kind.as_str(), "reused_newer");
            return Ok(context::access_of(&grant));
        }
        let key = FlightKey::Replace(grant_id, hash::sha256(rejected.as_bytes()));
        self.fly(key, grant_id, want, now).await
    }

    /// The fast path's read: the stored token and whether the grant may be used at all.
    async fn read(&self, grant_id: Uuid) -> Result<GrantTokens, RefreshError> {
        let grant = context::load(&self.ctx, grant_id).await?;
        match grant.status {
            GrantStatus::Active => Ok(grant),
            GrantStatus::NeedsReauth => Err(RefreshError::NeedsReauth),
            GrantStatus::Revoked => Err(RefreshError::Revoked),
        }
    }

    async fn fly(
        &self,
        key: FlightKey,
        grant_id: Uuid,
        want: Want,
        now: DateTime<Utc>,
    ) -> Result<UpstreamAccess, RefreshError> {
        let ctx = self.ctx.clone();
        let work = move || {
            let flow = Uuid::new_v4();
            let span = tracing::info_span!("upstream_refresh", grant_id = %grant_id,
                flow_id = %flow, trigger = want.trigger());
            async move {
                let flown = run::run(&ctx, grant_id, &want, now, flow).await;
                record(flown.provider, leader_outcome(&flown.result));
                flown
            }
            .instrument(span)
            .boxed()
        };
        let panicked = Flown {
            result: Err(RefreshError::Internal("the refresh task panicked".into())),
            provider: "unknown",
        };
        let wait = self.ctx.policy.caller_wait;
        let joined = tokio::time::timeout(wait, self.flights.join(key, work, panicked)).await;
        let Ok((flown, role)) = joined else {
            // The flight runs in its own task and stores its result when it lands.
            tracing::info!(grant_id = %grant_id, wait_s = wait.as_secs_f64(),
                "the refresh is still running; the caller is told to come back");
            record("unknown", Busy::InFlight.label());
            return Err(RefreshError::Busy {
                why: Busy::InFlight,
                retry_after: run::retry_after(wait.min(self.ctx.policy.lease)),
            });
        };
        if role == Role::Follower {
            record(flown.provider, "shared");
        }
        flown.result.map(|(access, _)| access)
    }

    /// Flights in the air in this process.
    pub fn in_flight(&self) -> usize {
        self.flights.in_flight()
    }
}

fn leader_outcome(result: &Result<(UpstreamAccess, Outcome), RefreshError>) -> &'static str {
    match result {
        Ok((_, Outcome::Refreshed)) => "refreshed",
        Ok((_, Outcome::ReusedNewer)) => "reused_newer",
        Ok((_, Outcome::Current)) => "current",
        Err(RefreshError::NeedsReauth) => "needs_reauth",
        Err(RefreshError::Unavailable { .. }) => "unavailable",
        Err(RefreshError::NotRefreshable) => "not_refreshable",
        Err(RefreshError::Revoked) => "revoked",
        Err(RefreshError::Busy { why, .. }) => why.label(),
        Err(RefreshError::DatabaseUnavailable) => "database_unavailable",
        Err(RefreshError::Internal(_)) => "error",
    }
}

fn record(provider: &'static str, outcome: &'static str) {
    metrics::counter!("upstream_refresh_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
}

/// Recorded by the lease holder around its calls to the token endpoint (retries included).
fn record_duration(provider: &'static str, elapsed: Duration) {
    metrics::histogram!("upstream_refresh_duration_seconds", "provider" => provider)
        .record(elapsed.as_secs_f64());
}
