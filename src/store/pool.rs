//! Connecting to Postgres, creating the database, applying migrations — every step bounded in
//! time, so a database that accepts connections but never answers fails start-up with a clear
//! message instead of hanging it.

use std::{future::Future, str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    ConnectOptions, Connection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::DatabaseConfig;

/// The migrations compiled into the binary, so `serve` and `migrate` need no files at run time.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database.url is not a valid Postgres URL: {0}")]
    BadUrl(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// One error shared by every waiter of a single-flight load (moka's `try_get_with`).
    #[error(transparent)]
    Shared(#[from] Arc<StoreError>),
    /// A start-up step got no answer in time (a black-holed database).
    #[error("the database did not answer within {0:?} ({1})")]
    TimedOut(Duration, &'static str),
}

impl StoreError {
    /// Whether the database could not be reached or did not answer — a transient outage that
    /// clients should retry (503 with `Retry-After`), not a bug (500). The one place that
    /// classifies database errors; see [`super::unavailable`].
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Sqlx(e) => super::unavailable::is_unavailable(e),
            Self::Migrate(sqlx::migrate::MigrateError::Execute(e)) => {
                super::unavailable::is_unavailable(e)
            }
            Self::Shared(e) => e.is_unavailable(),
            Self::TimedOut(..) => true,
            Self::BadUrl(_) | Self::Migrate(_) | Self::Corrupt(_) => false,
        }
    }
}

fn options(config: &DatabaseConfig) -> Result<PgConnectOptions, StoreError> {
    let statement_timeout_ms = config.statement_timeout.get().as_millis().to_string();
    PgConnectOptions::from_str(config.url.expose())
        // The URL may hold a password; sqlx's error text can echo the URL, so it is not shown.
        .map_err(|_| StoreError::BadUrl("cannot parse".into()))
        .map(|o| {
            o.options([("statement_timeout", statement_timeout_ms.as_str())])
                .log_statements(tracing::log::LevelFilter::Trace)
                .application_name("mcp-auth-bridge")
        })
}

/// Runs one start-up step, giving up after `limit`: sqlx bounds pool acquisition, but not a
/// single connection's handshake or a query on a connection that stopped answering.
async fn bounded<T, E: Into<StoreError>>(
    limit: Duration,
    step: &'static str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, work).await {
        Ok(done) => done.map_err(Into::into),
        Err(_) => Err(StoreError::TimedOut(limit, step)),
    }
}

/// Opens the pool; with `create_if_missing` it first creates the database when the role may.
/// Each step is bounded by `database.acquire_timeout`.
pub async fn connect(config: &DatabaseConfig) -> Result<PgPool, StoreError> {
    let options = options(config)?;
    let limit = config.acquire_timeout.get();
    if config.create_if_missing {
        create_database_if_missing(&options, limit).await?;
    }
    bounded(
        limit,
        "opening the pool",
        pool_options(config).connect_with(options),
    )
    .await
}

/// A pool that connects on first use: the service starts (and `/readyz` reports the problem)
/// even while Postgres is down.
pub fn connect_lazy(config: &DatabaseConfig) -> Result<PgPool, StoreError> {
    Ok(pool_options(config).connect_lazy_with(options(config)?))
}

/// Every acquisition, including the liveness ping of an idle connection and the handshake of a
/// new one, is bounded by `acquire_timeout`: a black-holed database makes requests fail (503)
/// after that long instead of hanging.
fn pool_options(config: &DatabaseConfig) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout.get())
        .test_before_acquire(true)
}

async fn create_database_if_missing(
    options: &PgConnectOptions,
    limit: Duration,
) -> Result<(), StoreError> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let maintenance = options.clone().database("postgres");
    let mut conn = bounded(
        limit,
        "connecting to create the database",
        sqlx::postgres::PgConnection::connect_with(&maintenance),
    )
    .await?;
    let exists: bool = bounded(
        limit,
        "looking for the database",
        sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
            name,
        )
        .fetch_one(&mut conn),
    )
    .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        // CREATE DATABASE takes no bind parameters; the name is quoted as an identifier.
        let created = bounded(
            limit,
            "creating the database",
            sqlx::query(&format!("CREATE DATABASE \"{quoted}\"")).execute(&mut conn),
        )
        .await;
        match created {
            Ok(_) => tracing::info!(database = %name, "created database"),
            Err(StoreError::Sqlx(sqlx::Error::Database(e))) if created_concurrently(&*e) => {
                tracing::info!(database = %name, "another process created the database first");
            }
            Err(e) => return Err(e),
        }
    }
    bounded(limit, "closing the maintenance connection", conn.close()).await?;
    Ok(())
}

/// Another replica (or `migrate`) created the database between our check and our `CREATE`:
/// 42P04 `duplicate_database` when its creation had committed, 23505 `unique_violation` on
/// `pg_database`'s name index when both were in flight at once.
fn created_concurrently(e: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(e.code().as_deref(), Some("42P04" | "23505"))
}

/// Applies pending migrations; a second run is a no-op. Concurrent processes are serialised by
/// sqlx's migrator, which takes a session-level advisory lock (`pg_advisory_lock`, keyed by
/// the database name) before it even creates `_sqlx_migrations`, and releases it with the
/// session if the process dies.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// [`migrate`], bounded by `acquire_timeout` plus `statement_timeout`: a live database answers
/// (or cancels the statement, including a wait for another process's migration lock) within
/// the latter; one that stopped answering is given up on.
pub async fn migrate_within(pool: &PgPool, config: &DatabaseConfig) -> Result<(), StoreError> {
    let limit = config.acquire_timeout.get() + config.statement_timeout.get();
    bounded(limit, "applying migrations", migrate(pool)).await
}

/// `connect` and `migrate`, retried with a doubling backoff (0.5 s up to 5 s) while the
/// database is unavailable, until `database.startup_timeout` is spent: containers start before
/// their database. Each failed attempt is logged with what went wrong and when the next one
/// starts. Errors an operator must fix (a bad URL or password, a failed migration) are not
/// retried.
pub async fn connect_and_migrate_with_retry(config: &DatabaseConfig) -> Result<PgPool, StoreError> {
    let started = tokio::time::Instant::now();
    let deadline = started + config.startup_timeout.get();
    let mut backoff = Duration::from_millis(500);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let error = match connect_and_migrate(config).await {
            Ok(pool) => return Ok(pool),
            Err(e) if !e.is_unavailable() => return Err(e),
            Err(e) => e,
        };
        let now = tokio::time::Instant::now();
        if now + backoff >= deadline {
            tracing::error!(
                attempt,
                error = %error,
                waited = ?now - started,
                "the database is still unavailable after database.startup_timeout; giving up"
            );
            return Err(error);
        }
        tracing::warn!(
            attempt,
            error = %error,
            retry_in = ?backoff,
            "the database is not available yet; retrying"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn connect_and_migrate(config: &DatabaseConfig) -> Result<PgPool, StoreError> {
    let pool = connect(config).await?;
    migrate_within(&pool, config).await?;
    Ok(pool)
}
