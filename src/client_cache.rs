//! Registered clients in memory for client authentication (issue 13: the token endpoint read
//! its client on every request and recorded its use on every request, two of the four
//! transactions of a refresh).
//!
//! * Clients: a [`CoherentCache`] keyed by `(tenant, client_id)`, emptied by every
//!   `ClientChanged` event (a deletion, here or on another replica: refused at once there),
//!   `FlushAll`, and whenever the coherence listener is not subscribed. Only registered
//!   clients (dynamic, static) are cached; metadata-document clients keep their own expiry in
//!   the store (`oauth::clients`). Unknown ids are never cached.
//! * Use: `oauth_clients.last_used_at` is only written when a minute has passed (the statement
//!   says so), so this replica remembers for a minute which clients it recorded and sends no
//!   statement for them meanwhile. What it costs: `last_used_at` may lag by a minute more.

use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::future::Cache;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    coherent_cache::{CoherentCache, Ticket},
    domain::{Client, ClientKind},
    store::{self, StoreError},
};

/// How long a cached client lives even while every event arrives.
const CLIENT_TTL: Duration = Duration::from_secs(300);
/// How often this replica records a client's use at most (`store::clients::touch` writes at
/// most once a minute).
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct ClientCache {
    clients: CoherentCache<(Uuid, String), Client>,
    touched: Cache<Uuid, ()>,
}

impl Default for ClientCache {
    fn default() -> Self {
        Self {
            clients: CoherentCache::new(CLIENT_TTL, 100_000),
            touched: Cache::builder()
                .time_to_live(TOUCH_INTERVAL)
                .max_capacity(100_000)
                .build(),
        }
    }
}

impl ClientCache {
    /// The cached clients, for `crate::coherence` (events, listener state).
    pub fn cache(&self) -> &CoherentCache<(Uuid, String), Client> {
        &self.clients
    }

    pub async fn get(&self, tenant_id: Uuid, client_id: &str) -> Option<Client> {
        self.clients.get(&(tenant_id, client_id.to_owned())).await
    }

    /// Take before resolving the client to [`remember`](Self::remember).
    pub fn ticket(&self) -> Ticket {
        self.clients.ticket()
    }

    /// Keeps a registered client resolved since `ticket`.
    pub async fn remember(&self, ticket: Ticket, client: &Client) {
        if client.kind == ClientKind::MetadataDocument {
            return;
        }
        let key = (client.tenant_id, client.client_id.clone());
        self.clients.insert(ticket, key, client.clone()).await;
    }

    /// Records the client's use unless this replica did in the last minute.
    pub async fn touch(
        &self,
        pool: &PgPool,
        client_pk: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if self.touched.contains_key(&client_pk) {
            return Ok(());
        }
        store::clients::touch(pool, client_pk, now).await?;
        self.touched.insert(client_pk, ()).await;
        Ok(())
    }
}
