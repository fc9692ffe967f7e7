//! A replica killed with SIGKILL while it refreshes a grant (issue 12, item 5). Before the fix
//! its refresh lease lived 30 s: the other replica's callers waited 15 s for it and got 503, and
//! the grant was usable again after about 30 s. Now the holder renews a short lease
//! (`auth.upstream_refresh_lease`, 5 s) while its call runs, so a dead holder's lease lapses
//! within 5 s and the other replica takes over (with a WARN naming the grant: the dead holder's
//! request may have reached the IdP).

use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::refresh_support::{call, forwarding, grant_state};
use crate::{
    app_support::TEST_SEALING_KEY,
    support::bridge_process::{BridgeProcess, database_url_for},
};

#[sqlx::test]
async fn a_replica_killed_mid_refresh_blocks_the_grant_for_at_most_one_short_lease(pool: PgPool) {
    // Arrange: replica A in process, replica B a child process on the same database and public
    // URL (as behind a load balancer); a user whose upstream token is due; an IdP that takes
    // 30 s to answer, so that B is killed while its refresh is at the IdP.
    let f = forwarding(&pool, "").await;
    let (token, grant) = f.log_in().await;
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let port = BridgeProcess::free_port();
    let config = format!(
        "public_url = \"{public}\"\n[server]\nbind = \"127.0.0.1:{port}\"\n\
         [database]\nurl = \"{db}\"\n[crypto]\nactive_key = \"test\"\n[crypto.keys]\n\
         test = \"{TEST_SEALING_KEY}\"\n{tenant}",
        public = f.app.state.config.public_url.as_str().trim_end_matches('/'),
        db = database_url_for(&database, None),
        tenant = f.tenant_toml,
    );
    let mut b = BridgeProcess::start(port, &config, &[], Duration::from_secs(30)).await;
    f.make_due().await;
    f.idp.set_token_delay(Duration::from_secs(30));

    // Act 1: B starts the refresh; once its request is at the IdP, B is killed.
    let on_b = tokio::spawn(call(&b.address, &token, 1).send());
    let started = Instant::now();
    while f.idp.counters().token_refresh == 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        f.idp.counters().token_refresh,
        1,
        "B's refresh reached the IdP"
    );
    b.kill9();
    f.idp.set_token_delay(Duration::ZERO);

    // Act 2: the same user's next request lands on A.
    let started = Instant::now();
    let on_a = call(&f.app.address, &token, 2).send().await.unwrap();
    let waited = started.elapsed();

    // Assert: A took over within one lease plus the refresh and the user never noticed more
    // than that wait; B's client saw its connection die; two refreshes at the IdP (B's, A's).
    assert_eq!(on_a.status(), 200, "{}", b.output());
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    assert!(on_b.await.unwrap().is_err(), "B died mid-request");
    assert_eq!(f.idp.counters().token_refresh, 2);
    assert_eq!(grant_state(&pool, grant).await, ("active".into(), 2));
}
