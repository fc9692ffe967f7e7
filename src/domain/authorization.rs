//! An authorization in progress and the code it ends with.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PkceChallenge, Scopes};

/// Created by `/authorize`, approved at consent, consumed once at the upstream callback.
#[derive(Clone, Debug)]
pub struct PendingAuthorization {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub client_pk: Uuid,
    pub provider_id: Uuid,
    pub mcp_server_id: Uuid,
    pub redirect_uri: String,
    pub client_state: Option<String>,
    pub code_challenge: PkceChallenge,
    pub scopes: Scopes,
    pub resource: String,
    pub consent_binding_hash: Option<Vec<u8>>,
    pub upstream_nonce: Option<String>,
    /// The subject of the remembered-user cookie when `/authorize` skipped the consent page on
    /// its strength: the callback issues a code only to that same subject (issue 11).
    pub remembered_subject: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// A bridge authorization code as stored (the code itself only as a hash).
#[derive(Clone, Debug)]
pub struct AuthorizationCode {
    pub code_hash: Vec<u8>,
    pub tenant_id: Uuid,
    pub client_pk: Uuid,
    pub grant_id: Uuid,
    pub mcp_server_id: Uuid,
    pub redirect_uri: String,
    pub code_challenge: PkceChallenge,
    pub scopes: Scopes,
    pub resource: String,
    pub expires_at: DateTime<Utc>,
}
