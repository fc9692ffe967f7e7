//! Pure domain types: parsed once at the edge, trusted behind it. No IO, no axum, no sqlx.

pub mod provider_kind;
pub mod secret;
pub mod server_name;
pub mod tenant;
pub mod tenant_slug;

pub use provider_kind::ProviderKind;
pub use secret::Secret;
pub use server_name::ResourceName;
pub use tenant::{McpServer, UpstreamProvider};
pub use tenant_slug::TenantSlug;
