//! All SQL lives here: one file per table family, each returning domain types.

pub mod admin_audit;
pub mod admin_grants;
pub mod admin_ops;
pub mod admin_resources;
pub mod admin_tenants;
pub mod audit;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod grants;
pub mod health;
pub mod notify;
pub mod pending;
pub mod pool;
pub mod refresh_leases;
pub mod sealed_keys;
pub mod signing_keys;
pub mod sweeper;
pub mod tenants;
pub mod tokens;
pub mod unavailable;

pub use pool::{StoreError, connect, migrate, migrate_within};
