//! Everything the gateway keeps per access token, in one entry keyed by the token's hash: the
//! verified claims, the token's state (revoked? grant active?) and the signature of its
//! `X-Auth-Assertion` (`assertion::Signed`: 64 bytes and a time, not the ~600-byte JWT nor
//! header values; the identity headers are built per request from the claims, the user
//! context and shared values, which costs about a microsecond, where signing costs ~28).
//!
//! Why one entry: each entry of a moka cache costs about 250 bytes of its own (key, node,
//! timer wheel, frequency sketch), and three caches per token (claims, state, identity) spent
//! more on that than on what they held (issue 13, item 4: memory per cached user). Each part
//! keeps its own freshness inside the entry instead of its own cache's TTL:
//!
//! * the claims, for the entry's life (until an hour unused; each use still checks `exp`),
//!   unless verified before the last key rotation or listener loss (`Epochs::keys`): then the
//!   token is verified again, and its state kept;
//! * the state, by the trust rule of `token_states.rs` (minutes while revocations are pushed,
//!   a second otherwise, never across an invalidation that started after its read);
//! * the assertion's signature for half the assertion's lifetime, and only while signed over
//!   the cached user context (the very one: the JWT is encoded again from it) and after the
//!   last grant change (`Epochs::identity`).
//!
//! A revocation therefore drops nothing: it makes every state untrusted at once, and the next
//! request re-reads only the state, keeping the verified claims and the signed assertion.
//! Every refresh of a part goes through moka's per-key compute, so concurrent requests for one
//! token share one verification, one database read and one signature.

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};
use std::time::Duration;

use moka::{future::Cache, ops::compute::Op};

use super::token_claims::TokenClaims;
use super::{
    assertion::Signed,
    token_states::{self, Feed, TokenState},
    user_cache::CachedUser,
};
use crate::tokens::AccessClaims;

/// The key: the SHA-256 of the presented token.
pub type TokenKey = [u8; 32];

/// How long an entry stays after its last use. An idle time, not a time to live: every refresh
/// of a part rewrites the entry (the state every few minutes at most while the token is used),
/// so a TTL counted from the last write never bounded the claims of a token in use either, and
/// moka keeps each entry of a TTL cache in one more queue (a 24-byte node per token).
const ENTRY_IDLE: Duration = Duration::from_secs(3600);
/// How long an assertion is reused, in seconds since its `iat`: half its lifetime.
const IDENTITY_TTL_SECS: i64 = super::assertion::LIFETIME_SECS / 2;

/// One token's entry. Never changed in place: a refreshed part replaces the entry (`Arc`), so a
/// request holding the old one reads a consistent snapshot.
#[derive(Clone)]
pub struct PerToken {
    /// Converted once after verification: its repeating strings are shared (`token_claims.rs`).
    pub claims: Arc<TokenClaims>,
    /// `Epochs::keys` when verification started.
    keys_epoch: u32,
    state: Option<token_states::Entry>,
    identity: Option<CachedIdentity>,
}

/// The token's assertion as signed over one user context.
#[derive(Clone)]
struct CachedIdentity {
    /// The context it was signed over: another one (reloaded after its TTL or a change) gets
    /// a new signature, and this very one is what the JWT is encoded from again.
    user: Arc<CachedUser>,
    /// Reused while younger than [`IDENTITY_TTL_SECS`] by its own `iat` (the wall clock its
    /// expiry is checked by; a time of its own would cost 8 bytes per token).
    assertion: Signed,
    /// `Epochs::identity` when building started.
    epoch: u32,
}

/// The per-token cache (see the module documentation).
#[derive(Clone)]
pub struct TokenCache {
    cache: Cache<TokenKey, Arc<PerToken>>,
    feed: Arc<Feed>,
    epochs: Arc<Epochs>,
}

/// Counters compared for equality only. A `u32` (4 bytes per token, not 8) cannot wrap back to
/// a kept value in practice: that takes 2^32 bumps while one entry lives, and each bump is a
/// key rotation, a lost listener or (for `identity`, whose kept values are trusted 30 s at
/// most) a grant change.
#[derive(Default)]
struct Epochs {
    /// Bumped when keys rotate or events may have been missed: claims verified before are not
    /// trusted (a verification in flight must not re-insert them afterwards).
    keys: AtomicU32,
    /// Bumped when a grant changes: assertions signed before are signed again.
    identity: AtomicU32,
}

impl TokenCache {
    pub fn new(capacity: u64) -> Self {
        Self::with_ttls(
            capacity,
            ENTRY_IDLE,
            token_states::SHORT_TTL,
            token_states::LONG_TTL,
        )
    }

    fn with_ttls(capacity: u64, idle: Duration, short: Duration, long: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .time_to_idle(idle)
                .max_capacity(capacity)
                .build(),
            feed: Arc::new(Feed::new(short, long)),
            epochs: Arc::default(),
        }
    }

    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    fn current(&self, entry: &PerToken) -> bool {
        entry.keys_epoch == self.epochs.keys.load(Ordering::SeqCst)
    }

    fn identity_fresh(&self, entry: &PerToken, user: &Arc<CachedUser>) -> Option<Signed> {
        let built = entry.identity.as_ref()?;
        // Negative after the wall clock went back: signed again.
        let age = chrono::Utc::now().timestamp() - built.assertion.iat();
        let fresh = Arc::ptr_eq(&built.user, user)
            && built.epoch == self.epochs.identity.load(Ordering::SeqCst)
            && (0..IDENTITY_TTL_SECS).contains(&age);
        fresh.then(|| built.assertion.clone())
    }

    /// The token's entry with trusted claims, or one holding the claims `verify` returns.
    /// Concurrent misses for one token share one verification; a failed one keeps nothing.
    pub async fn claims<F, Fut, E>(&self, key: TokenKey, verify: F) -> Result<Arc<PerToken>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessClaims, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(hit) = self.cache.get(&key).await
            && self.current(&hit)
        {
            return Ok(hit);
        }
        let computed = self
            .cache
            .entry(key)
            .and_try_compute_with(|current| async move {
                if current.as_ref().is_some_and(|c| self.current(c.value())) {
                    return Ok(Op::Nop);
                }
                // Taken before verifying: see `Epochs::keys`.
                let keys_epoch = self.epochs.keys.load(Ordering::SeqCst);
                let claims = Arc::new(TokenClaims::from(verify().await?));
                // Verified again after a key rotation or a lost listener: the state keeps its
                // own trust rule, and the assertion its epoch (bumped by a rotation).
                let (state, identity) = match current {
                    Some(c) => (c.value().state, c.value().identity.clone()),
                    None => (None, None),
                };
                Ok(Op::Put(Arc::new(PerToken {
                    claims,
                    keys_epoch,
                    state,
                    identity,
                })))
            })
            .await?;
        Ok(kept(computed))
    }

    /// The token's trusted state, or the one `load` reads (then kept in its entry).
    /// Concurrent callers for one token share one read.
    pub async fn state<F, Fut, E>(
        &self,
        key: TokenKey,
        entry: &Arc<PerToken>,
        load: F,
    ) -> Result<TokenState, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenState, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(known) = entry.state.filter(|s| self.feed.trusts(s)) {
            return Ok(known.state);
        }
        let feed = &self.feed;
        let computed = self
            .cache
            .entry(key)
            .and_try_compute_with(|current| async move {
                let base = match current {
                    Some(c) if self.current(c.value()) => c.into_value(),
                    // Dropped or outdated meanwhile (a flush, keys rotated): put back with its
                    // old epoch, which no lookup trusts, so the state read now answers this
                    // request.
                    _ => Arc::new(PerToken {
                        state: None,
                        ..(**entry).clone()
                    }),
                };
                if base.state.is_some_and(|s| feed.trusts(&s)) {
                    return Ok(Op::Nop);
                }
                // Taken before the read: see `Feed::trusts`.
                let read_at = feed.now();
                let state = load().await?;
                let state = Some(token_states::Entry { state, read_at });
                Ok(Op::Put(Arc::new(PerToken {
                    state,
                    ..(*base).clone()
                })))
            })
            .await?;
        // `Put` above sets a state and `Nop` happens only on an entry with one: the fallback
        // is unreachable, and fails closed.
        Ok(kept(computed).state.map_or(REVOKED, |s| s.state))
    }

    /// The token's assertion signed over `user`, or the one `sign` returns (then kept; `None`,
    /// a failed signature, keeps nothing and the next request tries again).
    /// Concurrent callers for one token share one signature.
    pub async fn assertion<F, Fut>(
        &self,
        key: TokenKey,
        entry: &Arc<PerToken>,
        user: &Arc<CachedUser>,
        sign: F,
    ) -> Option<Signed>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<Signed>>,
    {
        if let Some(signed) = self.identity_fresh(entry, user) {
            return Some(signed);
        }
        let computed = self
            .cache
            .entry(key)
            .and_try_compute_with(|current| async move {
                let base = match current {
                    Some(c) if self.current(c.value()) => c.into_value(),
                    _ => entry.clone(),
                };
                if let Some(signed) = self.identity_fresh(&base, user) {
                    return Err(Unkept(Some(signed)));
                }
                let epoch = self.epochs.identity.load(Ordering::SeqCst);
                let assertion = sign().await.ok_or(Unkept(None))?;
                let identity = CachedIdentity {
                    user: user.clone(),
                    assertion,
                    epoch,
                };
                Ok(Op::Put(Arc::new(PerToken {
                    identity: Some(identity),
                    ..(*base).clone()
                })))
            })
            .await;
        match computed {
            // `Put` above always sets an assertion; the fallback (none, which the MCP server
            // refuses) is unreachable.
            Ok(computed) => kept(computed)
                .identity
                .as_ref()
                .map(|built| built.assertion.clone()),
            Err(Unkept(signed)) => signed,
        }
    }

    /// Every cached state stops being trusted (a revocation, a grant change, missed events);
    /// claims and assertions stay.
    pub fn forget_states(&self) {
        self.feed.invalidated();
    }

    /// Assertions are signed again (a grant changed: they carry the user's email, name).
    pub fn forget_identities(&self) {
        self.epochs.identity.fetch_add(1, Ordering::SeqCst);
    }

    /// Every token is verified again on its next use (keys rotated, events possibly missed);
    /// its state stays, with its own trust rule. An entry refreshed meanwhile is put back with
    /// its old `keys_epoch`, which no lookup trusts.
    pub fn forget_claims(&self) {
        self.epochs.keys.fetch_add(1, Ordering::SeqCst);
    }

    /// Every entry goes (a flush).
    pub fn forget_all(&self) {
        self.forget_claims();
        self.cache.invalidate_all();
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Runs moka's pending housekeeping now (evictions, counts): for measurements.
    pub async fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks().await;
    }
}

/// What an unreachable missing state reads as.
const REVOKED: TokenState = TokenState {
    grant_id: uuid::Uuid::nil(),
    revoked: true,
    grant_status: crate::domain::GrantStatus::Revoked,
};

/// An assertion that answers the request but is not kept (already kept, or none: signing
/// failed): carried out of the compute closure as its error, which moka does not store.
struct Unkept(Option<Signed>);

/// The entry a compute left: `Put` inserts one, and `Nop` is returned only on an existing one.
fn kept(computed: moka::ops::compute::CompResult<TokenKey, Arc<PerToken>>) -> Arc<PerToken> {
    #[allow(
        clippy::expect_used,
        reason = "every closure above returns `Nop` only when an entry exists, else `Put`: \
                  moka returns `Unchanged`/`Inserted`/`ReplacedWith`, all with an entry"
    )]
    computed
        .into_entry()
        .expect("an entry kept or just put")
        .into_value()
}

#[cfg(test)]
#[path = "token_cache_tests.rs"]
mod tests;
