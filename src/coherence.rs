//! Cache coherence across replicas with Postgres `LISTEN/NOTIFY`.
//!
//! Every cache invalidation goes through [`publish`]: it is applied to this replica's caches at
//! once and sent on the `mab_cache` channel; each replica's [`spawn_listener`] task applies what
//! the others sent.
//!
//! Notifications are transient: while the listener's connection is down, events are missed.
//! What a missed event can cost is bounded, cache by cache, by that cache's TTL, so losing the
//! listener drops only what no TTL bounds tightly enough ([`after_missed_events`]):
//!
//! * token states (revocation, grant status): 1 s TTL — the same bound a failed NOTIFY already
//!   relies on (see [`publish`]); kept.
//! * targets (tenant, MCP servers): 5 s TTL; kept.
//! * identity headers: 30 s TTL, and rebuilt whenever the user context they came from changes;
//!   kept.
//! * signing and verifying keys: 60 s TTL; kept (a rotation reaches this replica within a
//!   minute, as it would through any cache expiry).
//! * user contexts: `auth.cache_ttl`, the staleness already accepted for changes made at the
//!   IdP; a revoked or re-authorization-needing grant is refused through the token state
//!   (1 s), not through this cache; kept.
//! * verified token claims: an hour — no useful bound: after a missed `KeysRotated`, a token
//!   signed with a withdrawn key would pass for up to an hour; dropped. Re-verifying costs a
//!   signature check against the (cached) keys, not a database round trip.
//!
//! The flush is done when the connection is lost and again once `LISTEN` is re-established (an
//! event sent in between is missed too). Dropping everything instead, as this module once did,
//! made every request of a replica whose listener dropped need the database at the very moment
//! the database was failing: a database blip turned into a wall of errors for requests that
//! their caches could have served.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use uuid::Uuid;

use crate::state::AppState;

pub const CHANNEL: &str = "mab_cache";

/// What changed. Small and free of secrets: it travels through Postgres.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CacheEvent {
    /// Access tokens or refresh families were revoked: cached token states are stale.
    TokensRevoked,
    /// A grant was revoked, needs re-authorization, or its user context changed.
    GrantChanged { grant: Uuid },
    /// A tenant, provider or MCP server changed.
    TenantChanged { tenant: Uuid },
    /// A tenant's signing keys rotated.
    KeysRotated { tenant: Uuid },
    /// Drop everything (operator action, or a replica that may have missed events).
    FlushAll,
}

/// Applies an event to this replica's caches.
pub async fn apply(state: &AppState, event: &CacheEvent) {
    let gw = &state.gateway;
    match event {
        CacheEvent::TokensRevoked => gw.forget_token_states(),
        CacheEvent::GrantChanged { grant } => {
            gw.users.forget(*grant).await;
            gw.forget_token_states();
            // Identity headers carry the user's email and name.
            gw.identities.invalidate_all();
        }
        CacheEvent::TenantChanged { tenant } => {
            gw.targets.invalidate_all();
            state.keys.forget(*tenant).await;
        }
        CacheEvent::KeysRotated { tenant } => {
            state.keys.forget(*tenant).await;
            gw.verified.invalidate_all();
            gw.identities.invalidate_all();
        }
        CacheEvent::FlushAll => flush_all(state),
    }
    metrics::counter!("cache_invalidations_total", "event" => kind(event)).increment(1);
}

fn kind(event: &CacheEvent) -> &'static str {
    match event {
        CacheEvent::TokensRevoked => "tokens_revoked",
        CacheEvent::GrantChanged { .. } => "grant_changed",
        CacheEvent::TenantChanged { .. } => "tenant_changed",
        CacheEvent::KeysRotated { .. } => "keys_rotated",
        CacheEvent::FlushAll => "flush_all",
    }
}

/// What a replica drops when it may have missed events (see the module documentation): the
/// caches whose TTL does not already bound the staleness of a missed event.
fn after_missed_events(state: &AppState) {
    state.gateway.verified.invalidate_all();
    metrics::counter!("cache_invalidations_total", "event" => "listener_lost").increment(1);
}

fn flush_all(state: &AppState) {
    let gw = &state.gateway;
    gw.targets.invalidate_all();
    gw.verified.invalidate_all();
    gw.forget_token_states();
    gw.users.forget_all();
    gw.identities.invalidate_all();
    state.keys.forget_all();
}

/// Applies `event` here and tells every other replica. A failed notify is logged, not fatal:
/// the other replicas' short TTLs (1 s for token states) bound the staleness.
pub async fn publish(state: &AppState, event: CacheEvent) {
    apply(state, &event).await;
    let payload = serde_json::to_string(&event).unwrap_or_default();
    if let Err(e) = crate::store::notify::publish(&state.pool, CHANNEL, &payload).await {
        tracing::warn!(error = %e, "cache invalidation could not be sent to other replicas");
    }
}

/// Listens until shutdown, reconnecting by itself with a bounded backoff.
pub fn spawn_listener(
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                outcome = listen(&state) => {
                    if let Err(e) = outcome {
                        tracing::warn!(error = %e, "cache listener lost its connection; dropping the caches no TTL bounds and reconnecting");
                    }
                    // Whatever happened, events may have been missed.
                    after_missed_events(&state);
                }
            }
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}

/// One connection's lifetime: returns when the connection is lost.
async fn listen(state: &AppState) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(&state.pool).await?;
    listener.listen(CHANNEL).await?;
    tracing::debug!("cache listener connected");
    // Events sent while no listener was connected are lost.
    after_missed_events(state);
    while let Some(notification) = listener.try_recv().await? {
        match serde_json::from_str::<CacheEvent>(notification.payload()) {
            Ok(event) => apply(state, &event).await,
            Err(_) => tracing::warn!("ignoring a malformed cache notification"),
        }
    }
    Ok(())
}
