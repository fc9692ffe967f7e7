//! What every handler can reach: configuration, the pool, the keyring.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::{config::Config, crypto::Sealer};

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub sealer: Arc<Sealer>,
    pub metrics: PrometheusHandle,
}
