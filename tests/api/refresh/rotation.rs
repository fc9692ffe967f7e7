//! Rotating refresh tokens: each refresh stores the successor before the new access token is
//! used, so the next refresh never presents a spent token. Providers that send no new refresh
//! token (Google) keep the stored one.

use chrono::{Duration, Utc};
use sqlx::PgPool;

use super::support::{
    google_tenant, logged_in, minted_grant, status_and_version, stored_refresh_token,
};
use crate::{
    app_support::{spawn_app, test_config},
    support::fake_idp::{FakeIdp, FakeIdpOptions, ProviderMode},
};

#[sqlx::test]
async fn ten_refresh_cycles_with_a_rotating_idp_never_present_a_spent_token(pool: PgPool) {
    // Arrange: presenting a spent refresh token would revoke the whole grant upstream.
    let t = logged_in(pool.clone(), FakeIdpOptions::default()).await;
    t.idp.set_refresh_reuse_detection(true);
    let refresher = t.app.state.refresher.clone();
    let mut previous = stored_refresh_token(&t.app, t.grant_id).await.unwrap();

    for cycle in 1..=10 {
        // Act: each cycle happens after the previous token (1 h) has expired.
        let now = Utc::now() + Duration::hours(2 * cycle);
        let access = refresher.access_token(t.grant_id, now).await.unwrap();

        // Assert
        let stored = stored_refresh_token(&t.app, t.grant_id).await.unwrap();
        assert_ne!(stored, previous, "cycle {cycle}: the token rotated");
        assert_eq!(Some(&stored), t.idp.current_refresh_token().as_ref());
        assert!(!t.idp.is_refresh_token_valid(&previous));
        assert_eq!(access.version, cycle + 1);
        previous = stored;
    }
    assert_eq!(t.idp.counters().token_refresh, 10);
    assert_eq!(t.idp.counters().token_errors, 0);
    assert_eq!(
        status_and_version(&pool, t.grant_id).await,
        ("active".into(), 11)
    );
}

#[sqlx::test]
async fn a_google_refresh_answer_without_a_refresh_token_keeps_the_stored_one(pool: PgPool) {
    // Arrange: Google never rotates and omits `refresh_token` from refresh answers. (Its
    // login cannot be completed against the fake — the issuer is Google's — so the grant holds
    // tokens the fake minted.)
    let idp = FakeIdp::start(FakeIdpOptions::for_mode(ProviderMode::Google)).await;
    let app = spawn_app(pool.clone(), test_config(&google_tenant("acme", &idp))).await;
    let grant_id = minted_grant(&app, "acme", &idp).await;
    let original = stored_refresh_token(&app, grant_id).await.unwrap();

    for cycle in 1..=2 {
        // Act
        let now = Utc::now() + Duration::hours(2 * cycle);
        let access = app
            .state
            .refresher
            .access_token(grant_id, now)
            .await
            .unwrap();

        // Assert
        assert_eq!(
            Some(access.token.expose()),
            idp.last_access_token().as_ref()
        );
        assert_eq!(
            stored_refresh_token(&app, grant_id).await,
            Some(original.clone())
        );
    }
    assert_eq!(idp.counters().token_refresh, 2);
    let form = idp.last_token_request().unwrap();
    assert_eq!(form.get("refresh_token"), Some(&original));
}
