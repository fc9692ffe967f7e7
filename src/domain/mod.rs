//! Pure domain types: parsed once at the edge, trusted behind it. No IO, no axum, no sqlx.

pub mod authorization;
pub mod cidr;
pub mod claims;
pub mod client;
pub mod client_name;
pub mod grant;
pub mod grant_type;
pub mod pkce;
pub mod provider_kind;
pub mod redirect_uri;
pub mod refresh_status;
pub mod scope;
pub mod secret;
pub mod server_name;
pub mod tenant;
pub mod tenant_slug;
pub mod user_context;

pub use authorization::{AuthorizationCode, PendingAuthorization};
pub use cidr::Cidr;
pub use claims::{ClaimMapping, ClaimValue, MappedClaims};
pub use client::{AuthMethod, Client, ClientKind};
pub use client_name::ClientName;
pub use grant::{Grant, GrantStatus, UpstreamTokens};
pub use grant_type::GrantType;
pub use pkce::PkceChallenge;
pub use provider_kind::ProviderKind;
pub use redirect_uri::{ApplicationType, RedirectUri};
pub use refresh_status::RefreshStatus;
pub use scope::Scopes;
pub use secret::{Secret, SecretSource};
pub use server_name::ResourceName;
pub use tenant::{McpServer, UpstreamProvider};
pub use tenant_slug::TenantSlug;
pub use user_context::UserContext;
