//! Postgres `NOTIFY` for cache coherence across replicas.

use sqlx::PgPool;

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
