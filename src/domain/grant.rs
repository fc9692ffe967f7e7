//! Grants: one user's upstream login through one client, holding the upstream tokens.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantStatus {
    Active,
    /// The upstream refused the refresh token (`invalid_grant`): the user must log in again.
    NeedsReauth,
    Revoked,
}

impl GrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(value: &str) -> Self {
        match value {
            "active" => Self::Active,
            "needs_reauth" => Self::NeedsReauth,
            _ => Self::Revoked,
        }
    }
}

/// Upstream tokens in the clear, as they travel between the provider adapter and the store
/// (which seals them). Never logged: `Debug` is redacted.
#[derive(Clone)]
pub struct UpstreamTokens {
    pub access_token: String,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_token: Option<String>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    /// Provider data kept from token responses (Salesforce `instance_url`, …); no secrets.
    pub extra: serde_json::Value,
}

impl std::fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTokens")
            .field("access_expires_at", &self.access_expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// A grant's metadata, without its tokens.
#[derive(Clone, Debug)]
pub struct Grant {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub provider_id: Uuid,
    pub client_pk: Uuid,
    pub subject: String,
    pub user_context: serde_json::Value,
    pub status: GrantStatus,
    pub version: i64,
    pub upstream_access_expires_at: Option<DateTime<Utc>>,
}
