//! The per-token cache's rules: the token state's trust (short/long TTL by the listener's
//! state, never across an invalidation), single flight on every refresh, assertions
//! signed again for another user context, claims not trusted across a key rotation.

use std::sync::atomic::AtomicUsize;

use super::*;
use crate::{domain::GrantStatus, store::notify::Heartbeat};

const SHORT: Duration = Duration::from_millis(100);

fn cache() -> TokenCache {
    TokenCache::with_ttls(10, Duration::from_secs(60), SHORT, Duration::from_secs(60))
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "https://issuer".into(),
        sub: "user-1".into(),
        aud: "https://issuer/mcp/demo".into(),
        client_id: "client-1".into(),
        scope: "mcp".into(),
        jti: uuid::Uuid::new_v4(),
        iat: 0,
        exp: i64::MAX,
    }
}

fn state() -> TokenState {
    TokenState {
        grant_id: uuid::Uuid::nil(),
        revoked: false,
        grant_status: GrantStatus::Active,
    }
}

async fn entry(tokens: &TokenCache, key: TokenKey) -> Arc<PerToken> {
    tokens
        .claims(key, || async { Ok::<_, ()>(claims()) })
        .await
        .unwrap()
}

/// Keeps `signed` as the token's assertion over `user`; what `assertion` answers next.
async fn reuse_after(tokens: &TokenCache, user: &Arc<CachedUser>, signed: Signed) -> i64 {
    let key = [9; 32];
    let first = entry(tokens, key).await;
    let keep = || async { Some(signed) };
    tokens.assertion(key, &first, user, keep).await;
    let kept = entry(tokens, key).await;
    let fresh = || async { Some(Signed::for_tests(-1)) };
    let answered = tokens.assertion(key, &kept, user, fresh).await.unwrap();
    answered.iat()
}

/// Looks the token's state up, counting the reads that reached the "database".
async fn lookup(tokens: &TokenCache, key: TokenKey, reads: &AtomicUsize) -> TokenState {
    let entry = entry(tokens, key).await;
    tokens
        .state(key, &entry, || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(state())
        })
        .await
        .unwrap()
}

#[test]
fn an_entry_stays_small() {
    // A regression guard for issue 13, item 4 (memory per cached user): see the benchmark
    // `examples/cache_memory.rs` for what the whole entry costs.
    assert!(std::mem::size_of::<PerToken>() <= 136);
    assert_eq!(std::mem::size_of::<Option<token_states::Entry>>(), 28);
}

#[tokio::test]
async fn without_a_subscribed_listener_a_state_is_read_again_after_the_short_ttl() {
    let (tokens, reads) = (cache(), AtomicUsize::new(0));
    lookup(&tokens, [1; 32], &reads).await;
    lookup(&tokens, [1; 32], &reads).await;
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "trusted within the short TTL"
    );
    tokio::time::sleep(SHORT * 2).await;
    lookup(&tokens, [1; 32], &reads).await;
    assert_eq!(reads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_state_read_while_subscribed_is_trusted_long_until_the_listener_is_lost() {
    let (tokens, reads, key) = (cache(), AtomicUsize::new(0), [2; 32]);
    tokens.feed().subscribed();
    lookup(&tokens, key, &reads).await;
    tokio::time::sleep(SHORT * 2).await;
    lookup(&tokens, key, &reads).await;
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "trusted past the short TTL"
    );

    tokens.feed().heartbeat(Heartbeat::Late);
    lookup(&tokens, key, &reads).await;
    assert_eq!(
        reads.load(Ordering::SeqCst),
        2,
        "a late heartbeat shortens trust"
    );
    tokens.feed().heartbeat(Heartbeat::OnTime);
    lookup(&tokens, key, &reads).await;
    assert_eq!(reads.load(Ordering::SeqCst), 2, "and drops nothing");
    tokio::time::sleep(SHORT * 2).await;

    tokens.feed().lost();
    lookup(&tokens, key, &reads).await;
    assert_eq!(reads.load(Ordering::SeqCst), 3, "older than the short TTL");
    // Reconnected: what was read before the reconnect keeps the short TTL only.
    tokens.feed().subscribed();
    tokio::time::sleep(SHORT * 2).await;
    lookup(&tokens, key, &reads).await;
    assert_eq!(reads.load(Ordering::SeqCst), 4);
    tokio::time::sleep(SHORT * 2).await;
    lookup(&tokens, key, &reads).await;
    assert_eq!(reads.load(Ordering::SeqCst), 4, "read after the reconnect");
}

#[tokio::test]
async fn a_read_in_flight_during_an_invalidation_is_not_trusted() {
    let (tokens, key) = (cache(), [3; 32]);
    tokens.feed().subscribed();
    let first = entry(&tokens, key).await;
    // The read starts, the revocation event arrives, then the read's (old) answer lands.
    let stale = tokens
        .state(key, &first, || async {
            tokens.forget_states();
            Ok::<_, ()>(state())
        })
        .await
        .unwrap();
    assert!(!stale.revoked);
    let reads = AtomicUsize::new(0);
    lookup(&tokens, key, &reads).await;
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "the next request reads again"
    );
}

#[tokio::test]
async fn concurrent_misses_share_one_verification_and_one_read() {
    let (tokens, key) = (cache(), [4; 32]);
    let (verifications, reads) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let lookups = (0..50).map(|_| async {
        let entry = tokens
            .claims(key, || async {
                verifications.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, ()>(claims())
            })
            .await
            .unwrap();
        tokens
            .state(key, &entry, || async {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, ()>(state())
            })
            .await
            .unwrap()
    });
    futures_util::future::join_all(lookups).await;
    assert_eq!(verifications.load(Ordering::SeqCst), 1);
    assert_eq!(reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_verification_or_read_is_not_cached() {
    let (tokens, key) = (cache(), [5; 32]);
    let refused = tokens.claims(key, || async { Err::<AccessClaims, _>("bad") });
    assert!(matches!(refused.await, Err("bad")));
    let entry = entry(&tokens, key).await;
    let failed = tokens.state(key, &entry, || async { Err::<TokenState, _>("down") });
    assert_eq!(failed.await, Err("down"));
    let reads = AtomicUsize::new(0);
    lookup(&tokens, key, &reads).await;
    assert_eq!(reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn claims_verified_while_keys_rotate_are_verified_again() {
    let (tokens, key) = (cache(), [6; 32]);
    let rotating = || async {
        // The rotation lands while this verification is in flight.
        tokens.forget_claims();
        Ok::<_, ()>(claims())
    };
    tokens.claims(key, rotating).await.unwrap();
    let verifications = AtomicUsize::new(0);
    let counted = || async {
        verifications.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(claims())
    };
    tokens.claims(key, counted).await.unwrap();
    assert_eq!(verifications.load(Ordering::SeqCst), 1, "verified again");
    tokens.claims(key, counted).await.unwrap();
    assert_eq!(verifications.load(Ordering::SeqCst), 1, "then kept");
}

#[tokio::test]
async fn an_entry_goes_after_its_idle_time_and_stays_while_used() {
    let idle = Duration::from_millis(300);
    let tokens = TokenCache::with_ttls(10, idle, SHORT, Duration::from_secs(60));
    let (key, verifications) = ([8; 32], AtomicUsize::new(0));
    let counted = || async {
        verifications.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(claims())
    };
    tokens.claims(key, counted).await.unwrap();
    // Read (never rewritten) for twice its idle time: kept.
    for _ in 0..6 {
        tokio::time::sleep(idle / 3).await;
        tokens.claims(key, counted).await.unwrap();
    }
    assert_eq!(verifications.load(Ordering::SeqCst), 1, "kept while used");
    tokio::time::sleep(idle * 2).await;
    tokens.claims(key, counted).await.unwrap();
    assert_eq!(verifications.load(Ordering::SeqCst), 2, "gone once idle");
}

#[tokio::test]
async fn an_assertion_is_reused_for_half_its_lifetime_by_its_own_iat() {
    let (tokens, user) = (cache(), Arc::new(CachedUser::default()));
    let now = chrono::Utc::now().timestamp();
    let recent = now - IDENTITY_TTL_SECS + 5;
    assert_eq!(
        reuse_after(&tokens, &user, Signed::for_tests(recent)).await,
        recent
    );
    let (tokens, old) = (cache(), now - IDENTITY_TTL_SECS - 1);
    assert_eq!(
        reuse_after(&tokens, &user, Signed::for_tests(old)).await,
        -1,
        "signed again"
    );
    // The wall clock went back since it was signed.
    let (tokens, ahead) = (cache(), now + 120);
    assert_eq!(
        reuse_after(&tokens, &user, Signed::for_tests(ahead)).await,
        -1,
        "signed again"
    );
}

#[tokio::test]
async fn identity_headers_are_built_once_per_user_context_and_grant_change() {
    let (tokens, key) = (cache(), [7; 32]);
    let builds = AtomicUsize::new(0);
    let identity = |user: Arc<CachedUser>| {
        let (tokens, builds) = (&tokens, &builds);
        async move {
            let entry = entry(tokens, key).await;
            let build = || async {
                builds.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Some(Signed::for_tests(chrono::Utc::now().timestamp()))
            };
            tokens.assertion(key, &entry, &user, build).await
        }
    };
    let user = Arc::new(CachedUser::default());
    futures_util::future::join_all((0..20).map(|_| identity(user.clone()))).await;
    assert_eq!(
        builds.load(Ordering::SeqCst),
        1,
        "one build for concurrent misses"
    );
    let reloaded = Arc::new(CachedUser::default());
    identity(reloaded.clone()).await;
    assert_eq!(builds.load(Ordering::SeqCst), 2, "another user context");
    tokens.forget_identities();
    identity(reloaded.clone()).await;
    assert_eq!(builds.load(Ordering::SeqCst), 3, "after a grant change");
    identity(reloaded).await;
    assert_eq!(builds.load(Ordering::SeqCst), 3, "then kept");
}
