//! The whole application's state, composed at the top from the surfaces' own: the shared
//! services, the gateway's, the authorization server's and the remote-OAuth part. Each handler
//! takes only its surface's state (`State<GatewayState>`, `State<OAuthState>`,
//! `State<Services>`); axum reaches it from this one through the `FromRef` impls below. This
//! module is the only one that knows every surface, and none of them imports it.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::{
    config::Config,
    crypto::Sealer,
    gateway::{Gateway, GatewayState},
    oauth::OAuthState,
    remote::RemoteState,
    services::Services,
};

/// What the router is built with. One `Arc`, so a clone is one atomic increment; each
/// surface's state is built once here and handed out by `FromRef` as a clone of its own `Arc`
/// (on the gateway's hot path the per-field clones were measurable, `bench/README.md`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state itself, reached through [`AppState`]; the shared services through it too
/// (`state.pool`, `state.refresher`).
pub struct Shared {
    pub services: Services,
    /// The gateway's proxy and caches (targets, verified tokens, user contexts).
    pub gateway: Gateway,
    pub gateway_state: GatewayState,
    pub oauth_state: OAuthState,
    pub remote_state: RemoteState,
}

impl std::ops::Deref for Shared {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl AppState {
    pub fn new(config: Config, pool: PgPool, sealer: Sealer) -> Self {
        let gateway = Gateway::new(&config);
        let services = Services::new(config, pool, sealer, Arc::new(gateway.clone()));
        let remote_state = RemoteState::new(services.clone());
        Self(Arc::new(Shared {
            gateway_state: GatewayState::new(
                services.clone(),
                gateway.clone(),
                remote_state.clone(),
            ),
            oauth_state: OAuthState::new(services.clone()),
            remote_state,
            gateway,
            services,
        }))
    }
}

impl FromRef<AppState> for Services {
    fn from_ref(state: &AppState) -> Self {
        state.services.clone()
    }
}

impl FromRef<AppState> for GatewayState {
    fn from_ref(state: &AppState) -> Self {
        state.gateway_state.clone()
    }
}

impl FromRef<AppState> for OAuthState {
    fn from_ref(state: &AppState) -> Self {
        state.oauth_state.clone()
    }
}

impl FromRef<AppState> for RemoteState {
    fn from_ref(state: &AppState) -> Self {
        state.remote_state.clone()
    }
}
