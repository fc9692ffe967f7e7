//! What a flight and the lease holder share: the pool, the keyring, the upstream client and
//! the policy, and the helpers both use to read the grant and to shape errors. Its own file so
//! `run` (deciding) and `holder` (refreshing under the lease) both depend on it, not on each
//! other.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;
use uuid::Uuid;

use super::{RefreshError, RefreshPolicy, UpstreamAccess};
use crate::{
    crypto::Sealer,
    store::{self, StoreError, grants::GrantTokens},
    upstream::Upstream,
};

pub struct Ctx {
    pub pool: PgPool,
    pub sealer: Arc<Sealer>,
    pub upstream: Upstream,
    pub policy: RefreshPolicy,
    pub skew: Duration,
}

pub fn access_of(grant: &GrantTokens) -> UpstreamAccess {
    UpstreamAccess {
        token: grant.access_token.clone(),
        expires_at: grant.access_expires_at,
        version: grant.version,
    }
}

pub fn internal(e: impl std::fmt::Display) -> RefreshError {
    RefreshError::Internal(e.to_string())
}

/// A store error: the database being unavailable is its own, transient answer (503 naming the
/// database); anything else is a bug or corrupt data.
pub fn from_store(e: StoreError) -> RefreshError {
    if e.is_unavailable() {
        RefreshError::DatabaseUnavailable
    } else {
        internal(e)
    }
}

pub async fn load(ctx: &Ctx, grant_id: Uuid) -> Result<GrantTokens, RefreshError> {
    store::grants::load_tokens(&ctx.pool, &ctx.sealer, grant_id)
        .await
        .map_err(from_store)?
        .ok_or(RefreshError::Revoked)
}
