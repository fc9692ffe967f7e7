//! Tenant signing keys in memory: the active signer per tenant and the published verifying keys.
//!
//! Both are cached (moka) so issuing and verifying do not hit Postgres and AES on every request.
//! An unknown `kid` reloads the tenant's keys at most once per 30 seconds, so forged tokens
//! cannot turn the bridge into a database flood.

use std::{collections::HashMap, sync::Arc, time::Duration};

use jsonwebtoken::DecodingKey;
use moka::future::Cache;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    crypto::{Sealer, signing},
    store::{StoreError, notify, signing_keys},
};

/// What signs a tenant's tokens right now.
pub struct Signer {
    pub kid: String,
    pub key: signing::Es256Key,
}

struct Verifiers {
    keys: HashMap<String, DecodingKey>,
    loaded_at: std::time::Instant,
}

#[derive(Clone)]
pub struct TenantKeys {
    pool: PgPool,
    sealer: Arc<Sealer>,
    /// `auth.access_token_ttl`: how long a replaced key stays published at least.
    token_ttl: chrono::Duration,
    signers: Cache<Uuid, Arc<Signer>>,
    verifiers: Cache<Uuid, Arc<Verifiers>>,
}

const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(30);

impl TenantKeys {
    pub fn new(pool: PgPool, sealer: Arc<Sealer>, token_ttl: chrono::Duration) -> Self {
        Self {
            pool,
            sealer,
            token_ttl,
            signers: Cache::builder()
                .time_to_live(Duration::from_secs(60))
                .max_capacity(10_000)
                .build(),
            verifiers: Cache::builder()
                .time_to_live(Duration::from_secs(60))
                .max_capacity(10_000)
                .build(),
        }
    }

    /// The tenant's active signer. A key that no longer opens (dev mode's ephemeral sealing key
    /// after a restart; keys sealed with a removed sealing key are handled before serving, see
    /// `crate::missing_keys`) is replaced, since nothing could ever sign with it again — but its
    /// public key stays published for the tenant's access-token lifetime, so the tokens it
    /// signed keep verifying.
    pub async fn signer(&self, tenant_id: Uuid) -> Result<Arc<Signer>, StoreError> {
        let this = self.clone();
        self.signers
            .try_get_with(tenant_id, async move {
                this.load_signer(tenant_id).await.map(Arc::new)
            })
            .await
            .map_err(StoreError::from)
    }

    async fn load_signer(&self, tenant_id: Uuid) -> Result<Signer, StoreError> {
        for _ in 0..2 {
            match signing_keys::active(&self.pool, tenant_id).await? {
                Some((kid, sealed)) => {
                    let opened = self
                        .sealer
                        .open(&sealed, &format!("signing_key:{kid}"))
                        .map_err(|e| e.to_string())
                        .and_then(|der| {
                            signing::Es256Key::from_pkcs8(&der).map_err(|e| e.to_string())
                        });
                    match opened {
                        Ok(key) => return Ok(Signer { key, kid }),
                        Err(e) => {
                            tracing::warn!(%tenant_id, %kid, error = %e, "active signing key cannot be opened; replacing it, its public key stays published");
                            self.replace_unopenable(tenant_id).await?;
                        }
                    }
                }
                None => {
                    let mut conn = self.pool.acquire().await?;
                    ensure_key(&mut conn, tenant_id, &self.sealer).await?;
                }
            }
        }
        Err(StoreError::Corrupt(format!(
            "tenant {tenant_id} has no usable signing key"
        )))
    }

    /// A new active key; the old one published until the tenant's tokens it signed expired. This
    /// replica's published keys are reloaded at once and the other replicas told, so a token
    /// signed with the new key verifies everywhere without waiting for the unknown-`kid` reload.
    async fn replace_unopenable(&self, tenant_id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let until =
            crate::store::sealed_keys::publish_until_for_tenant(&mut tx, tenant_id, self.token_ttl)
                .await?;
        rotate(&mut tx, tenant_id, &self.sealer, until).await?;
        tx.commit().await?;
        self.verifiers.invalidate(&tenant_id).await;
        let event = notify::CacheEvent::KeysRotated { tenant: tenant_id };
        if let Err(e) = notify::publish(&self.pool, notify::CHANNEL, &event.payload()).await {
            tracing::warn!(error = %e, "key rotation could not be sent to other replicas");
        }
        Ok(())
    }

    /// The verifying key for `kid`, reloading the tenant's published keys when `kid` is unknown
    /// and the last load is older than 30 seconds.
    pub async fn verifier(
        &self,
        tenant_id: Uuid,
        kid: &str,
    ) -> Result<Option<DecodingKey>, StoreError> {
        let current = self.verifiers(tenant_id).await?;
        if let Some(key) = current.keys.get(kid) {
            return Ok(Some(key.clone()));
        }
        if current.loaded_at.elapsed() < UNKNOWN_KID_RELOAD {
            return Ok(None);
        }
        self.verifiers.invalidate(&tenant_id).await;
        Ok(self.verifiers(tenant_id).await?.keys.get(kid).cloned())
    }

    async fn verifiers(&self, tenant_id: Uuid) -> Result<Arc<Verifiers>, StoreError> {
        let pool = self.pool.clone();
        self.verifiers
            .try_get_with(tenant_id, async move {
                let published = signing_keys::published(&pool, tenant_id).await?;
                let keys = published
                    .iter()
                    .filter_map(|jwk| {
                        signing::decoding_key(jwk)
                            .ok()
                            .map(|k| (jwk.kid.clone(), k))
                    })
                    .collect();
                Ok::<_, StoreError>(Arc::new(Verifiers {
                    keys,
                    loaded_at: std::time::Instant::now(),
                }))
            })
            .await
            .map_err(StoreError::from)
    }

    /// Drops every tenant's cached keys (this replica may have missed rotations).
    pub fn forget_all(&self) {
        self.signers.invalidate_all();
        self.verifiers.invalidate_all();
    }

    /// Drops what this replica cached for a tenant (after a rotation).
    pub async fn forget(&self, tenant_id: Uuid) {
        self.signers.invalidate(&tenant_id).await;
        self.verifiers.invalidate(&tenant_id).await;
    }
}

/// Gives a tenant its first signing key; returns whether one was created.
pub async fn ensure_key(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    sealer: &Sealer,
) -> Result<bool, StoreError> {
    let key = signing::generate_es256();
    let sealed = sealer.seal(
        key.private_pkcs8_der.expose(),
        &format!("signing_key:{}", key.kid),
    );
    signing_keys::insert_if_no_active(conn, tenant_id, &key.kid, &sealed, &key.public).await
}

/// Makes a new active key; the old one stays published until `publish_until` so tokens it
/// signed keep verifying. Returns the new kid.
pub async fn rotate(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    sealer: &Sealer,
    publish_until: chrono::DateTime<chrono::Utc>,
) -> Result<String, StoreError> {
    let key = signing::generate_es256();
    let sealed = sealer.seal(
        key.private_pkcs8_der.expose(),
        &format!("signing_key:{}", key.kid),
    );
    signing_keys::rotate(
        conn,
        tenant_id,
        publish_until,
        &key.kid,
        &sealed,
        &key.public,
    )
    .await?;
    Ok(key.kid)
}
