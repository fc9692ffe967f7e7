//! mcp-auth-bridge: a multi-tenant OAuth 2.1 authorization server between MCP clients,
//! upstream identity providers and MCP servers. See `../shared/DESIGN.md` for the whole picture.
//!
//! A tour of the modules, from the edge inwards:

/// Applying the tenants of the configuration file to Postgres at start-up.
pub mod bootstrap;
/// The command line (`serve`, `migrate`, `check-config`, `config-schema`).
pub mod cli;
/// Typed configuration: TOML + environment, validated once.
pub mod config;
/// Random tokens, hashes, sealing at rest, signing keys.
pub mod crypto;
/// Pure domain types, parsed at the edge.
pub mod domain;
/// `/healthz`, `/readyz`, `/metrics`.
pub mod health;
/// Building the router, binding, running until a signal, draining.
pub mod startup;
/// What handlers share: configuration, pool, keyring, metrics.
pub mod state;
/// All SQL, one file per table family.
pub mod store;
/// Background cleanup of expired and orphaned rows, one replica at a time.
pub mod sweeper;
/// Tracing, request ids, Prometheus metrics.
pub mod telemetry;
