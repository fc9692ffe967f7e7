//! Postgres `NOTIFY` for cache coherence across replicas: the [`CacheEvent`]s one replica
//! tells the others, on [`CHANNEL`] (`crate::coherence` applies them).

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, postgres::PgListener};
use uuid::Uuid;

use super::StoreError;

/// The channel every replica listens on.
pub const CHANNEL: &str = "mab_cache";

/// What changed. Small and free of secrets: it travels through Postgres.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CacheEvent {
    /// Access tokens or refresh families were revoked: cached token states are stale.
    TokensRevoked,
    /// A grant was revoked, needs re-authorization, or its user context changed.
    GrantChanged { grant: Uuid },
    /// A tenant, provider or MCP server changed.
    TenantChanged { tenant: Uuid },
    /// A client was deleted (its tokens with it by cascade) or its registration changed.
    ClientChanged { client: Uuid },
    /// A tenant's signing keys rotated.
    KeysRotated { tenant: Uuid },
    /// Drop everything (operator action, or a replica that may have missed events).
    FlushAll,
}

/// How the listener's connection answered its last heartbeat ([`ping`]): token states are
/// trusted for long only while it answers on time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heartbeat {
    OnTime,
    Late,
}

impl CacheEvent {
    /// The notification payload (the event's JSON; it always serializes).
    pub fn payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[tracing::instrument(name = "db.notify.publish", skip_all)]
pub async fn publish(pool: &PgPool, channel: &str, payload: &str) -> Result<(), StoreError> {
    // `::text`: `pg_notify` returns `void`, which `query!` cannot describe.
    sqlx::query!("SELECT pg_notify($1, $2)::text", channel, payload)
        .fetch_one(pool)
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
    // `::text`: `pg_notify` returns `void`, which `query!` cannot describe.
    sqlx::query!("SELECT pg_notify($1, $2)::text", channel, payload)
        .fetch_one(conn)
        .await?;
    Ok(())
}

/// One round trip on the cache listener's own connection: its heartbeat. `LISTEN` on the
/// channel it already listens to changes nothing, and keeps the connection shown as the
/// listener in `pg_stat_activity` (operators and tests find it by its `LISTEN` query). The
/// channel is [`CHANNEL`]. A runtime query on purpose: it must not be prepared
/// (`persistent(false)`), so the listener's connection holds no statement of ours.
pub async fn ping(listener: &mut PgListener) -> Result<(), sqlx::Error> {
    sqlx::query(r#"LISTEN "mab_cache""#)
        .persistent(false)
        .execute(listener)
        .await?;
    Ok(())
}
