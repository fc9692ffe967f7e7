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

/// The key under which a grant's stored user context keeps the mapped claims of the login's ID
/// token apart from the merged ones: a userinfo reload merges them again, so that a claim
/// userinfo stopped sending is not taken from an old userinfo answer.
const ID_TOKEN_CLAIMS: &str = "id_token_claims";

impl UserContext {
    /// What a grant stores: this context and, apart, `id_token_claims` (see
    /// [`stored_id_token_claims`]).
    pub fn to_stored(
        &self,
        id_token_claims: &super::MappedClaims,
    ) -> Result<serde_json::Value, serde_json::Error> {
        let mut stored = serde_json::to_value(self)?;
        if let (Some(object), false) = (stored.as_object_mut(), id_token_claims.is_empty()) {
            object.insert(
                ID_TOKEN_CLAIMS.to_owned(),
                serde_json::to_value(id_token_claims)?,
            );
        }
        Ok(stored)
    }
}

/// The ID token's mapped claims kept in a grant's stored user context (none when there are
/// none or they are unreadable: they were bounded when written).
pub fn stored_id_token_claims(stored: &serde_json::Value) -> super::MappedClaims {
    stored
        .get(ID_TOKEN_CLAIMS)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}
