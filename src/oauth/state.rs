//! What the authorization server's handlers get: the shared services and the per-IP limit on
//! dynamic registration.

use std::sync::Arc;

use super::rate_limit::RateLimiter;
use crate::services::Services;

/// The authorization server's state. One `Arc`, as [`Services`]: a clone is one atomic
/// increment.
#[derive(Clone)]
pub struct OAuthState(Arc<OAuthShared>);

impl OAuthState {
    pub fn new(services: Services) -> Self {
        let limiter = RateLimiter::new(services.config.registration.rate_limit_per_minute);
        Self(Arc::new(OAuthShared {
            services,
            registration_limiter: Arc::new(limiter),
        }))
    }
}

impl std::ops::Deref for OAuthState {
    type Target = OAuthShared;

    fn deref(&self) -> &OAuthShared {
        &self.0
    }
}

/// The state itself; the shared services are reached through it (`state.pool`).
pub struct OAuthShared {
    pub services: Services,
    /// Per-IP limit on dynamic registration (in memory, per replica).
    pub registration_limiter: Arc<RateLimiter>,
}

impl std::ops::Deref for OAuthShared {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
