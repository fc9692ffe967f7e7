//! The sweeper: when it last ran and what it deleted, and a run on demand (global tokens only,
//! since a sweep spans every tenant). A run on demand takes the same advisory lock as the
//! background loop, so it reports `skipped` while another replica is sweeping.

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    auth::Admin,
    problem::{AdminError, ReadErrors, WriteErrors},
    write::{Action, Entry},
};
use crate::{services::Services, store, sweeper::Sweeper};

#[derive(Debug, Serialize, ToSchema)]
pub struct SweeperRun {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Rows deleted per kind.
    #[schema(value_type = Object)]
    pub deleted: serde_json::Value,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SweeperStatus {
    /// The most recent run on any replica; absent before the first.
    pub last_run: Option<SweeperRun>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SweepResult {
    /// Another replica held the sweeper lock; nothing was done.
    pub skipped: bool,
    pub interrupted: bool,
    /// Rows deleted per kind.
    pub deleted: BTreeMap<String, u64>,
    pub duration_seconds: f64,
}

#[utoipa::path(get, path = "/admin/v1/sweeper", operation_id = "sweeper_status", tag = "sweeper",
    responses((status = 200, description = "The last run", body = SweeperStatus), ReadErrors))]
pub async fn status(
    State(state): State<Services>,
    admin: Admin,
) -> Result<Json<SweeperStatus>, AdminError> {
    admin.require_global()?;
    let last = store::sweeper_runs::last_run(&state.pool).await?;
    Ok(Json(SweeperStatus {
        last_run: last.map(|r| SweeperRun {
            id: r.id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            deleted: r.deleted,
            error: r.error,
        }),
    }))
}

#[utoipa::path(post, path = "/admin/v1/sweeper/run", operation_id = "run_sweeper", tag = "sweeper",
    responses((status = 200, description = "What the sweep did", body = SweepResult), WriteErrors))]
pub async fn run(
    State(state): State<Services>,
    admin: Admin,
) -> Result<Json<SweepResult>, AdminError> {
    admin.require_global()?;
    let report = Sweeper::new(state.pool.clone(), &state.config)
        .run_once(Utc::now())
        .await
        .map_err(|e| match e {
            crate::sweeper::SweepError::Connect(e) => AdminError::database("sweeper", e),
            crate::sweeper::SweepError::Store(e) => AdminError::database("sweeper", e),
        })?;
    let result = SweepResult {
        skipped: report.skipped,
        interrupted: report.interrupted,
        deleted: report
            .deleted
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        duration_seconds: report.duration.as_secs_f64(),
    };
    let entry = Entry::new(Action::SweeperRun, "run").after(&result);
    admin.record(&state, None, entry, []).await?;
    Ok(Json(result))
}
