//! Finding the client an authorization or token request names.
//! (Interim: registered clients only; client ID metadata documents arrive with registration.)

use chrono::{DateTime, Utc};

use super::tenant::TenantContext;
use crate::{domain::Client, state::AppState, store};

#[derive(Debug, thiserror::Error)]
pub enum ClientLookupError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

pub async fn resolve_client(
    state: &AppState,
    ctx: &TenantContext,
    client_id: &str,
    _now: DateTime<Utc>,
) -> Result<Option<Client>, ClientLookupError> {
    Ok(store::clients::find(&state.pool, ctx.tenant.id, client_id).await?)
}
