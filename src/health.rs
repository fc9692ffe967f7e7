//! `/healthz` (the process is alive) and `/readyz` (it can serve: database reachable and
//! migrations current).

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use crate::{
    services::Services,
    store::health::{self, NotReady},
};

pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<Services>) -> impl IntoResponse {
    match health::check(&state.pool).await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(problem) => {
            let reason = match problem {
                NotReady::Unreachable => "database unreachable".to_string(),
                NotReady::MigrationsPending { applied, known } => {
                    format!(
                        "{applied} of {known} migrations applied; run `mcp-auth-bridge migrate`"
                    )
                }
                NotReady::MigrationFailed(version) => format!("migration {version} failed"),
            };
            tracing::warn!(%reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "unavailable", "problems": [{"component": "database", "reason": reason}]}),
                ),
            )
        }
    }
}

pub async fn metrics(State(state): State<Services>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
