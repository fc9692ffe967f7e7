//! The start-up check for sealing keys removed from the configuration.
//!
//! Every sealed secret is stored with the id of the key that sealed it (`*_key_id` columns). A
//! key removed from `crypto.keys` while rows still need it would leave users stuck with errors
//! at request time, and used to make the bridge replace tenant signing keys silently. So before
//! serving, [`check`] looks for such rows and:
//!
//! * refuses to start, naming each missing key id and how many rows of which kind need it —
//!   the fix is usually to put the key back;
//! * or, when the operator sets `crypto.allow_missing_keys = true`, starts after making what
//!   cannot be opened explicit: grants holding such tokens become `needs_reauth` (the gateway
//!   answers them with the 401 re-authorize challenge, RFC 6750 §3.1, and the client sends the
//!   user through the login again); a tenant whose active signing key cannot be opened gets a
//!   new one, while the old public key **stays published** for the tenant's access-token
//!   lifetime, so every token issued before keeps verifying (the public key is not sealed);
//!   provider client secrets created through the admin API are counted in the log for the
//!   operator to re-enter (the configured tenants' providers were re-sealed from the file just
//!   before this check, so they do not count).

use std::fmt;

use sqlx::PgPool;

use crate::{
    config::Config,
    crypto::Sealer,
    store::{
        StoreError,
        sealed_keys::{self, UnopenableRows},
    },
    tokens::keys,
};

/// Rows need sealing keys that are not configured, and the operator did not allow that.
#[derive(Debug, thiserror::Error)]
pub enum MissingKeysError {
    #[error(
        "stored secrets were sealed with key(s) that are not in crypto.keys: {0}; put the key(s) \
         back, or set crypto.allow_missing_keys = true to start anyway (affected grants must \
         re-authorize; affected signing keys are replaced, their public keys stay published)"
    )]
    Missing(Summary),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `"old": 3 rows (2 grant upstream tokens, 1 tenant signing keys); …`, ids and counts only.
#[derive(Debug)]
pub struct Summary(Vec<UnopenableRows>);

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.0.iter().map(|r| r.key_id.as_str()).collect();
        ids.dedup();
        for (i, id) in ids.iter().enumerate() {
            let kinds: Vec<&UnopenableRows> = self.0.iter().filter(|r| r.key_id == *id).collect();
            let total: i64 = kinds.iter().map(|r| r.count).sum();
            let detail: Vec<String> = kinds
                .iter()
                .map(|r| format!("{} {}", r.count, r.what))
                .collect();
            let sep = if i == 0 { "" } else { "; " };
            write!(f, "{sep}{id:?}: {total} rows ({})", detail.join(", "))?;
        }
        Ok(())
    }
}

/// What the check did when missing keys were allowed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    pub grants_needing_reauth: u64,
    pub signing_keys_replaced: usize,
}

/// Runs the check; see the module documentation.
pub async fn check(
    pool: &PgPool,
    config: &Config,
    sealer: &Sealer,
) -> Result<Allowed, MissingKeysError> {
    let configured = sealer.key_ids();
    let missing = sealed_keys::unopenable(pool, &configured).await?;
    if missing.is_empty() {
        return Ok(Allowed::default());
    }
    let summary = Summary(missing);
    if !config.crypto.allow_missing_keys {
        return Err(MissingKeysError::Missing(summary));
    }
    tracing::warn!(
        missing = %summary,
        "stored secrets were sealed with key(s) that are not configured; starting anyway \
         (crypto.allow_missing_keys)"
    );
    let grants_needing_reauth = sealed_keys::grants_need_reauth(pool, &configured).await?;
    if grants_needing_reauth > 0 {
        tracing::warn!(
            grants = grants_needing_reauth,
            "grants whose upstream tokens cannot be opened now need re-authorization"
        );
    }
    let signing_keys_replaced = replace_signing_keys(pool, config, sealer, &configured).await?;
    Ok(Allowed {
        grants_needing_reauth,
        signing_keys_replaced,
    })
}

/// A new active key for each tenant whose active one cannot be opened; the old one stays
/// published for the tenant's access-token lifetime. Logged, never silent.
async fn replace_signing_keys(
    pool: &PgPool,
    config: &Config,
    sealer: &Sealer,
    configured: &[String],
) -> Result<usize, StoreError> {
    let lost = sealed_keys::unopenable_signing_keys(pool, configured).await?;
    for key in &lost {
        let mut tx = pool.begin().await?;
        let default_ttl = config.auth.access_token_ttl.to_chrono();
        let until =
            sealed_keys::publish_until_for_tenant(&mut tx, key.tenant_id, default_ttl).await?;
        let new_kid = keys::rotate(&mut tx, key.tenant_id, sealer, until).await?;
        tx.commit().await?;
        tracing::warn!(
            tenant = %key.tenant_id,
            old_kid = %key.kid,
            sealing_key = %key.key_id,
            %new_kid,
            publish_until = %until,
            "the tenant's signing key cannot be opened; a new one signs from now on and the old \
             public key stays published so tokens it signed keep verifying"
        );
    }
    Ok(lost.len())
}
