//! The bridge's own MCP access tokens: JWTs signed with the tenant's key, whose `jti` maps to a
//! grant in Postgres. Shared by the OAuth endpoints (issue, introspect, revoke) and the gateway
//! (verify), which must not depend on each other.

pub mod access;
pub mod bearer;
pub mod keys;
pub mod validate;

pub use access::{AccessClaims, TokenError};
pub use keys::TenantKeys;
