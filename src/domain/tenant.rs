//! Tenants, their upstream providers and MCP servers as the rest of the service sees them.

use uuid::Uuid;

use super::{ProviderKind, ResourceName, TenantSlug};

/// Who owns a row: the configuration file (changes through the API are refused) or the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Config,
    Api,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Api => "api",
        }
    }

    pub fn parse(value: &str) -> Self {
        if value == "config" {
            Self::Config
        } else {
            Self::Api
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Disabled,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: TenantSlug,
    pub display_name: String,
    pub source: Source,
    pub status: TenantStatus,
    pub scopes: Vec<String>,
    pub access_token_ttl_seconds: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct McpServer {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: ResourceName,
    /// Parsed once in the store mapper: behind it the URL is known to be absolute.
    pub upstream_url: url::Url,
    pub provider_id: Option<Uuid>,
    pub scopes: Option<Vec<String>>,
    pub required_scopes: Vec<String>,
    pub forward_upstream_token: bool,
    pub exchange_client_id: Option<String>,
    /// A remote MCP server with its own authorization server: the gateway sends the user's
    /// token from that server (`crate::remote`), never identity headers or upstream tokens.
    pub remote_oauth: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamProvider {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: ResourceName,
    pub kind: ProviderKind,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub revocation_url: Option<String>,
    pub default_token_lifetime_seconds: Option<i64>,
    pub settings: serde_json::Value,
}
