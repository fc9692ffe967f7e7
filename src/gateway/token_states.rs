//! Token states (is the token revoked, is its grant still active), kept in the token's entry of
//! the per-token cache (`token_cache.rs`), trusted for minutes while revocations are pushed to
//! this replica, for a second otherwise. This module holds the trust rule; the cache applies it.
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
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use uuid::Uuid;

use super::clock::Clock;
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

/// A state and when the read that produced it started. Aligned to 4 bytes, not 8: 28 bytes
/// instead of 32 in every cached token's entry (fields are only ever copied out, which the
/// compiler checks for a packed struct).
#[derive(Clone, Copy)]
#[repr(Rust, packed(4))]
pub struct Entry {
    pub state: TokenState,
    pub(super) read_at: u64,
}

/// Whether revocation events are currently reaching this replica, as times on one monotonic
/// clock (`clock.rs`; 0 means "never").
pub struct Feed {
    clock: Clock,
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
    pub(super) fn new(short: Duration, long: Duration) -> Self {
        Self {
            clock: Clock::new(),
            subscribed_since: AtomicU64::new(0),
            invalidated_at: AtomicU64::new(0),
            late: AtomicBool::new(false),
            short,
            long,
        }
    }

    pub(super) fn now(&self) -> u64 {
        self.clock.now()
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

    pub(super) fn invalidated(&self) {
        self.invalidated_at.fetch_max(self.now(), Ordering::SeqCst);
    }

    pub(super) fn trusts(&self, entry: &Entry) -> bool {
        if entry.read_at <= self.invalidated_at.load(Ordering::SeqCst) {
            return false;
        }
        let age = self.clock.since(entry.read_at);
        if age < self.short {
            return true;
        }
        let since = self.subscribed_since.load(Ordering::SeqCst);
        since != 0 && !self.late.load(Ordering::SeqCst) && entry.read_at >= since && age < self.long
    }
}
