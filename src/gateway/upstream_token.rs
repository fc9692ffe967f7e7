//! The user's upstream access token as the gateway needs it, through the refresh coordinator:
//! current (refreshed before use when about to expire) and refreshed once after an upstream 401
//! — however many requests report the same rejected token at the same moment.

use chrono::Utc;
use uuid::Uuid;

use crate::{
    gateway::GatewayState,
    upstream::refresh::{RefreshError, UpstreamAccess},
};

/// Why the gateway could not get what it needs from upstream for a user (their upstream token or
/// their user context).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenProblem {
    /// The IdP refused the refresh token, or the grant is gone: only a new authorization helps
    /// (401 with a challenge that makes the client re-authorize).
    #[error("the user must authorize again")]
    NeedsReauth,
    /// Transient: 503 with `Retry-After`, never a 401.
    #[error("the identity provider is unavailable")]
    Unavailable(u64),
    /// The bridge's own database did not answer: 503 naming the database, never a 401.
    #[error("the bridge's database is unavailable")]
    DatabaseUnavailable,
    #[error("upstream failure: {0}")]
    Failed(String),
}

impl TokenProblem {
    /// A store error met while getting the user's token or context: the database being
    /// unavailable is transient (503), anything else a failure.
    pub fn from_store(e: &crate::store::StoreError) -> Self {
        if e.is_unavailable() {
            Self::DatabaseUnavailable
        } else {
            Self::Failed(e.to_string())
        }
    }
}

fn map(result: Result<UpstreamAccess, RefreshError>) -> Result<String, TokenProblem> {
    match result {
        Ok(access) => Ok(access.token.expose().clone()),
        Err(RefreshError::NeedsReauth | RefreshError::Revoked | RefreshError::NotRefreshable) => {
            Err(TokenProblem::NeedsReauth)
        }
        Err(RefreshError::Unavailable { retry_after }) => {
            Err(TokenProblem::Unavailable(retry_after.unwrap_or(1)))
        }
        // Still refreshing, backing off, or a rejected token refreshed moments ago (issue 11:
        // one rejection-driven refresh per grant per interval): come back later.
        Err(RefreshError::Busy { retry_after, .. }) => Err(TokenProblem::Unavailable(retry_after)),
        Err(RefreshError::DatabaseUnavailable) => Err(TokenProblem::DatabaseUnavailable),
        Err(RefreshError::Internal(reason)) => Err(TokenProblem::Failed(reason)),
    }
}

/// The grant's current upstream access token.
pub async fn current(state: &GatewayState, grant: Uuid) -> Result<String, TokenProblem> {
    map(state.refresher.access_token(grant, Utc::now()).await)
}

/// The upstream rejected `rejected`: refresh once and return the new token.
pub async fn after_rejection(
    state: &GatewayState,
    grant: Uuid,
    rejected: &str,
) -> Result<String, TokenProblem> {
    map(state
        .refresher
        .after_rejection(grant, rejected, Utc::now())
        .await)
}
