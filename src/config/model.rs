//! The configuration's shape: every key an operator can set, with its default.
//!
//! `config/example.toml` documents each key and `config/schema.json` is generated from these
//! types (`mcp-auth-bridge config-schema`); a test fails when either drifts.

use std::net::SocketAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{defaults, duration::HumanDuration, tenants_model::TenantConfig};
use crate::{
    domain::Cidr,
    domain::{Secret, TenantSlug},
};

/// The whole configuration. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Relaxes the rules that protect production: an ephemeral sealing key is generated when
    /// none is configured, and the built-in `dev` upstream provider is allowed. Never in production.
    #[serde(default)]
    pub dev_mode: bool,
    /// The URL clients use to reach this service; issuers and resource URLs derive from it.
    pub public_url: url::Url,
    #[serde(default)]
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub crypto: CryptoConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub registration: RegistrationConfig,
    #[serde(default)]
    pub gateway: GatewayConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Tenants declared here are upserted into Postgres at start-up; tenants can also live
    /// only in the database (managed through the admin API).
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
}

/// The HTTP listener.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on (`0` picks a free port).
    pub bind: SocketAddr,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    pub shutdown_grace: HumanDuration,
    /// Largest request body accepted by the OAuth and admin endpoints, in bytes.
    pub max_body_bytes: usize,
    // --- connection hygiene and trusted proxies (issue 11, items 3 and 8) ---
    /// Peers (IP addresses or CIDR ranges) whose `X-Forwarded-*`, `Forwarded` and `X-Real-IP`
    /// headers are believed. From anyone else those headers are replaced by what the bridge
    /// itself sees before a request is forwarded to an MCP server. Empty: trust no one.
    pub trusted_proxies: Vec<Cidr>,
    /// Most client connections served at once; further connections wait in the kernel's
    /// accept queue until one closes.
    pub max_connections: usize,
    /// How long a connection may wait for a complete request head, counted from when it
    /// starts waiting for one: it bounds a half-sent head (slowloris) and an idle keep-alive
    /// connection alike; once a head has arrived, the request is not limited by it.
    pub header_read_timeout: HumanDuration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shutdown_grace: HumanDuration::secs(30),
            max_body_bytes: 64 * 1024,
            trusted_proxies: Vec::new(),
            max_connections: 10_000,
            header_read_timeout: HumanDuration::secs(30),
        }
    }
}

/// Postgres, the one store.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/database`; a secret because it may hold a password.
    /// `embedded` (dev_mode only): a private PostgreSQL cluster the bridge starts from the
    /// server programs installed on the machine and stops on exit (`src/embedded_postgres`).
    /// Like every secret key, it may come from a file (`url_file`) or a variable (`url_env`)
    /// instead: see `config::secrets`.
    pub url: Secret<String>,
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing (half-open connections
    /// after a Postgres restart must not hang requests forever). It covers the liveness check
    /// of an idle connection and the handshake of a new one, so it is also how long a request
    /// takes to get its 503 when the database stops answering; each start-up step is bounded by
    /// it too.
    #[serde(default = "defaults::acquire_timeout")]
    pub acquire_timeout: HumanDuration,
    /// Server-side `statement_timeout` for every connection.
    #[serde(default = "defaults::statement_timeout")]
    pub statement_timeout: HumanDuration,
    /// Create the database at start-up when it does not exist (needs the CREATEDB privilege).
    #[serde(default = "defaults::yes")]
    pub create_if_missing: bool,
    /// How long `serve` keeps retrying start-up (connect, create, migrate; each attempt bounded
    /// by `acquire_timeout`) while the database is unavailable, before it exits non-zero:
    /// containers often start before their database. `migrate` and `sweep` try once.
    #[serde(default = "defaults::startup_timeout")]
    pub startup_timeout: HumanDuration,
}

/// Logging output.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `auto` (pretty on a terminal, JSON otherwise), `pretty` or `json`.
    pub format: LogFormat,
    /// Filter directives used when `RUST_LOG` is not set, e.g. `info,sqlx=warn`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            filter: "info,sqlx=warn".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Auto,
    Pretty,
    Json,
}

/// Keys that seal secrets at rest (AES-256-GCM).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CryptoConfig {
    /// Id of the key that seals new secrets; must be one of `keys`.
    pub active_key: Option<String>,
    /// All keys that may open stored secrets: id → 32 bytes, base64 (standard or URL-safe).
    /// Keep an old key here after rotating until nothing sealed with it remains. Keys may come
    /// from files (`keys_file`, id → path) or variables (`keys_env`, id → name) instead.
    pub keys: std::collections::BTreeMap<String, Secret<String>>,
    /// Start even though stored secrets were sealed with keys no longer listed in `keys` (the
    /// start-up check refuses otherwise, naming the key ids and row counts). Then grants holding
    /// such tokens must re-authorize, and tenants whose signing key cannot be opened get a new
    /// one while the old public key stays published.
    pub allow_missing_keys: bool,
}

/// Lifetimes and caches of the authorization server.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a user context stays in the gateway's cache.
    pub cache_ttl: HumanDuration,
    /// Most user contexts kept in the cache.
    pub cache_capacity: u64,
    /// While the IdP's userinfo fails transiently (timeouts, 5xx, 429, after retries), a user
    /// context that expired from the cache less than this long ago is served instead of a 503
    /// (RFC 5861's `stale-if-error`, applied to the user cache); `"0s"` disables it.
    pub stale_if_error: HumanDuration,
    /// How often the sweeper runs; `"0s"` disables it.
    pub cleanup_interval: HumanDuration,
    /// Lifetime of the bridge's authorization codes (RFC 9700: at most 10 minutes).
    pub authorization_code_ttl: HumanDuration,
    /// Lifetime of a pending authorization (consent + upstream login).
    pub pending_authorization_ttl: HumanDuration,
    /// Lifetime of MCP access tokens unless a tenant overrides it.
    pub access_token_ttl: HumanDuration,
    /// Idle lifetime of an MCP refresh token (each rotation starts it again).
    pub refresh_token_ttl: HumanDuration,
    /// Absolute lifetime of a refresh-token family, however often it rotates.
    pub refresh_family_max_lifetime: HumanDuration,
    /// A reuse of a just-rotated refresh token within this window gets the same successor
    /// (clients retry refreshes whose response they lost).
    pub refresh_grace_period: HumanDuration,
    /// An upstream access token this close to its expiry is refreshed before it is used.
    pub upstream_refresh_skew: HumanDuration,
    /// Longest one call to an upstream token endpoint for a refresh may take. Long on purpose:
    /// a refresh the IdP processed but whose answer we gave up on may have spent a rotating
    /// refresh token, and sending it again can make the IdP revoke the whole grant.
    pub upstream_refresh_timeout: HumanDuration,
    /// Longest a request waits for an upstream refresh before it is answered 503 with
    /// `Retry-After`; the refresh goes on and its result is stored when it arrives.
    pub upstream_refresh_wait: HumanDuration,
    /// Lifetime of a replica's refresh lease on a grant, renewed while its call is in flight: a
    /// replica that dies mid-refresh blocks the grant's refreshes for at most this long.
    pub upstream_refresh_lease: HumanDuration,
    /// Pause of a grant after a failed refresh, doubled per consecutive failure: a grant whose
    /// refreshes keep failing does not call the IdP on every request.
    pub upstream_refresh_backoff: HumanDuration,
    /// Longest such pause.
    pub upstream_refresh_max_backoff: HumanDuration,
    /// Pause after a refresh that may have reached the IdP without an answer (timeout, lost
    /// connection, 5xx other than 503) before the same refresh token is sent again; set it at
    /// least to how long the IdP may hold a request.
    pub upstream_refresh_after_ambiguous: HumanDuration,
    /// At most one refresh per grant per this interval is triggered by reports that its upstream
    /// token was rejected (an MCP server's 401, RFC 8693 `rejected_token`).
    pub upstream_min_refresh_interval: HumanDuration,
    /// Leeway for `iat`/`nbf`/`exp` checks against other clocks.
    pub clock_skew: HumanDuration,
    /// How long revoked or expired rows are kept before the sweeper deletes them.
    pub retention: HumanDuration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            cache_ttl: HumanDuration::secs(300),
            cache_capacity: 100_000,
            stale_if_error: HumanDuration::secs(300),
            cleanup_interval: HumanDuration::secs(300),
            authorization_code_ttl: HumanDuration::secs(5 * 60),
            pending_authorization_ttl: HumanDuration::secs(10 * 60),
            access_token_ttl: HumanDuration::secs(30 * 86_400),
            refresh_token_ttl: HumanDuration::secs(90 * 86_400),
            refresh_family_max_lifetime: HumanDuration::secs(365 * 86_400),
            refresh_grace_period: HumanDuration::secs(5),
            upstream_refresh_skew: HumanDuration::secs(60),
            upstream_refresh_timeout: HumanDuration::secs(30),
            upstream_refresh_wait: HumanDuration::secs(10),
            upstream_refresh_lease: HumanDuration::secs(5),
            upstream_refresh_backoff: HumanDuration::secs(2),
            upstream_refresh_max_backoff: HumanDuration::secs(60),
            upstream_refresh_after_ambiguous: HumanDuration::secs(60),
            upstream_min_refresh_interval: HumanDuration::secs(30),
            clock_skew: HumanDuration::secs(60),
            retention: HumanDuration::secs(7 * 86_400),
        }
    }
}

/// Dynamic client registration (RFC 7591) and client ID metadata documents.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Whether `/t/{t}/register` accepts registrations.
    pub enabled: bool,
    /// Most dynamically registered clients per tenant.
    pub max_clients_per_tenant: u32,
    /// Registrations per client IP per minute (per replica).
    pub rate_limit_per_minute: u32,
    /// Most redirect URIs one client may register.
    pub max_redirect_uris: usize,
    /// Dynamically registered clients never used within this period are deleted.
    pub unused_client_ttl: HumanDuration,
    /// Accept `https` client ID metadata documents (`client_id` is a URL).
    pub metadata_documents: bool,
    /// Allow metadata documents on loopback and private addresses, and over `http`. Tests only.
    pub allow_private_metadata_hosts: bool,
    /// Timeout for fetching a metadata document.
    pub metadata_fetch_timeout: HumanDuration,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_clients_per_tenant: 10_000,
            rate_limit_per_minute: 20,
            max_redirect_uris: 10,
            unused_client_ttl: HumanDuration::secs(30 * 86_400),
            metadata_documents: true,
            allow_private_metadata_hosts: false,
            metadata_fetch_timeout: HumanDuration::secs(5),
        }
    }
}

/// The reverse proxy in front of MCP servers.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Timeout to connect to an MCP server.
    pub connect_timeout: HumanDuration,
    /// Timeout until an MCP server sends the response head (streams then stay open).
    pub first_byte_timeout: HumanDuration,
    /// Largest request body forwarded to an MCP server, in bytes.
    pub max_body_bytes: usize,
    /// Bodies up to this size are buffered so a request can be replayed after a refresh.
    pub replay_buffer_bytes: usize,
    /// Browser origins allowed to call MCP servers through the gateway (`*` for any).
    pub cors_allowed_origins: Vec<String>,
    /// How often at most a grant's "last used" time (shown on the account page) is written:
    /// once per grant per interval, not once per request.
    pub last_used_interval: HumanDuration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            connect_timeout: HumanDuration::secs(5),
            first_byte_timeout: HumanDuration::secs(60),
            max_body_bytes: 4 * 1024 * 1024,
            replay_buffer_bytes: 256 * 1024,
            cors_allowed_origins: Vec::new(),
            last_used_interval: HumanDuration::secs(60),
        }
    }
}

/// The admin REST API.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Bearer tokens allowed to call `/admin/v1`, stored as SHA-256 hashes.
    pub tokens: Vec<AdminTokenConfig>,
    /// Hosts (exact names) or IP ranges (CIDR) that MCP server and upstream provider URLs set
    /// through the admin API may point at although they are not public addresses (loopback,
    /// RFC 1918, unique-local…). Link-local addresses stay refused whatever this says. Tenants of
    /// the configuration file are not restricted.
    pub allowed_upstream_hosts: Vec<String>,
}

/// Telemetry beyond logs and `/metrics`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub traces: TracesConfig,
}

/// OpenTelemetry traces exported over OTLP/HTTP (protobuf). Off by default. Export runs on a
/// background batch: a slow or absent collector costs dropped spans, never slower requests.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    /// Whether spans are exported at all.
    pub enabled: bool,
    /// The collector's full OTLP/HTTP traces URL, e.g. `http://otel-collector:4318/v1/traces`.
    pub endpoint: String,
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// Share of new traces recorded, from 0.0 to 1.0. A `traceparent` accepted from a trusted
    /// proxy keeps its own sampling decision.
    pub sample_ratio: f64,
    /// Longest one export request to the collector may take.
    pub export_timeout: HumanDuration,
    /// How often queued spans are sent.
    pub scheduled_delay: HumanDuration,
    /// Most finished spans waiting for export; further spans are dropped (and counted by the
    /// SDK) rather than held in memory.
    pub max_queue_size: usize,
    /// Most spans in one export request.
    pub max_export_batch_size: usize,
}

impl Default for TracesConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint: "http://127.0.0.1:4318/v1/traces".into(),
            service_name: "mcp-auth-bridge".into(),
            sample_ratio: 1.0,
            export_timeout: HumanDuration::secs(10),
            scheduled_delay: HumanDuration::secs(5),
            max_queue_size: 2048,
            max_export_batch_size: 512,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenConfig {
    /// Who this token is, as written to the audit log.
    pub name: String,
    /// Lowercase hex SHA-256 of the token (`printf %s "$TOKEN" | sha256sum`).
    pub sha256: String,
    /// Restricts the token to one tenant; absent means every tenant.
    #[serde(default)]
    pub tenant: Option<TenantSlug>,
}
