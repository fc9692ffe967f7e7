//! OAuth clients of a tenant.

use uuid::Uuid;

use super::{ApplicationType, GrantType, RedirectUri};

/// Where a client's registration came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// RFC 7591 dynamic registration.
    Dynamic,
    /// `client_id` is an https URL whose JSON document describes the client.
    MetadataDocument,
    /// Created by an operator.
    Static,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dynamic => "dynamic",
            Self::MetadataDocument => "metadata_document",
            Self::Static => "static",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "dynamic" => Some(Self::Dynamic),
            "metadata_document" => Some(Self::MetadataDocument),
            "static" => Some(Self::Static),
            _ => None,
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// Public client: PKCE is its only proof.
    None,
    ClientSecretBasic,
    ClientSecretPost,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Client {
    /// Row id; what other tables reference.
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// What the client sends as `client_id`.
    pub client_id: String,
    pub kind: ClientKind,
    pub auth_method: AuthMethod,
    pub application_type: ApplicationType,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub scope: Option<String>,
    pub metadata: serde_json::Value,
    pub secret_hash: Option<Vec<u8>>,
}

impl Client {
    /// The registered redirect URI that `requested` matches, if any.
    pub fn redirect_uri_for(&self, requested: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|r| r.matches(requested))
    }

    /// Whether the client registered `grant_type` (RFC 7591 `grant_types`).
    pub fn allows(&self, grant_type: GrantType) -> bool {
        self.grant_types.contains(&grant_type)
    }

    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(&self.client_id)
    }
}
