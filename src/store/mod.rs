//! All SQL lives here: one file per table family, each returning domain types.
//!
//! Every query function has a span `db.<file>.<function>` (exported when `telemetry.traces` is
//! on) and no fields: its arguments hold token hashes, sealed secrets and codes.

pub mod access_tokens;
pub mod audit;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod grant_records;
pub mod grant_usage;
pub mod grants;
pub mod health;
pub mod mcp_servers;
pub mod notify;
pub mod pending;
pub mod policies;
pub mod pool;
pub mod providers;
pub mod refresh_leases;
mod remote_connect_flow;
pub mod remote_connections;
pub mod remote_registrations;
pub mod sealed_keys;
pub mod signing_keys;
pub mod sweeper;
mod sweeper_batches;
pub mod sweeper_heap;
pub mod sweeper_runs;
pub mod tenants;
pub mod tokens;
pub mod unavailable;
pub mod upsert;

pub use pool::{StoreError, connect, migrate, migrate_within};

/// Whether a read inside a transaction holds its row until commit (so what an audited change
/// records as `before` is what it replaced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowLock {
    None,
    ForUpdate,
}
