//! The user as every provider is normalised to: what identity headers and `/userinfo` show.

use serde::{Deserialize, Serialize};

/// One shape for every upstream: the common fields, plus the provider's raw claims for what
/// only its users need (Atlassian cloud ids, Salesforce instance URL, GitHub login, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserContext {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The provider's name within the tenant.
    pub provider: String,
    #[serde(default)]
    pub claims: serde_json::Value,
    /// What the provider's claim mapping kept of `claims` (groups, roles, …): what policies,
    /// `/userinfo`, the signed assertion and the opt-in `X-Auth-Groups`/`-Roles` headers see.
    #[serde(default, skip_serializing_if = "super::MappedClaims::is_empty")]
    pub mapped: super::MappedClaims,
}
