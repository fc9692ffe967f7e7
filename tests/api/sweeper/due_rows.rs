//! Which rows are due, with each boundary checked at the second: a row due exactly at its cutoff
//! goes, one a second younger stays, and nothing live is ever touched.

use chrono::Duration;
use sqlx::PgPool;

use super::fixture::{Fixture, RETENTION, SECOND, UNUSED_CLIENT_TTL, now, sweeper};

#[sqlx::test]
async fn codes_and_pending_authorizations_go_at_their_expiry_used_or_not(pool: PgPool) {
    // Arrange
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    let at_now = f.code(g, now(), false).await;
    let used_earlier = f.code(g, now() - SECOND, true).await;
    let used_live = f.code(g, now() + SECOND, true).await;
    let live = f.code(g, now() + SECOND, false).await;
    let pending_at_now = f.pending(f.client, now()).await;
    let pending_live = f.pending(f.client, now() + SECOND).await;

    // Act
    let report = sweeper(&pool).run_once(now()).await.unwrap();

    // Assert
    assert!(!f.exists("authorization_codes", "code_hash", &at_now).await);
    assert!(
        !f.exists("authorization_codes", "code_hash", &used_earlier)
            .await
    );
    assert!(
        f.exists("authorization_codes", "code_hash", &used_live)
            .await
    );
    assert!(f.exists("authorization_codes", "code_hash", &live).await);
    assert!(
        !f.exists("pending_authorizations", "id", pending_at_now)
            .await
    );
    assert!(f.exists("pending_authorizations", "id", pending_live).await);
    assert_eq!(report.deleted["authorization_codes"], 2);
    assert_eq!(report.deleted["pending_authorizations"], 1);
    assert!(
        f.exists("grants", "id", g).await,
        "the grant still has codes"
    );
}

#[sqlx::test]
async fn access_tokens_are_kept_for_the_retention_after_expiry_or_revocation(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    let cutoff = now() - RETENTION;
    let expired_at_cutoff = f.access_token(g, None, cutoff, None).await;
    let expired_within = f.access_token(g, None, cutoff + SECOND, None).await;
    let revoked_at_cutoff = f
        .access_token(g, None, now() + RETENTION, Some(cutoff))
        .await;
    let revoked_within = f
        .access_token(g, None, now() + RETENTION, Some(cutoff + SECOND))
        .await;
    let live = f.access_token(g, None, now() + SECOND, None).await;

    let report = sweeper(&pool).run_once(now()).await.unwrap();

    assert!(!f.exists("access_tokens", "jti", expired_at_cutoff).await);
    assert!(f.exists("access_tokens", "jti", expired_within).await);
    assert!(!f.exists("access_tokens", "jti", revoked_at_cutoff).await);
    assert!(f.exists("access_tokens", "jti", revoked_within).await);
    assert!(f.exists("access_tokens", "jti", live).await);
    assert_eq!(report.deleted["access_tokens"], 2);
}

#[sqlx::test]
async fn rotated_refresh_tokens_live_as_long_as_their_family(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    let cutoff = now() - RETENTION;
    let far = now() + Duration::days(300);
    // A live family: its rotated first generation expired long ago but still detects reuse.
    let live = f.family(g, far, None).await;
    let rotated = f
        .refresh_token(live, 1, "rotated", now() - Duration::days(100))
        .await;
    let active = f.refresh_token(live, 2, "active", now() + SECOND).await;
    // An active token idle-expired exactly one retention ago: it goes, and with it its family
    // (nothing can continue it) and that family's rotated tokens.
    let idle = f.family(g, far, None).await;
    let idle_rotated = f.refresh_token(idle, 1, "rotated", cutoff - SECOND).await;
    let idle_active = f.refresh_token(idle, 2, "active", cutoff).await;
    // One second younger: token and family stay.
    let idle_within = f.family(g, far, None).await;
    let within_active = f
        .refresh_token(idle_within, 1, "active", cutoff + SECOND)
        .await;

    let report = sweeper(&pool).run_once(now()).await.unwrap();

    assert!(f.exists("refresh_tokens", "token_hash", &rotated).await);
    assert!(f.exists("refresh_tokens", "token_hash", &active).await);
    assert!(f.exists("refresh_token_families", "id", live).await);
    assert!(!f.exists("refresh_tokens", "token_hash", &idle_active).await);
    assert!(
        !f.exists("refresh_tokens", "token_hash", &idle_rotated)
            .await
    );
    assert!(!f.exists("refresh_token_families", "id", idle).await);
    assert!(
        f.exists("refresh_tokens", "token_hash", &within_active)
            .await
    );
    assert!(f.exists("refresh_token_families", "id", idle_within).await);
    assert_eq!(report.deleted["refresh_tokens"], 1);
    assert_eq!(report.deleted["refresh_token_families"], 1);
}

#[sqlx::test]
async fn families_go_a_retention_after_revocation_or_absolute_expiry(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    let cutoff = now() - RETENTION;
    let far = now() + Duration::days(300);
    let revoked = f.family(g, far, Some(cutoff)).await;
    let revoked_token = f.refresh_token(revoked, 1, "active", far).await;
    let revoked_within = f.family(g, far, Some(cutoff + SECOND)).await;
    let ended = f.family(g, cutoff, None).await;
    let ended_within = f.family(g, cutoff + SECOND, None).await;
    for fam in [revoked_within, ended, ended_within] {
        f.refresh_token(fam, 1, "active", far).await;
    }
    // Ended long ago, but an access token row still refers to it: it waits for that row.
    let referenced = f.family(g, cutoff - Duration::days(30), None).await;
    let token = f
        .access_token(g, Some(referenced), now() + SECOND, None)
        .await;

    sweeper(&pool).run_once(now()).await.unwrap();

    assert!(!f.exists("refresh_token_families", "id", revoked).await);
    assert!(
        !f.exists("refresh_tokens", "token_hash", &revoked_token)
            .await
    );
    assert!(
        f.exists("refresh_token_families", "id", revoked_within)
            .await
    );
    assert!(!f.exists("refresh_token_families", "id", ended).await);
    assert!(f.exists("refresh_token_families", "id", ended_within).await);
    assert!(f.exists("refresh_token_families", "id", referenced).await);
    assert!(
        f.exists("access_tokens", "jti", token).await,
        "a live token is never cascaded"
    );
}

#[sqlx::test]
async fn orphaned_and_long_revoked_grants_go_and_referenced_ones_stay(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let cutoff = now() - RETENTION;
    let orphan = f.grant(cutoff).await;
    let orphan_within = f.grant(cutoff + SECOND).await;
    let revoked = f.revoked_grant(cutoff).await;
    let revoked_within = f.revoked_grant(cutoff + SECOND).await;
    // Old grants something still points to.
    let with_token = f.grant(cutoff - Duration::days(9)).await;
    f.access_token(with_token, None, now() + SECOND, None).await;
    let with_code = f.grant(cutoff - Duration::days(9)).await;
    f.code(with_code, now() + SECOND, false).await;
    let with_family = f.grant(cutoff - Duration::days(9)).await;
    let fam = f
        .family(with_family, now() + Duration::days(300), None)
        .await;
    f.refresh_token(fam, 1, "active", now() + SECOND).await;
    // Its only token is due too: both go in the same run.
    let last_token_due = f.grant(cutoff - Duration::days(9)).await;
    f.access_token(last_token_due, None, cutoff, None).await;

    let report = sweeper(&pool).run_once(now()).await.unwrap();

    assert!(!f.exists("grants", "id", orphan).await);
    assert!(f.exists("grants", "id", orphan_within).await);
    assert!(!f.exists("grants", "id", revoked).await);
    assert!(f.exists("grants", "id", revoked_within).await);
    assert!(f.exists("grants", "id", with_token).await);
    assert!(f.exists("grants", "id", with_code).await);
    assert!(f.exists("grants", "id", with_family).await);
    assert!(!f.exists("grants", "id", last_token_due).await);
    assert_eq!(report.deleted["grants"], 3);
}

#[sqlx::test]
async fn dynamic_clients_never_used_within_the_ttl_go(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let cutoff = now() - UNUSED_CLIENT_TTL;
    let unused = f.client_row("dynamic", cutoff, None).await;
    let unused_within = f.client_row("dynamic", cutoff + SECOND, None).await;
    let used = f.client_row("dynamic", cutoff - SECOND, Some(cutoff)).await;
    let static_unused = f.client_row("static", cutoff - SECOND, None).await;
    let metadata_unused = f
        .client_row("metadata_document", cutoff - SECOND, None)
        .await;
    let with_grant = f.client_row("dynamic", cutoff - SECOND, None).await;
    f.grant_for(with_grant, now()).await;
    let mid_login = f.client_row("dynamic", cutoff - SECOND, None).await;
    f.pending(mid_login, now() + SECOND).await;

    let report = sweeper(&pool).run_once(now()).await.unwrap();

    assert!(!f.exists("oauth_clients", "id", unused).await);
    for kept in [
        unused_within,
        used,
        static_unused,
        metadata_unused,
        with_grant,
        mid_login,
    ] {
        assert!(f.exists("oauth_clients", "id", kept).await, "{kept}");
    }
    assert_eq!(report.deleted["unused_dynamic_clients"], 1);
}

#[sqlx::test]
async fn each_run_is_recorded_and_the_run_log_is_kept_30_days(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    f.codes(g, 3, now()).await;
    for age in [Duration::days(30), Duration::days(30) - SECOND] {
        sqlx::query("INSERT INTO sweeper_runs (started_at, finished_at) VALUES ($1, $1)")
            .bind(now() - age)
            .execute(&pool)
            .await
            .unwrap();
    }

    let report = sweeper(&pool).run_once(now()).await.unwrap();

    assert_eq!(report.deleted["sweeper_runs"], 1);
    let (finished, deleted, error): (
        Option<chrono::DateTime<chrono::Utc>>,
        serde_json::Value,
        Option<String>,
    ) = sqlx::query_as(
        "SELECT finished_at, deleted, error FROM sweeper_runs WHERE started_at = $1",
    )
    .bind(now())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(finished.is_some_and(|t| t >= now()));
    assert_eq!(deleted["authorization_codes"], 3);
    assert_eq!(error, None);
    assert_eq!(f.count("sweeper_runs").await, 2);
}

#[sqlx::test]
async fn tagged_rotated_refresh_tokens_go_when_their_grace_period_is_over(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    let family = f.family(g, now() + RETENTION, None).await;
    let over = f
        .refresh_token(family, 1, "rotated", now() + RETENTION)
        .await;
    let in_grace = f
        .refresh_token(family, 2, "rotated", now() + RETENTION)
        .await;
    let opaque = f
        .refresh_token(family, 3, "rotated", now() + RETENTION)
        .await;
    let active = f
        .refresh_token(family, 4, "active", now() + RETENTION)
        .await;
    for (hash, grace_until, tagged) in [
        (&over, now(), true),
        (&in_grace, now() + SECOND, true),
        (&opaque, now() - RETENTION, false),
    ] {
        sqlx::query(
            "UPDATE refresh_tokens SET grace_until = $2, tagged = $3 WHERE token_hash = $1",
        )
        .bind(hash)
        .bind(grace_until)
        .bind(tagged)
        .execute(&pool)
        .await
        .unwrap();
    }

    let report = sweeper(&pool).run_once(now()).await.unwrap();

    assert!(!f.exists("refresh_tokens", "token_hash", &over).await);
    assert!(f.exists("refresh_tokens", "token_hash", &in_grace).await);
    assert!(
        f.exists("refresh_tokens", "token_hash", &opaque).await,
        "an opaque token cannot name its family: its row detects its reuse"
    );
    assert!(f.exists("refresh_tokens", "token_hash", &active).await);
    assert_eq!(report.deleted["rotated_refresh_tokens"], 1);
}
