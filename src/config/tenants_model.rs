//! The configuration's tenants: each tenant with its upstream providers, MCP servers (and a
//! remote server's OAuth client), as `[[tenants]]` declares them. Part of the configuration's
//! shape (`model.rs`), re-exported with it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{defaults, duration::HumanDuration};
use crate::domain::{ProviderKind, ResourceName, Secret, TenantSlug};

/// A tenant declared in the configuration file.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub slug: TenantSlug,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Scopes MCP clients may request from this tenant.
    #[serde(default = "defaults::tenant_scopes")]
    pub scopes: Vec<String>,
    /// Overrides `auth.access_token_ttl` for this tenant.
    #[serde(default)]
    pub access_token_ttl: Option<HumanDuration>,
    /// The upstream identity providers users of this tenant log in with; the first is the
    /// default for MCP servers that do not name one.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    #[serde(default)]
    pub mcp_servers: Vec<McpServerConfig>,
}

/// An upstream identity provider and the bridge's client registration with it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: ResourceName,
    pub kind: ProviderKind,
    /// Issuer URL (OIDC discovery at `{issuer}/.well-known/openid-configuration`). For
    /// Keycloak, the realm URL `…/realms/{realm}`.
    #[serde(default)]
    pub issuer: Option<url::Url>,
    /// The bridge's client id at the IdP (the `dev` provider needs none).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The bridge's client secret at the IdP, sealed in the database.
    #[serde(default)]
    pub client_secret: Option<Secret<String>>,
    /// Scopes requested upstream; absent means the provider kind's defaults.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Where the browser is sent to log in; overrides the kind's default or discovery (Docker
    /// setups where the browser and the bridge reach the IdP under different names).
    #[serde(default)]
    pub authorization_url: Option<url::Url>,
    /// The token endpoint; overrides the kind's default or discovery.
    #[serde(default)]
    pub token_url: Option<url::Url>,
    /// The userinfo endpoint; overrides the kind's default or discovery.
    #[serde(default)]
    pub userinfo_url: Option<url::Url>,
    /// The JWKS that signs ID tokens; overrides the kind's default or discovery.
    #[serde(default)]
    pub jwks_url: Option<url::Url>,
    /// The RFC 7009 revocation endpoint; overrides the kind's default or discovery.
    #[serde(default)]
    pub revocation_url: Option<url::Url>,
    /// Lifetime assumed for upstream access tokens that come without `expires_in`.
    #[serde(default)]
    pub default_token_lifetime: Option<HumanDuration>,
    /// Sent as `audience` in the upstream authorization request (Auth0: the API identifier, so
    /// that the access token is a JWT for that API rather than an opaque token only Auth0's
    /// `/userinfo` accepts).
    #[serde(default)]
    pub audience: Option<String>,
    /// The user the `dev` provider logs in.
    #[serde(default)]
    pub dev_user: Option<DevUserConfig>,
    /// Claims to keep from the provider's userinfo answer and ID token (userinfo's value wins
    /// when both have one), `name = "path"` (dot-separated keys, `*` for every element of a
    /// list): e.g. `groups = "groups"`, `roles = "realm_access.roles"`, `hd = "hd"`. Policies,
    /// `/userinfo`, the signed assertion and opted-in headers see them (`domain::claims` has
    /// the size limits).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub claims: std::collections::BTreeMap<String, String>,
}

/// The demo user of the built-in `dev` provider.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DevUserConfig {
    pub subject: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// An MCP server (a protected resource) exposed at `/t/{tenant}/mcp/{name}`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    pub name: ResourceName,
    /// Where the gateway forwards requests.
    pub url: url::Url,
    /// Upstream provider users log in with; absent means the tenant's first provider.
    #[serde(default)]
    pub provider: Option<ResourceName>,
    /// Scopes advertised in the server's protected-resource metadata.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Scopes a token must carry to call this server (otherwise 403 insufficient_scope).
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// Forward the user's upstream access token to this server.
    #[serde(default)]
    pub forward_upstream_token: bool,
    /// Credentials with which this server may exchange a user's MCP token for the upstream
    /// token (RFC 8693); absent means it may not.
    #[serde(default)]
    pub token_exchange: Option<TokenExchangeCredentials>,
    /// Send the user's mapped `groups` and `roles` claims as `X-Auth-Groups` / `X-Auth-Roles`
    /// (comma-separated, each value percent-encoded).
    #[serde(default)]
    pub claim_headers: bool,
    /// Per-tool authorization: who may call which tool, read which resource, get which
    /// prompt. Absent: every call is allowed (the admin API may then set one).
    #[serde(default)]
    pub policy: Option<crate::policy::PolicyDocument>,
    /// The server is a remote service with its own OAuth authorization server: the bridge
    /// connects each user to it once (authorization code + PKCE at that server) and sends the
    /// user's token from it, never the bridge's token nor identity headers.
    #[serde(default)]
    pub remote_oauth: Option<RemoteOAuthConfig>,
}

/// How the bridge is an OAuth client of a remote MCP server's own authorization server. The
/// server's protected-resource metadata (RFC 9728) and its authorization server's metadata
/// (RFC 8414) are discovered from `url`; the registration is the first that works of: the
/// `client_id` below, a client ID metadata document the bridge publishes (when the remote
/// supports it and `public_url` is https), dynamic client registration (RFC 7591).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteOAuthConfig {
    /// Scopes requested at the remote server; absent: its metadata's `scopes_supported`.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// A client the operator registered at the remote authorization server by hand.
    #[serde(default)]
    pub client_id: Option<String>,
    /// That client's secret (sealed in the database); absent: a public client.
    #[serde(default)]
    pub client_secret: Option<Secret<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenExchangeCredentials {
    pub client_id: String,
    pub client_secret: Secret<String>,
}
