//! Cache coherence across replicas with Postgres `LISTEN/NOTIFY`.
//!
//! Every cache invalidation is applied to this replica's caches at once and sent on the
//! `mab_cache` channel; each replica's [`spawn_listener`] task applies what the others sent.
//! A change made in a transaction announces itself inside it ([`announce_in`] before COMMIT,
//! [`apply`] after): Postgres delivers the notification exactly when the change commits, so a
//! revocation cannot commit and then lose its event to a failing separate NOTIFY (other
//! replicas trust their token states for minutes on the strength of these events). Only what
//! has no transaction uses [`publish`], a NOTIFY of its own after the fact.
//!
//! Notifications are transient: while the listener's connection is down, events are missed.
//! What a missed event can cost is bounded, cache by cache, by that cache's TTL, so losing the
//! listener drops only what no TTL bounds tightly enough ([`after_missed_events`]):
//!
//! * token states (revocation, grant status): trusted for minutes only while this listener is
//!   subscribed and only if read after it subscribed; from the connection loss until it has
//!   subscribed again, and for every state read before that, 1 s (`gateway::token_states`).
//!   The listener tells the gateway when it subscribes and when it loses its connection or
//!   ends (a guard, so a panic or an abort counts too); it never guesses from timing.
//! * tenants and registered clients as the OAuth endpoints resolve them
//!   (`tenancy`, `client_cache`; 5 s and 5 min TTL): served only while this listener is
//!   subscribed and only if read after it subscribed ([`crate::coherent_cache`]), like token
//!   states; emptied when it is lost.
//! * targets (tenant, MCP servers): 5 s TTL; kept.
//! * assertion signatures (identity headers are built per request from them): 30 s TTL, and
//!   signed again whenever the user context they were signed over changes; kept.
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

use std::{sync::Arc, time::Duration};

use futures_util::future::BoxFuture;
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::watch;

// The event and its channel live with the NOTIFY that carries them (`store::notify`), below
// the services that announce changes (`tokens` rotates keys); re-exported here, where the
// surfaces look for them.
pub use crate::store::notify::Heartbeat;
pub use crate::store::notify::{CHANNEL, CacheEvent};
use crate::{
    coherent_cache::CoherentCache,
    domain::{Client, tenant::Tenant},
    store::StoreError,
    tokens::TenantKeys,
};

/// The in-memory caches of a surface that events invalidate (the gateway's: targets, verified
/// tokens, token states, user contexts, identity headers). A trait, so that this module, below
/// the surfaces, applies events without knowing the gateway's fields.
pub trait ReplicaCaches: Send + Sync + 'static {
    /// Applies one event (from this replica or another).
    fn apply<'a>(&'a self, event: &'a CacheEvent) -> BoxFuture<'a, ()>;
    /// The listener has subscribed (again): token states may be trusted for the long TTL.
    fn listener_subscribed(&self);
    /// The listener's connection answers its heartbeat late (or on time again).
    fn listener_heartbeat(&self, heartbeat: Heartbeat);
    /// The listener lost its connection or ended: events may be missed until it subscribes.
    fn listener_lost(&self);
    /// User contexts cached on this replica (the admin API's cache statistics).
    fn user_contexts(&self) -> u64;
}

/// What cache events are applied to on this replica: the surfaces' caches, the tenant keys,
/// the tenants and the registered clients, with the pool that sends and receives the events.
/// Cheap to clone.
#[derive(Clone)]
pub struct Caches {
    pool: PgPool,
    keys: TenantKeys,
    tenants: CoherentCache<String, Tenant>,
    clients: CoherentCache<(uuid::Uuid, String), Client>,
    replica: Arc<dyn ReplicaCaches>,
}

impl Caches {
    pub fn new(
        pool: PgPool,
        keys: TenantKeys,
        tenants: CoherentCache<String, Tenant>,
        clients: CoherentCache<(uuid::Uuid, String), Client>,
        replica: Arc<dyn ReplicaCaches>,
    ) -> Self {
        Self {
            pool,
            keys,
            tenants,
            clients,
            replica,
        }
    }

    /// User contexts cached on this replica (approximate: moka counts lazily).
    pub fn user_contexts(&self) -> u64 {
        self.replica.user_contexts()
    }
}

/// Applies an event to this replica's caches: the gateway's, the tenant keys, the tenants and
/// the registered clients.
pub async fn apply(caches: &Caches, event: &CacheEvent) {
    caches.replica.apply(event).await;
    match event {
        CacheEvent::TenantChanged { tenant } => {
            caches.tenants.invalidate_all();
            caches.keys.forget(*tenant).await;
        }
        CacheEvent::KeysRotated { tenant } => caches.keys.forget(*tenant).await,
        CacheEvent::ClientChanged { .. } => caches.clients.invalidate_all(),
        CacheEvent::FlushAll => {
            caches.keys.forget_all();
            caches.tenants.invalidate_all();
            caches.clients.invalidate_all();
        }
        CacheEvent::TokensRevoked | CacheEvent::GrantChanged { .. } => {}
    }
    metrics::counter!("cache_invalidations_total", "event" => kind(event)).increment(1);
}

fn kind(event: &CacheEvent) -> &'static str {
    match event {
        CacheEvent::TokensRevoked => "tokens_revoked",
        CacheEvent::GrantChanged { .. } => "grant_changed",
        CacheEvent::TenantChanged { .. } => "tenant_changed",
        CacheEvent::ClientChanged { .. } => "client_changed",
        CacheEvent::KeysRotated { .. } => "keys_rotated",
        CacheEvent::FlushAll => "flush_all",
    }
}

/// What a replica does when it may have missed events (see the module documentation).
fn after_missed_events(caches: &Caches) {
    listener_lost(caches);
    metrics::counter!("cache_invalidations_total", "event" => "listener_lost").increment(1);
}

/// Marks the listener lost when dropped: whether `listen` returned, failed, panicked or was
/// cancelled, the gateway stops trusting token states for the long TTL.
struct Subscription<'a>(&'a Caches);

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        listener_lost(self.0);
    }
}

/// Every cache that trusts events for long stops trusting them.
fn listener_lost(caches: &Caches) {
    caches.replica.listener_lost();
    caches.tenants.listener_lost();
    caches.clients.listener_lost();
}

/// Queues `event` for every other replica on `conn`'s open transaction: sent when it commits,
/// never if it rolls back. Call [`apply`] for this replica once the commit succeeded.
pub async fn announce_in(
    conn: &mut sqlx::PgConnection,
    event: &CacheEvent,
) -> Result<(), StoreError> {
    crate::store::notify::publish_in(conn, CHANNEL, &event.payload()).await
}

/// Applies `event` here and tells every other replica, in a NOTIFY of its own: for changes
/// made outside any transaction (a transaction uses [`announce_in`]). The notify is tried a few times: the
/// other replicas trust their token states for minutes on the strength of these events. If it
/// still fails the failure is logged, not fatal: the database is then failing for this replica,
/// and most likely for the others' listeners too, which then fall back to the 1 s TTL; a
/// replica whose listener stays connected through it may serve the revoked token for up to
/// `gateway::token_states::LONG_TTL`.
pub async fn publish(caches: &Caches, event: CacheEvent) {
    apply(caches, &event).await;
    let payload = event.payload();
    let mut wait = Duration::from_millis(50);
    for attempt in 1..=NOTIFY_ATTEMPTS {
        match crate::store::notify::publish(&caches.pool, CHANNEL, &payload).await {
            Ok(()) => return,
            Err(e) if attempt == NOTIFY_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "cache invalidation could not be sent to other replicas");
            }
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait *= 4;
            }
        }
    }
}

/// Attempts at sending one event (waits of 50 and 200 ms between them).
const NOTIFY_ATTEMPTS: u32 = 3;

/// Listens until shutdown, reconnecting by itself with a bounded backoff.
pub fn spawn_listener(
    caches: Caches,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                outcome = listen(&caches) => {
                    if let Err(e) = outcome {
                        tracing::warn!(error = %e, "cache listener lost its connection; dropping the caches no TTL bounds and reconnecting");
                    }
                    // Whatever happened, events may have been missed.
                    after_missed_events(&caches);
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
async fn listen(caches: &Caches) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(&caches.pool).await?;
    listener.listen(CHANNEL).await?;
    tracing::debug!("cache listener connected");
    // Events sent while no listener was connected are lost.
    after_missed_events(caches);
    // From here every committed change is notified to this connection.
    caches.replica.listener_subscribed();
    caches.tenants.listener_subscribed();
    caches.clients.listener_subscribed();
    let _subscribed = Subscription(caches);
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = listener.try_recv() => {
                let Some(notification) = received? else {
                    return Ok(());
                };
                match serde_json::from_str::<CacheEvent>(notification.payload()) {
                    Ok(event) => apply(caches, &event).await,
                    Err(_) => tracing::warn!("ignoring a malformed cache notification"),
                }
            }
            _ = beat.tick() => heartbeat(caches, &mut listener).await?,
        }
    }
}

/// How often the listener's connection is asked to answer, and how long it may take before
/// token states fall back to the short TTL. A black-holed connection never errors by itself.
const HEARTBEAT: Duration = Duration::from_millis(500);
const HEARTBEAT_LATE: Duration = Duration::from_millis(500);

/// One round trip on the listener's own connection. The query is never cancelled (that would
/// leave the connection mid-protocol): past `HEARTBEAT_LATE` trust is shortened and the answer
/// still awaited; a connection error ends the subscription as any other.
async fn heartbeat(caches: &Caches, listener: &mut PgListener) -> Result<(), sqlx::Error> {
    let ping = crate::store::notify::ping(listener);
    tokio::pin!(ping);
    match tokio::time::timeout(HEARTBEAT_LATE, &mut ping).await {
        Ok(answered) => answered?,
        Err(_) => {
            tracing::warn!(
                "cache listener's connection answers late; token states trusted for 1 s"
            );
            caches.replica.listener_heartbeat(Heartbeat::Late);
            ping.await?;
        }
    }
    caches.replica.listener_heartbeat(Heartbeat::OnTime);
    Ok(())
}
