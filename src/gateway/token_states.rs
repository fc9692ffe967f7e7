//! Token states (is the token revoked, is its grant still active) cached by `jti`, trusted for
//! minutes while revocations are pushed to this replica, for a second otherwise.
//!
//! Why: with a 1 s lifetime a population of users who each call now and then paid a Postgres
//! round trip on nearly every request. Revocations already reach every replica through the
//! cache-coherence listener (`src/coherence.rs`, LISTEN/NOTIFY, a few ms), so the listener is
//! the primary mechanism and the lifetime only bounds what a *missed* event can cost:
//!
//! * an entry is trusted for [`LONG_TTL`] only if it was read from the database after the
//!   listener last (re)subscribed, while that subscription is still up: every revocation
//!   committed after the read reaches this replica as an event;
//! * otherwise (listener down or reconnecting, or the entry read before the reconnect, when
//!   events may have been missed) it is trusted for [`SHORT_TTL`] only, as before;
//! * an entry whose read *started* before the last invalidation is never trusted: a read in
//!   flight when a revocation event arrives may have seen the row before the revocation, and
//!   inserting it afterwards must not resurrect the token.
//!
//! Only a real connection loss, or the listener task ending, withdraws the subscription
//! ([`Feed::lost`]): states read before the reconnect never regain the long TTL. A heartbeat on
//! the listener's connection that answers late (a black-holed network gives no error) only
//! shortens trust to the short TTL while it is late ([`Feed::heartbeat`]) and drops
//! nothing: an earlier heartbeat that flushed on every late beat flapped under load.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use moka::{future::Cache, ops::compute::Op};
use uuid::Uuid;

use crate::{
    domain::GrantStatus,
    store::{access_tokens::AccessTokenState, notify::Heartbeat},
};

/// How long a state read while the listener is subscribed is trusted.
pub const LONG_TTL: Duration = Duration::from_secs(300);
/// How long any other state is trusted: the staleness bound when events may be missed.
pub const SHORT_TTL: Duration = Duration::from_secs(1);

/// What the gateway needs of a token's state: no strings, so an entry is a few dozen bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenState {
    pub grant_id: Uuid,
    pub revoked: bool,
    pub grant_status: GrantStatus,
}

impl From<&AccessTokenState> for TokenState {
    fn from(s: &AccessTokenState) -> Self {
        Self {
            grant_id: s.grant_id,
            revoked: s.revoked,
            grant_status: s.grant_status,
        }
    }
}

/// A state and when the read that produced it started.
#[derive(Clone, Copy)]
pub struct Entry {
    pub state: TokenState,
    read_at: u64,
}

/// Whether revocation events are currently reaching this replica, as times on one monotonic
/// clock (nanoseconds since `base`; 0 means "never").
pub struct Feed {
    base: Instant,
    /// When the listener last subscribed; 0 while it is not subscribed.
    subscribed_since: AtomicU64,
    /// When token states were last invalidated.
    invalidated_at: AtomicU64,
    /// The listener's connection is slow to answer its heartbeat: trust is shortened to the
    /// short TTL while it lasts, nothing is dropped (a late answer on a live connection means
    /// events are late, not lost).
    late: AtomicBool,
    short: Duration,
    long: Duration,
}

impl Feed {
    fn new(short: Duration, long: Duration) -> Self {
        Self {
            // One nanosecond in the past, so that no instant taken later reads as 0.
            base: Instant::now() - Duration::from_nanos(1),
            subscribed_since: AtomicU64::new(0),
            invalidated_at: AtomicU64::new(0),
            late: AtomicBool::new(false),
            short,
            long,
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The listener has (re)subscribed: states read from now on may be trusted long.
    pub fn subscribed(&self) {
        self.subscribed_since.store(self.now(), Ordering::SeqCst);
    }

    /// The listener lost its connection or ended: trust falls back to the short TTL until it has
    /// subscribed again, and states read before that never regain the long one.
    pub fn lost(&self) {
        self.subscribed_since.store(0, Ordering::SeqCst);
    }

    /// How the listener's connection answers its heartbeat (see `late`).
    pub fn heartbeat(&self, heartbeat: Heartbeat) {
        self.late
            .store(heartbeat == Heartbeat::Late, Ordering::SeqCst);
    }

    /// Whether the listener is subscribed now.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed_since.load(Ordering::SeqCst) != 0
    }

    fn invalidated(&self) {
        self.invalidated_at.fetch_max(self.now(), Ordering::SeqCst);
    }

    fn trusts(&self, entry: &Entry) -> bool {
        if entry.read_at <= self.invalidated_at.load(Ordering::SeqCst) {
            return false;
        }
        let age = Duration::from_nanos(self.now().saturating_sub(entry.read_at));
        if age < self.short {
            return true;
        }
        let since = self.subscribed_since.load(Ordering::SeqCst);
        since != 0 && !self.late.load(Ordering::SeqCst) && entry.read_at >= since && age < self.long
    }
}

/// The cache of token states, with its trust rule (see the module documentation).
#[derive(Clone)]
pub struct TokenStates {
    cache: Cache<Uuid, Entry>,
    feed: Arc<Feed>,
}

impl TokenStates {
    pub fn new(capacity: u64) -> Self {
        Self::with_ttls(capacity, SHORT_TTL, LONG_TTL)
    }

    fn with_ttls(capacity: u64, short: Duration, long: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .time_to_live(long)
                .max_capacity(capacity)
                .build(),
            feed: Arc::new(Feed::new(short, long)),
        }
    }

    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// The trusted state of `jti`, or the one `load` reads. Concurrent callers for one `jti`
    /// are serialized on it, so when an entry stops being trusted one of them reads the
    /// database and the others take what it read.
    pub async fn get_or_load<F, Fut, E>(&self, jti: Uuid, load: F) -> Result<TokenState, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenState, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(hit) = self.cache.get(&jti).await
            && self.feed.trusts(&hit)
        {
            return Ok(hit.state);
        }
        let feed = &self.feed;
        let computed = self
            .cache
            .entry(jti)
            .and_try_compute_with(|current| async move {
                if current.is_some_and(|c| feed.trusts(c.value())) {
                    return Ok(Op::Nop);
                }
                // Taken before the read: see `Feed::trusts`.
                let read_at = feed.now();
                let state = load().await?;
                Ok(Op::Put(Entry { state, read_at }))
            })
            .await?;
        // `Nop` on an existing entry and `Put` both leave an entry to return.
        #[allow(
            clippy::expect_used,
            reason = "the closure returns `Nop` only when an entry exists, else `Put`: \
                      moka returns `Unchanged`/`Inserted`/`ReplacedWith`, all with an entry"
        )]
        let entry = computed
            .into_entry()
            .expect("a trusted entry or the one just read");
        Ok(entry.into_value().state)
    }

    /// Every cached state stops being trusted (a revocation, a grant change, missed events).
    pub fn invalidate_all(&self) {
        self.feed.invalidated();
        self.cache.invalidate_all();
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    pub async fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    const SHORT: Duration = Duration::from_millis(100);

    fn state() -> TokenState {
        TokenState {
            grant_id: Uuid::nil(),
            revoked: false,
            grant_status: GrantStatus::Active,
        }
    }

    /// Looks `jti` up, counting the reads that reached the "database".
    async fn lookup(states: &TokenStates, jti: Uuid, reads: &AtomicUsize) -> TokenState {
        states
            .get_or_load(jti, || async {
                reads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(state())
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn without_a_subscribed_listener_a_state_is_read_again_after_the_short_ttl() {
        let states = TokenStates::with_ttls(10, SHORT, Duration::from_secs(60));
        let (jti, reads) = (Uuid::new_v4(), AtomicUsize::new(0));
        lookup(&states, jti, &reads).await;
        lookup(&states, jti, &reads).await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "trusted within the short TTL"
        );
        tokio::time::sleep(SHORT * 2).await;
        lookup(&states, jti, &reads).await;
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_state_read_while_subscribed_is_trusted_long_until_the_listener_is_lost() {
        let states = TokenStates::with_ttls(10, SHORT, Duration::from_secs(60));
        states.feed().subscribed();
        let (jti, reads) = (Uuid::new_v4(), AtomicUsize::new(0));
        lookup(&states, jti, &reads).await;
        tokio::time::sleep(SHORT * 2).await;
        lookup(&states, jti, &reads).await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "trusted past the short TTL"
        );

        states.feed().heartbeat(Heartbeat::Late);
        lookup(&states, jti, &reads).await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "a late heartbeat shortens trust"
        );
        states.feed().heartbeat(Heartbeat::OnTime);
        lookup(&states, jti, &reads).await;
        assert_eq!(reads.load(Ordering::SeqCst), 2, "and drops nothing");
        tokio::time::sleep(SHORT * 2).await;

        states.feed().lost();
        lookup(&states, jti, &reads).await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            3,
            "older than the short TTL: read again"
        );
        // Reconnected: what was read before the reconnect keeps the short TTL only.
        states.feed().subscribed();
        tokio::time::sleep(SHORT * 2).await;
        lookup(&states, jti, &reads).await;
        assert_eq!(reads.load(Ordering::SeqCst), 4);
        tokio::time::sleep(SHORT * 2).await;
        lookup(&states, jti, &reads).await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            4,
            "read after the reconnect: trusted long"
        );
    }

    #[tokio::test]
    async fn a_read_in_flight_during_an_invalidation_is_not_trusted() {
        let states = TokenStates::with_ttls(10, SHORT, Duration::from_secs(60));
        states.feed().subscribed();
        let jti = Uuid::new_v4();
        // The read starts, the revocation event arrives, then the read's (old) answer lands.
        let stale = states
            .get_or_load(jti, || async {
                states.invalidate_all();
                Ok::<_, ()>(state())
            })
            .await
            .unwrap();
        assert!(!stale.revoked);
        let reads = AtomicUsize::new(0);
        lookup(&states, jti, &reads).await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "the next request reads again"
        );
    }

    #[tokio::test]
    async fn concurrent_lookups_of_an_untrusted_state_share_one_read() {
        let states = TokenStates::with_ttls(10, SHORT, Duration::from_secs(60));
        let (jti, reads) = (Uuid::new_v4(), AtomicUsize::new(0));
        let lookups = (0..50).map(|_| async {
            states
                .get_or_load(jti, || async {
                    reads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok::<_, ()>(state())
                })
                .await
                .unwrap()
        });
        futures_util::future::join_all(lookups).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_cached() {
        let states = TokenStates::with_ttls(10, SHORT, Duration::from_secs(60));
        let jti = Uuid::new_v4();
        let failed = states.get_or_load(jti, || async { Err::<TokenState, _>("down") });
        assert_eq!(failed.await, Err("down"));
        let reads = AtomicUsize::new(0);
        lookup(&states, jti, &reads).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }
}
