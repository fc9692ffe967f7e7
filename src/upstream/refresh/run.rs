//! One flight: re-read the grant, decide whether a refresh is still needed, take the lease or
//! wait for whoever holds it, and re-read what they stored.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Busy, Flown, Outcome, RefreshError, UpstreamAccess,
    context::{Ctx, access_of, from_store, internal, load},
    holder,
};
use crate::{
    crypto::hash::constant_time_eq,
    domain::{GrantStatus, Secret},
    store::{
        self,
        grants::GrantTokens,
        refresh_leases::{Lease, Taken},
    },
};

/// Rounds of "read, lease or wait" per flight: the first normally decides; a second follows a
/// holder that crashed or an `invalid_grant` that lost to a newer token; a third is slack.
const ROUNDS: u32 = 3;

/// What the caller needs from the flight.
pub enum Want {
    /// A token that does not expire within the skew.
    Current,
    /// Any token but this one, which the upstream refused.
    Replace(Secret<String>),
}

impl Want {
    pub fn trigger(&self) -> &'static str {
        match self {
            Self::Current => "proactive",
            Self::Replace(_) => "rejected",
        }
    }

    pub fn needs_refresh(&self, grant: &GrantTokens, skew: Duration, now: DateTime<Utc>) -> bool {
        match self {
            Self::Current => grant
                .access_expires_at
                .is_some_and(|expires| due(expires, grant.access_obtained_at, skew, now)),
            Self::Replace(rejected) => constant_time_eq(
                grant.access_token.expose().as_bytes(),
                rejected.expose().as_bytes(),
            ),
        }
    }
}

/// Whether a token obtained at `obtained` and expiring at `expires` is to be refreshed before
/// use at `now`: when it expires within the skew — but the skew is at most half the token's
/// lifetime, or an IdP issuing tokens shorter-lived than the skew would see a refresh on every
/// use.
fn due(
    expires: DateTime<Utc>,
    obtained: DateTime<Utc>,
    skew: Duration,
    now: DateTime<Utc>,
) -> bool {
    let skew = chrono::Duration::from_std(skew).unwrap_or(chrono::Duration::MAX);
    let half_life = (expires - obtained) / 2;
    let skew = skew.min(half_life).max(chrono::Duration::zero());
    expires.checked_sub_signed(skew).is_none_or(|at| at <= now)
}

pub async fn run(ctx: &Ctx, grant_id: Uuid, want: &Want, now: DateTime<Utc>, flow: Uuid) -> Flown {
    let mut provider = "unknown";
    let result = rounds(ctx, grant_id, want, now, flow, &mut provider).await;
    match &result {
        Ok((access, outcome)) => {
            tracing::info!(
                provider,
                ?outcome,
                version = access.version,
                "refresh flight done"
            );
        }
        Err(RefreshError::Internal(e)) => {
            tracing::error!(provider, error = %e, "refresh flight failed");
        }
        Err(e) => tracing::warn!(provider, error = %e, "refresh flight failed"),
    }
    Flown { result, provider }
}

async fn rounds(
    ctx: &Ctx,
    grant_id: Uuid,
    want: &Want,
    now: DateTime<Utc>,
    flow: Uuid,
    provider: &mut &'static str,
) -> Result<(UpstreamAccess, Outcome), RefreshError> {
    for round in 1..=ROUNDS {
        let grant = load(ctx, grant_id).await?;
        *provider = grant.provider_kind.as_str();
        match grant.status {
            GrantStatus::Active => {}
            GrantStatus::NeedsReauth => return Err(RefreshError::NeedsReauth),
            GrantStatus::Revoked => return Err(RefreshError::Revoked),
        }
        if !want.needs_refresh(&grant, ctx.skew, now) {
            return Ok((access_of(&grant), Outcome::ReusedNewer));
        }
        let Some(refresh) = grant.refresh_token(&ctx.sealer).map_err(internal)? else {
            return without_refresh_token(&grant, want, now);
        };
        if let Some(left) = too_soon(&grant, want, ctx.policy.min_refresh_interval, now) {
            tracing::info!(
                left_s = left.as_secs_f64(),
                "the rejected token was refreshed moments ago; not refreshing again so soon"
            );
            return Err(busy(Busy::TooSoon, left));
        }
        let taken =
            store::refresh_leases::take(&ctx.pool, grant.id, grant.version, flow, ctx.policy.lease)
                .await
                .map_err(from_store)?;
        match taken {
            Taken::Yes(holding) => {
                tracing::info!(round, version = grant.version, "took the refresh lease");
                match holder::refresh(ctx, &grant, &refresh, holding, now, flow).await {
                    holder::Step::Done(result) => return result,
                    holder::Step::Reread => continue,
                }
            }
            Taken::Moved => continue,
            Taken::BackingOff(left) => return backing_off(&grant, want, now, left),
            Taken::Held => {
                tracing::info!(
                    round,
                    version = grant.version,
                    "another refresher holds the lease; waiting"
                );
                wait_for_holder(ctx, grant.id, grant.version).await?;
            }
        }
    }
    Err(RefreshError::Unavailable { retry_after: None })
}

fn busy(why: Busy, left: Duration) -> RefreshError {
    RefreshError::Busy {
        why,
        retry_after: retry_after(left),
    }
}

/// Whole seconds, at least one (`Retry-After`, RFC 9110 section 10.2.3).
pub fn retry_after(left: Duration) -> u64 {
    left.as_secs_f64().ceil().max(1.0) as u64
}

/// Refreshes driven by a report that the token was rejected happen at most once per grant per
/// `min_interval` (issue 11): every MCP server 401 or RFC 8693 `rejected_token` would otherwise
/// cost an IdP call. A grant never refreshed since its login is not bounded.
fn too_soon(
    grant: &GrantTokens,
    want: &Want,
    min_interval: Duration,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let Want::Replace(_) = want else { return None };
    let last = grant.last_refreshed_at?;
    let since = (now - last).to_std().unwrap_or(Duration::ZERO);
    (since < min_interval).then(|| min_interval - since)
}

/// The grant is pausing after failed refreshes: a token that still works is used meanwhile;
/// otherwise the caller hears when to come back.
fn backing_off(
    grant: &GrantTokens,
    want: &Want,
    now: DateTime<Utc>,
    left: Duration,
) -> Result<(UpstreamAccess, Outcome), RefreshError> {
    let alive = grant.access_expires_at.is_none_or(|at| at > now);
    match want {
        Want::Current if alive => Ok((access_of(grant), Outcome::Current)),
        _ => {
            tracing::info!(
                left_s = left.as_secs_f64(),
                "the grant's last refresh failed; backing off"
            );
            Err(busy(Busy::BackingOff, left))
        }
    }
}

/// Without a refresh token, a token that still works is used to its end; a dead one is dead.
fn without_refresh_token(
    grant: &GrantTokens,
    want: &Want,
    now: DateTime<Utc>,
) -> Result<(UpstreamAccess, Outcome), RefreshError> {
    let alive = grant.access_expires_at.is_none_or(|at| at > now);
    match want {
        Want::Current if alive => Ok((access_of(grant), Outcome::Current)),
        _ => Err(RefreshError::NotRefreshable),
    }
}

/// Polls (short sleeps, bounded) until the holder stores a new version, the grant's status
/// changes, the holder gives the lease back (the next round reads what it left: new tokens or
/// a back-off), or the lease expires (the holder died: the next round takes over).
async fn wait_for_holder(ctx: &Ctx, grant_id: Uuid, version: i64) -> Result<(), RefreshError> {
    for _ in 0..ctx.policy.max_polls() {
        tokio::time::sleep(ctx.policy.poll_interval).await;
        let state = store::refresh_leases::state(&ctx.pool, grant_id)
            .await
            .map_err(from_store)?;
        let Some(state) = state else { return Ok(()) };
        if state.version != version || state.status != GrantStatus::Active {
            return Ok(());
        }
        match state.lease {
            Lease::Held => {}
            Lease::Expired | Lease::Free => return Ok(()),
        }
    }
    tracing::warn!(%grant_id, "timed out waiting for another replica's refresh of this grant");
    Err(busy(Busy::LeaseWait, ctx.policy.lease))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    const SKEW: Duration = Duration::from_secs(60);

    #[test]
    fn an_hour_token_is_due_within_the_skew_of_its_expiry() {
        assert!(!due(t(3600), t(0), SKEW, t(3539)));
        assert!(due(t(3600), t(0), SKEW, t(3540)));
        assert!(due(t(3600), t(0), SKEW, t(7200)));
    }

    #[test]
    fn a_token_shorter_lived_than_the_skew_is_due_only_in_its_second_half() {
        assert!(!due(t(30), t(0), SKEW, t(0)));
        assert!(!due(t(30), t(0), SKEW, t(14)));
        assert!(due(t(30), t(0), SKEW, t(15)));
    }

    #[test]
    fn a_token_expiring_before_it_was_obtained_is_due() {
        assert!(due(t(0), t(10), SKEW, t(0)));
    }
}
