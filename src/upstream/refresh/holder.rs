//! What the holder of a grant's refresh lease does: call the token endpoint, then commit the
//! answer before anyone may use it — or mark the grant `needs_reauth` on `invalid_grant`, or
//! start the grant's back-off on any other failure — renewing the lease while the call runs and
//! giving it back whatever happens.
//!
//! A refresh request that may have reached the IdP is never sent again with the same token
//! within this refresh (issue 12): with rotating refresh tokens the IdP may have spent the token
//! while the answer was lost, and a second use looks like theft to an IdP with reuse detection
//! (RFC 9700 section 4.14.2), which then revokes the grant. Only what the IdP provably did not
//! process (no connection; 429 or 503) is retried.

use std::{future::Future, time::Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Outcome, RefreshError, UpstreamAccess,
    context::{Ctx, from_store, internal, load},
    record_duration,
};
use crate::{
    crypto::hash::fingerprint,
    domain::{GrantStatus, Secret, UpstreamProvider},
    store::{self, grants::GrantTokens, refresh_leases::Holding},
    upstream::{UpstreamError, error::Delivery, token_endpoint::TokenAnswer},
};

/// A failed commit after the IdP rotated the refresh token loses it, so the write is retried a
/// few times (a database blip) before we give up and say so.
const COMMIT_ATTEMPTS: u32 = 3;

pub enum Step {
    Done(Result<(UpstreamAccess, Outcome), RefreshError>),
    /// The grant changed under us in a way worth another look (a newer token appeared).
    Reread,
}

pub async fn refresh(
    ctx: &Ctx,
    grant: &GrantTokens,
    refresh_token: &Secret<String>,
    holding: Holding,
    now: DateTime<Utc>,
    flow: Uuid,
) -> Step {
    warn_if_possibly_spent(grant.id, holding);
    let provider = match find_provider(ctx, grant).await {
        Ok(p) => p,
        Err(e) => {
            release(ctx, grant.id, flow).await;
            return Step::Done(Err(e));
        }
    };
    let label = grant.provider_kind.as_str();
    let started = Instant::now();
    let call = call_with_retries(ctx, grant, &provider, refresh_token, now);
    let answer = with_heartbeat(ctx, grant.id, flow, call).await;
    record_duration(label, started.elapsed());
    let at = later(now, started);
    match answer {
        Ok(answer) => Step::Done(commit(ctx, grant, answer, at, flow).await),
        Err((UpstreamError::Rejected(reason), _)) if ends_the_grant(&reason) => {
            if holding.took_over || holding.after_ambiguous {
                tracing::warn!(grant_id = %grant.id, %reason,
                    "the grant is lost: an earlier refresh that ended without an answer had \
                     probably spent the refresh token");
                metrics::counter!("upstream_refresh_lost_after_ambiguity_total").increment(1);
            }
            needs_reauth(ctx, grant, &reason, at, flow).await
        }
        Err((e, delivery)) => {
            back_off(ctx, grant.id, flow, holding.failures + 1, delivery).await;
            Step::Done(Err(match e {
                UpstreamError::Unavailable { retry_after, .. } => {
                    RefreshError::Unavailable { retry_after }
                }
                // An answer we cannot use may be an outage page; never a reason to end a grant.
                UpstreamError::Protocol(_) => RefreshError::Unavailable { retry_after: None },
                // The IdP refused *us* (401 / `invalid_client`): the operator must fix the
                // provider's credentials; the user's grant is fine.
                UpstreamError::Rejected(reason) => {
                    tracing::error!(%reason, "the upstream refused the bridge's client credentials");
                    internal(format!("upstream refused the client: {reason}"))
                }
                UpstreamError::Config(e) => internal(format!("provider configuration: {e}")),
            }))
        }
    }
}

/// The attempt about to be made may re-send a refresh token the IdP already spent: say so, with
/// the grant, so that an `invalid_grant` that follows is understood.
fn warn_if_possibly_spent(grant_id: Uuid, holding: Holding) {
    if holding.took_over {
        tracing::warn!(%grant_id,
            "the previous holder of this grant's refresh lease died without giving it back, \
             perhaps with its request at the IdP; this refresh may re-send a spent refresh \
             token, and the grant may be lost");
    }
    if holding.after_ambiguous {
        tracing::warn!(%grant_id,
            "an earlier refresh of this grant may have reached the IdP without an answer; this \
             refresh may re-send a spent refresh token, and the grant may be lost");
    }
}

/// Starts the grant's back-off and gives the lease back: a grant whose refreshes keep failing
/// calls the IdP once per back-off, not once per client request.
async fn back_off(ctx: &Ctx, grant_id: Uuid, flow: Uuid, failures: u32, delivery: Delivery) {
    let ambiguous = delivery == Delivery::Ambiguous;
    let pause = ctx.policy.grant_backoff(failures, ambiguous);
    if ambiguous {
        tracing::warn!(%grant_id, failures, pause_s = pause.as_secs_f64(),
            "the refresh may have reached the IdP without an answer; the same refresh token \
             is not sent again before the pause");
    } else {
        tracing::warn!(%grant_id, failures, pause_s = pause.as_secs_f64(),
            "the refresh failed; the grant backs off");
    }
    let recorded = store::refresh_leases::failed(&ctx.pool, grant_id, flow, pause, ambiguous).await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "could not record the failed refresh; the lease will expire");
    }
}

/// Runs `work` while renewing the lease every third of its lifetime, so that other replicas
/// see a live holder however long the IdP takes, and a dead one within one lease.
async fn with_heartbeat<T>(
    ctx: &Ctx,
    grant_id: Uuid,
    flow: Uuid,
    work: impl Future<Output = T>,
) -> T {
    let every = ctx.policy.heartbeat();
    let beats = ctx.policy.budget.as_millis() / every.as_millis().max(1) + 2;
    let heartbeat = async {
        for _ in 0..beats {
            tokio::time::sleep(every).await;
            match store::refresh_leases::renew(&ctx.pool, grant_id, flow, ctx.policy.lease).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("the refresh lease was lost while the IdP call ran"),
                Err(e) => tracing::warn!(error = %e,
                    "could not renew the refresh lease; another replica may take over"),
            }
        }
        // Past the budget the work has ended; this arm never completes.
        std::future::pending::<T>().await
    };
    tokio::select! {
        out = work => out,
        out = heartbeat => out,
    }
}

/// Only a refusal of the refresh token itself ends a grant: `invalid_grant` (RFC 6749 section
/// 5.2), GitHub's `bad_refresh_token`. A 401 from a token endpoint is `invalid_client` — the
/// bridge's credentials, not the user's grant — and must not log every user out.
fn ends_the_grant(reason: &str) -> bool {
    matches!(reason, "invalid_grant" | "bad_refresh_token")
}

async fn find_provider(ctx: &Ctx, grant: &GrantTokens) -> Result<UpstreamProvider, RefreshError> {
    store::providers::list(&ctx.pool, grant.tenant_id)
        .await
        .map_err(from_store)?
        .into_iter()
        .find(|p| p.id == grant.provider_id)
        .ok_or(RefreshError::Revoked)
}

/// Up to `policy.attempts` calls, each with the long `policy.call_timeout`. Only what the IdP
/// provably did not process is retried — no connection, 429, 503 — after an exponential,
/// jittered pause or the IdP's `Retry-After`, within `policy.budget`. Anything else ends the
/// refresh at once, carrying whether the IdP may have processed it.
async fn call_with_retries(
    ctx: &Ctx,
    grant: &GrantTokens,
    provider: &UpstreamProvider,
    refresh_token: &Secret<String>,
    now: DateTime<Utc>,
) -> Result<TokenAnswer, (UpstreamError, Delivery)> {
    let policy = &ctx.policy;
    let started = Instant::now();
    let mut last = None;
    for attempt in 1..=policy.attempts {
        let timeout = policy.attempt_timeout(started.elapsed());
        let at = later(now, started);
        tracing::info!(attempt, refresh_fp = %fingerprint(refresh_token.expose()),
            "calling the upstream token endpoint");
        let call = ctx.upstream.refresh_tokens(
            &grant.tenant_slug,
            provider,
            refresh_token.expose(),
            at,
            timeout,
        );
        let result = match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err((
                UpstreamError::Unavailable {
                    reason: "timeout".into(),
                    retry_after: None,
                },
                Delivery::Ambiguous,
            )),
        };
        let retry_after = match result {
            Ok(answer) => {
                tracing::info!(attempt, rotated = answer.tokens.refresh_token.is_some(),
                    expires = ?answer.tokens.access_expires_at, "the upstream issued new tokens");
                return Ok(answer);
            }
            Err((
                UpstreamError::Unavailable {
                    reason,
                    retry_after,
                },
                Delivery::NotProcessed,
            )) => {
                tracing::warn!(attempt, %reason, ?retry_after,
                    "the upstream did not process the refresh");
                last = Some((reason, retry_after));
                retry_after
            }
            Err((e, delivery)) => {
                tracing::warn!(attempt, error = %e, ?delivery, "the refresh failed");
                return Err((e, delivery));
            }
        };
        let jitter = rand::random::<f64>();
        match policy.next_delay(attempt, retry_after, started.elapsed(), jitter) {
            Some(delay) => tokio::time::sleep(delay).await,
            None => break,
        }
    }
    let (reason, retry_after) =
        last.unwrap_or_else(|| ("no attempt fitted the budget".into(), None));
    Err((
        UpstreamError::Unavailable {
            reason,
            retry_after,
        },
        Delivery::NotProcessed,
    ))
}

/// Stores the new tokens (conditional on the version we read) before they are returned.
async fn commit(
    ctx: &Ctx,
    grant: &GrantTokens,
    answer: TokenAnswer,
    at: DateTime<Utc>,
    flow: Uuid,
) -> Result<(UpstreamAccess, Outcome), RefreshError> {
    let tokens = answer.tokens;
    let mut failure = String::new();
    for attempt in 1..=COMMIT_ATTEMPTS {
        let stored = store::grants::commit_refresh(
            &ctx.pool,
            &ctx.sealer,
            grant.id,
            grant.version,
            &tokens,
            at,
        )
        .await;
        match stored {
            Ok(Some(version)) => {
                tracing::info!(version, "stored the refreshed tokens");
                let access = UpstreamAccess {
                    token: Secret::new(tokens.access_token),
                    expires_at: tokens.access_expires_at,
                    version,
                };
                return Ok((access, Outcome::Refreshed));
            }
            Ok(None) => {
                release(ctx, grant.id, flow).await;
                return Err(changed_meanwhile(ctx, grant.id).await);
            }
            Err(e) => {
                tracing::error!(attempt, error = %e, "storing the refreshed tokens failed");
                failure = e.to_string();
                let pause = std::time::Duration::from_millis(100 * u64::from(attempt));
                tokio::time::sleep(pause).await;
            }
        }
    }
    release(ctx, grant.id, flow).await;
    tracing::error!(
        rotated = tokens.refresh_token.is_some(),
        "refreshed tokens could not be stored; a rotated refresh token is lost"
    );
    Err(internal(format!("storing refreshed tokens: {failure}")))
}

/// The grant moved while we held the lease (revoked by an admin, say): the new tokens are
/// dropped, and the caller hears what the grant is now.
async fn changed_meanwhile(ctx: &Ctx, grant_id: Uuid) -> RefreshError {
    match load(ctx, grant_id).await {
        Ok(g) if g.status == GrantStatus::NeedsReauth => RefreshError::NeedsReauth,
        Ok(g) if g.status == GrantStatus::Active => {
            internal("the grant changed while it was being refreshed")
        }
        Ok(_) | Err(RefreshError::Revoked) => RefreshError::Revoked,
        Err(e) => e,
    }
}

async fn needs_reauth(
    ctx: &Ctx,
    grant: &GrantTokens,
    reason: &str,
    at: DateTime<Utc>,
    flow: Uuid,
) -> Step {
    match store::grants::mark_needs_reauth(&ctx.pool, grant.id, grant.version, at).await {
        Ok(true) => {
            tracing::warn!(%reason, "the upstream refused the refresh token; the grant needs a new login");
            Step::Done(Err(RefreshError::NeedsReauth))
        }
        Ok(false) => {
            release(ctx, grant.id, flow).await;
            Step::Reread
        }
        Err(e) => {
            release(ctx, grant.id, flow).await;
            Step::Done(Err(internal(e)))
        }
    }
}

/// The caller's `now`, moved on by the time spent since `started` (expiry is computed from
/// when the IdP answered, not when the caller asked).
fn later(now: DateTime<Utc>, started: Instant) -> DateTime<Utc> {
    chrono::Duration::from_std(started.elapsed())
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now)
}

/// Gives the lease back. If that fails the lease simply expires; nothing is lost.
async fn release(ctx: &Ctx, grant_id: Uuid, flow: Uuid) {
    if let Err(e) = store::refresh_leases::release(&ctx.pool, grant_id, flow).await {
        tracing::warn!(error = %e, "could not release the refresh lease; it will expire");
    }
}
