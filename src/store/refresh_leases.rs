//! The refresh lease and back-off of a grant: which replica may call the IdP for it now, and
//! when the next attempt may happen after failures. Every decision uses the database's clock, so
//! replicas with skewed clocks agree; no row lock is held while the IdP is called.
//!
//! A lease is short (`auth.upstream_refresh_lease`, seconds) and its holder renews it while
//! its call is in flight (a heartbeat), so a holder that dies — `kill -9`, a lost machine — is
//! noticed within one lease rather than after the longest refresh could take.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;
use crate::domain::GrantStatus;

/// Who holds a grant's refresh lease, by the database's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// Never taken, or given back by its holder (which either stored new tokens or gave up).
    Free,
    Held,
    /// Its holder neither renewed nor gave it back: it died.
    Expired,
}

/// What a caller waiting for another refresher polls: cheap, opens nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshState {
    pub version: i64,
    pub status: GrantStatus,
    pub lease: Lease,
}

#[tracing::instrument(name = "db.refresh_leases.state", skip_all)]
pub async fn state(pool: &PgPool, id: Uuid) -> Result<Option<RefreshState>, StoreError> {
    let row = sqlx::query!(
        "SELECT version, status, refresh_lease_until > now() AS held FROM grants WHERE id = $1",
        id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| RefreshState {
        version: r.version,
        status: GrantStatus::parse(&r.status),
        lease: match r.held {
            None => Lease::Free,
            Some(true) => Lease::Held,
            Some(false) => Lease::Expired,
        },
    }))
}

/// The answer to "may I refresh this grant now?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// The lease is ours.
    Yes(Holding),
    /// Another holder's lease is live.
    Held,
    /// Recent failures: no attempt for this long.
    BackingOff(Duration),
    /// The grant moved on (another version or status, or gone): read it again.
    Moved,
}

/// What the new holder should know about the attempts before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holding {
    /// The previous holder's lease expired without being given back: it died, perhaps while
    /// its request was at the IdP.
    pub took_over: bool,
    /// The last attempt may have been processed by the IdP without an answer reaching us.
    pub after_ambiguous: bool,
    /// Consecutive failed refreshes before this one.
    pub failures: u32,
}

/// Takes the refresh lease of an active grant still at `version` for `lease`, unless another
/// holder's lease is live or the grant is backing off.
#[tracing::instrument(name = "db.refresh_leases.take", skip_all)]
pub async fn take(
    pool: &PgPool,
    id: Uuid,
    version: i64,
    owner: Uuid,
    lease: Duration,
) -> Result<Taken, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"SELECT version, status,
                COALESCE(refresh_lease_until > now(), false) AS "held!",
                refresh_lease_owner IS NOT NULL AS "unreleased!",
                COALESCE(EXTRACT(EPOCH FROM (refresh_not_before - now()))::float8, 0) AS "backoff!",
                refresh_ambiguous_at IS NOT NULL AS "ambiguous!", refresh_failures
         FROM grants WHERE id = $1 FOR UPDATE"#,
        id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Taken::Moved);
    };
    if row.version != version || GrantStatus::parse(&row.status) != GrantStatus::Active {
        return Ok(Taken::Moved);
    }
    if row.held {
        return Ok(Taken::Held);
    }
    if row.backoff > 0.0 {
        return Ok(Taken::BackingOff(Duration::from_secs_f64(row.backoff)));
    }
    sqlx::query!(
        "UPDATE grants
         SET refresh_lease_until = now() + make_interval(secs => $3), refresh_lease_owner = $2
         WHERE id = $1",
        id,
        owner,
        lease.as_secs_f64(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Taken::Yes(Holding {
        took_over: row.unreleased,
        after_ambiguous: row.ambiguous,
        failures: u32::try_from(row.refresh_failures).unwrap_or(0),
    }))
}

/// Renews the lease while its holder's call is in flight. `false`: it is no longer ours.
#[tracing::instrument(name = "db.refresh_leases.renew", skip_all)]
pub async fn renew(
    pool: &PgPool,
    id: Uuid,
    owner: Uuid,
    lease: Duration,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "UPDATE grants SET refresh_lease_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND refresh_lease_owner = $2",
        id,
        owner,
        lease.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the lease back (only the owner's own), so waiters need not sit out its expiry.
#[tracing::instrument(name = "db.refresh_leases.release", skip_all)]
pub async fn release(pool: &PgPool, id: Uuid, owner: Uuid) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE grants SET refresh_lease_until = NULL, refresh_lease_owner = NULL
         WHERE id = $1 AND refresh_lease_owner = $2",
        id,
        owner,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives the lease back after a failed refresh and starts the grant's back-off: no attempt
/// before `backoff` has passed; `ambiguous` records that the IdP may have processed the request
/// (cleared only by a successful refresh, see `grants::commit_refresh`).
#[tracing::instrument(name = "db.refresh_leases.failed", skip_all)]
pub async fn failed(
    pool: &PgPool,
    id: Uuid,
    owner: Uuid,
    backoff: Duration,
    ambiguous: bool,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE grants SET refresh_lease_until = NULL, refresh_lease_owner = NULL,
             refresh_failures = refresh_failures + 1,
             refresh_not_before = now() + make_interval(secs => $3),
             refresh_ambiguous_at = CASE WHEN $4 THEN now() ELSE refresh_ambiguous_at END
         WHERE id = $1 AND refresh_lease_owner = $2",
        id,
        owner,
        backoff.as_secs_f64(),
        ambiguous,
    )
    .execute(pool)
    .await?;
    Ok(())
}
