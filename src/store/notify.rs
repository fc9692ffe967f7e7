//! Postgres `NOTIFY` for cache coherence across replicas.

use sqlx::{PgConnection, PgPool, postgres::PgListener};

use super::StoreError;

#[tracing::instrument(name = "db.notify.publish", skip_all)]
pub async fn publish(pool: &PgPool, channel: &str, payload: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(pool)
        .await?;
    Ok(())
}

/// Queues a notification on `conn`'s open transaction: Postgres delivers it exactly when that
/// transaction commits, and never if it rolls back, so a committed change cannot lose its
/// announcement to a later, separate NOTIFY failing.
pub async fn publish_in(
    conn: &mut PgConnection,
    channel: &str,
    payload: &str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

/// One round trip on the cache listener's own connection: its heartbeat. `LISTEN` on the
/// channel it already listens to changes nothing, and keeps the connection shown as the
/// listener in `pg_stat_activity` (operators and tests find it by its `LISTEN` query). The
/// channel is `coherence::CHANNEL`.
pub async fn ping(listener: &mut PgListener) -> Result<(), sqlx::Error> {
    sqlx::query(r#"LISTEN "mab_cache""#)
        .persistent(false)
        .execute(listener)
        .await?;
    Ok(())
}
