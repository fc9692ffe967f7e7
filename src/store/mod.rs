//! All SQL lives here: one file per table family, each returning domain types.

pub mod audit;
pub mod health;
pub mod pool;
pub mod signing_keys;
pub mod sweeper;
pub mod tenants;

pub use pool::{StoreError, connect, migrate};
