//! What the gateway's handlers and its bearer layer get: the shared services, the gateway's own
//! proxy and caches, and the remote-OAuth part (for MCP servers with their own OAuth).

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::Gateway;
use crate::{
    coherence::{CacheEvent, Heartbeat, ReplicaCaches},
    remote::RemoteState,
    services::Services,
};

/// The gateway's state. One `Arc`, as [`Services`]: the bearer layer and the handler each
/// clone it on every request, so a clone is one atomic increment.
#[derive(Clone)]
pub struct GatewayState(Arc<GatewayShared>);

impl GatewayState {
    pub fn new(services: Services, gateway: Gateway, remote: RemoteState) -> Self {
        Self(Arc::new(GatewayShared {
            services,
            gateway,
            remote,
        }))
    }
}

impl std::ops::Deref for GatewayState {
    type Target = GatewayShared;

    fn deref(&self) -> &GatewayShared {
        &self.0
    }
}

/// The gateway's state itself; the shared services are reached through it (`state.pool`).
pub struct GatewayShared {
    pub services: Services,
    /// The gateway's proxy and caches (targets, verified tokens, user contexts).
    pub gateway: Gateway,
    /// Remote MCP servers with their own OAuth: refresh flights, clients' declared capabilities.
    pub remote: RemoteState,
}

impl std::ops::Deref for GatewayShared {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

/// Cache events reach the gateway's caches through `coherence`, which knows only this trait.
impl ReplicaCaches for Gateway {
    fn apply<'a>(&'a self, event: &'a CacheEvent) -> BoxFuture<'a, ()> {
        Box::pin(Gateway::apply(self, event))
    }

    fn listener_subscribed(&self) {
        Gateway::listener_subscribed(self);
    }

    fn listener_heartbeat(&self, heartbeat: Heartbeat) {
        Gateway::listener_heartbeat(self, heartbeat);
    }

    fn listener_lost(&self) {
        Gateway::listener_lost(self);
    }

    fn user_contexts(&self) -> u64 {
        self.users.entry_count()
    }
}
