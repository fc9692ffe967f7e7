//! A cache of rows that change rarely and whose changes every replica hears of through
//! `crate::coherence` (issue 13: the token endpoint read its tenant and its client from
//! Postgres on every request, two of its four transactions per refresh).
//!
//! Its entries are trusted only while this replica's coherence listener is subscribed, exactly
//! as token states are: an event this replica could have missed must not leave a deleted client
//! usable here for the cache's lifetime. So:
//!
//! * nothing is served or stored while the listener is not subscribed (every lookup reads the
//!   database, as without a cache);
//! * losing the listener, subscribing again and every invalidation empty the cache and start a
//!   new *epoch*; a value read from the database is stored only if no epoch began while it was
//!   read ([`CoherentCache::ticket`] before the read, [`CoherentCache::insert`] after), so a
//!   read that raced a deletion cannot put the deleted row back after the deletion's event
//!   emptied the cache.

use std::{
    borrow::Borrow,
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use moka::future::Cache;

/// Taken before reading what will be stored: the epoch the read began in.
#[derive(Clone, Copy, Debug)]
pub struct Ticket(u64);

#[derive(Clone)]
pub struct CoherentCache<K, V> {
    entries: Cache<K, V>,
    state: Arc<Coherence>,
}

/// Shared by the clones of one cache.
struct Coherence {
    epoch: AtomicU64,
    subscribed: AtomicBool,
}

impl<K, V> CoherentCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// `ttl` bounds how long an entry lives even while every event arrives (the cache is not
    /// the only way a row can change: the last safety net).
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self {
            entries: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build(),
            state: Arc::new(Coherence {
                epoch: AtomicU64::new(0),
                subscribed: AtomicBool::new(false),
            }),
        }
    }

    /// The cached value, if the listener is subscribed and one is stored.
    pub async fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.state.subscribed.load(Ordering::Acquire) {
            return None;
        }
        self.entries.get(key).await
    }

    /// Take before reading the value to [`insert`](Self::insert).
    pub fn ticket(&self) -> Ticket {
        Ticket(self.state.epoch.load(Ordering::Acquire))
    }

    /// Stores a value read since `ticket`, unless an epoch began meanwhile or the listener is
    /// not subscribed.
    pub async fn insert(&self, ticket: Ticket, key: K, value: V) {
        if !self.state.subscribed.load(Ordering::Acquire) || self.ticket().0 != ticket.0 {
            return;
        }
        self.entries.insert(key, value).await;
        // An invalidation that began while inserting must not leave this value behind.
        if self.ticket().0 != ticket.0 {
            self.entries.invalidate_all();
        }
    }

    /// Empties the cache: something it holds changed (an event, here or from another replica).
    pub fn invalidate_all(&self) {
        self.state.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// The listener has subscribed: what is read from now on is covered by its events.
    pub fn listener_subscribed(&self) {
        self.invalidate_all();
        self.state.subscribed.store(true, Ordering::Release);
    }

    /// The listener lost its connection (or ended): events may be missed from now on.
    pub fn listener_lost(&self) {
        self.state.subscribed.store(false, Ordering::Release);
        self.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> CoherentCache<u32, &'static str> {
        CoherentCache::new(Duration::from_secs(60), 10)
    }

    #[tokio::test]
    async fn nothing_is_served_or_stored_before_the_listener_subscribes() {
        let c = cache();
        c.insert(c.ticket(), 1, "one").await;
        assert_eq!(c.get(&1).await, None);
        c.listener_subscribed();
        assert_eq!(c.get(&1).await, None);
        c.insert(c.ticket(), 1, "one").await;
        assert_eq!(c.get(&1).await, Some("one"));
    }

    #[tokio::test]
    async fn a_read_that_raced_an_invalidation_is_not_stored() {
        let c = cache();
        c.listener_subscribed();
        let ticket = c.ticket();
        c.invalidate_all();
        c.insert(ticket, 1, "stale").await;
        assert_eq!(c.get(&1).await, None);
    }

    #[tokio::test]
    async fn losing_the_listener_empties_the_cache_and_stops_serving() {
        let c = cache();
        c.listener_subscribed();
        c.insert(c.ticket(), 1, "one").await;
        let ticket = c.ticket();
        c.listener_lost();
        assert_eq!(c.get(&1).await, None);
        c.insert(ticket, 2, "two").await;
        c.listener_subscribed();
        assert_eq!(c.get(&1).await, None);
        assert_eq!(c.get(&2).await, None);
    }
}
