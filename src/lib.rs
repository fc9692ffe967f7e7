//! mcp-auth-bridge: a multi-tenant OAuth 2.1 authorization server between MCP clients,
//! upstream identity providers and MCP servers. See `docs/architecture.md` for the whole picture.
//!
//! A tour of the modules, from the edge inwards:

// Entry: the command line and start-up.
/// Applying the tenants of the configuration file to Postgres at start-up.
pub mod bootstrap;
/// The command line (`serve`, `migrate`, `check-config`, `config-schema`).
pub mod cli;
/// `database.url = "embedded"`: a private PostgreSQL cluster for a first run (dev mode).
pub mod embedded_postgres;
/// The start-up check for stored secrets sealed with keys no longer configured.
pub mod missing_keys;
/// The accept loop: TCP_NODELAY, header-read timeout, connection limit, draining.
pub mod serve;
/// Building the router, binding, running until a signal, draining.
pub mod startup;
/// Background cleanup of expired and orphaned rows, one replica at a time.
pub mod sweeper;
// The router's state, composed from the surfaces' own.
/// `AppState`: builds each surface's state once and hands it out with axum's `FromRef`.
pub mod state;
// Surfaces: peers, each over the shared services below and with its own state
// (`GatewayState`, `OAuthState`, or the shared `Services`).
/// The end users' account page (`/t/{tenant}/account`): their grants and consents, revocation.
pub mod account;
/// The admin REST API (`/admin/v1`), its OpenAPI document and docs page.
pub mod admin;
/// The operators' web console (`/admin/console`) over the admin API.
pub mod console;
/// The built-in `dev` upstream IdP (dev_mode only).
pub mod dev_idp;
/// The authenticated reverse proxy to MCP servers (identity headers, streaming, replay).
pub mod gateway;
/// `/healthz`, `/readyz`, `/metrics`.
pub mod health;
/// The MCP-facing OAuth 2.1 authorization server endpoints.
pub mod oauth;
/// Remote MCP servers with their own OAuth: the bridge as their client, one token set per user.
pub mod remote;
// Shared services.
/// Sealed, short-lived browser sessions and CSRF tokens of the two consoles.
pub mod browser_session;
/// Registered clients in memory for client authentication, and when each was last recorded as used.
pub mod client_cache;
/// Cache coherence across replicas (LISTEN/NOTIFY).
pub mod coherence;
/// A cache trusted only while the coherence listener is subscribed (tenants, clients).
pub mod coherent_cache;
/// The two signed browser cookies of the authorization flow (consent binding, remembered user).
pub mod cookies;
/// Trusted proxy ranges and the SSRF guard for admin-configured upstream URLs.
pub mod net_guard;
/// Server-rendered HTML pages (consent, errors), the consoles' frame and stylesheet.
pub mod pages;
/// Whether an IP address is public (the SSRF guards' one judgement).
pub mod public_ip;
/// Polling a task again at once when it woke itself, instead of tokio's yield (a futex wake
/// of another worker per request).
pub mod self_wake;
/// The shared services every surface's state is built on (config, pool, keys, caches...).
pub mod services;
/// Tracing, request ids, Prometheus metrics.
pub mod telemetry;
/// Tenant resolution shared by every surface.
pub mod tenancy;
/// The bridge's MCP access tokens: tenant keys, signing, verification.
pub mod tokens;
/// Upstream identity providers: endpoints, login, tokens, user context.
pub mod upstream;
/// The bridge's own URLs (issuer, resource, callback, metadata), built in one place.
pub mod urls;
// Foundations: storage, configuration, cryptography, domain types, errors.
/// Typed configuration: TOML + environment, validated once.
pub mod config;
/// Random tokens, hashes, sealing at rest, signing keys.
pub mod crypto;
/// Pure domain types, parsed at the edge.
pub mod domain;
/// Error types and their HTTP shapes (RFC 6749 JSON, HTML pages).
pub mod error;
/// Per-tool policies: rules compiled once (CEL), decisions, strict JSON-RPC reading.
pub mod policy;
/// All SQL, one file per table family.
pub mod store;
