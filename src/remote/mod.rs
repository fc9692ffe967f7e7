//! Remote MCP servers that have their own OAuth (issue 18): the bridge is an OAuth client of
//! each such server and keeps one token set per (tenant, user subject, server), so a user who
//! logged in once with the tenant's IdP connects each remote server once, for every MCP client.
//!
//! * [`discovery`]: the server's protected-resource metadata (RFC 9728) and its authorization
//!   server's metadata (RFC 8414).
//! * [`registration`]: the bridge's client at that server: pre-configured, a client ID metadata
//!   document, or dynamic registration (RFC 7591), kept and reused.
//! * [`connect`]: the browser flow — a one-time link bound to the user's grant, then
//!   authorization code + PKCE + `state` + `resource` (RFC 8707), tokens sealed in Postgres.
//! * [`elicit`]: how the user is asked — the MCP URL-elicitation error (`-32042`) or, for
//!   clients that did not declare URL elicitation, a JSON-RPC error whose message has the URL.
//! * [`tokens`]: the user's remote access token, refreshed single-flight before expiry and once
//!   after a `401` (in-process flights, a row lock across replicas).
//! * the gateway's hook for remote-OAuth servers is the gateway's (`gateway::remote_oauth`),
//!   over [`tokens`] and [`elicit`].
//! * [`revoke`]: disconnecting (RFC 7009 at the remote when advertised, then delete).

pub mod connect;
pub mod connect_callback;
pub mod discovery;
pub mod elicit;
pub mod registration;
pub mod revoke;
pub mod routes;
pub mod tokens;

use std::{sync::Arc, time::Duration};

use moka::future::Cache;
use uuid::Uuid;

use crate::{services::Services, store::StoreError, upstream::UpstreamError};

/// Why the bridge has no usable remote token, or could not connect.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RemoteError {
    /// No connection, or the remote refused its refresh token: ask the user (elicitation).
    #[error("the user has not connected this server")]
    NotConnected,
    /// Transient trouble at the remote: 503 with `Retry-After`.
    #[error("the remote server is unavailable")]
    Unavailable { retry_after: u64 },
    /// The bridge's database did not answer: 503.
    #[error("the bridge's database is unavailable")]
    DatabaseUnavailable,
    #[error("discovery failed: {0}")]
    Discovery(String),
    #[error("registration failed: {0}")]
    Registration(String),
    /// The remote authorization server refused the bridge (its client) or the request.
    #[error("the remote authorization server refused: {0}")]
    Refused(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl RemoteError {
    pub fn from_store(e: &StoreError) -> Self {
        if e.is_unavailable() {
            Self::DatabaseUnavailable
        } else {
            Self::Internal(e.to_string())
        }
    }

    fn from_discovery(last: Option<UpstreamError>) -> Self {
        match last {
            Some(UpstreamError::Unavailable { retry_after, .. }) => Self::Unavailable {
                retry_after: retry_after.unwrap_or(5),
            },
            Some(e) => Self::Discovery(e.to_string()),
            None => Self::Discovery("no metadata found".into()),
        }
    }

    fn from_upstream(e: &UpstreamError) -> Self {
        match e {
            UpstreamError::Unavailable { retry_after, .. } => Self::Unavailable {
                retry_after: retry_after.unwrap_or(5),
            },
            UpstreamError::Rejected(_) => Self::NotConnected,
            other => Self::Refused(other.to_string()),
        }
    }

    /// The `outcome` label of the remote metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NotConnected => "needs_connect",
            Self::Unavailable { .. } => "unavailable",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::Discovery(_) => "discovery_failed",
            Self::Registration(_) => "registration_failed",
            Self::Refused(_) => "refused",
            Self::Internal(_) => "error",
        }
    }
}

/// What the remote-OAuth module keeps in memory, per replica (refresh flights and which MCP
/// tokens' clients declared URL elicitation), over the shared services. One `Arc`, so a clone
/// is one atomic increment; the gateway holds one for its hook ([`crate::gateway`]).
#[derive(Clone)]
pub struct RemoteState(Arc<Remote>);

impl RemoteState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(Remote {
            services,
            flights: Default::default(),
            url_elicitation: Cache::builder()
                .time_to_live(Duration::from_secs(24 * 3600))
                .max_capacity(100_000)
                .build(),
        }))
    }
}

impl std::ops::Deref for RemoteState {
    type Target = Remote;

    fn deref(&self) -> &Remote {
        &self.0
    }
}

/// The remote-OAuth state itself; the shared services are reached through it (`state.pool`).
pub struct Remote {
    pub services: Services,
    flights: crate::upstream::refresh::flight::Flights<tokens::FlightKey, tokens::Flown>,
    /// Access-token id → whether its client declared `elicitation.url` in `initialize`.
    pub(crate) url_elicitation: Cache<Uuid, bool>,
}

impl std::ops::Deref for Remote {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl Remote {
    /// Remote refreshes in the air in this process.
    pub fn in_flight(&self) -> usize {
        self.flights.in_flight()
    }
}

/// Counts one remote event per server (`remote_oauth_total{server, event, outcome}`).
pub(crate) fn record(server: &str, event: &'static str, outcome: &'static str) {
    metrics::counter!("remote_oauth_total", "server" => server.to_owned(), "event" => event,
        "outcome" => outcome)
    .increment(1);
}
