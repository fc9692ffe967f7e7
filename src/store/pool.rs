//! Connecting to Postgres, creating the database, applying migrations.

use std::str::FromStr;

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

/// Opens the pool; with `create_if_missing` it first creates the database when the role may.
pub async fn connect(config: &DatabaseConfig) -> Result<PgPool, StoreError> {
    let options = options(config)?;
    if config.create_if_missing {
        create_database_if_missing(&options).await?;
    }
    Ok(pool_options(config).connect_with(options).await?)
}

/// A pool that connects on first use: the service starts (and `/readyz` reports the problem)
/// even while Postgres is down.
pub fn connect_lazy(config: &DatabaseConfig) -> Result<PgPool, StoreError> {
    Ok(pool_options(config).connect_lazy_with(options(config)?))
}

fn pool_options(config: &DatabaseConfig) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout.get())
        .test_before_acquire(true)
}

async fn create_database_if_missing(options: &PgConnectOptions) -> Result<(), StoreError> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let maintenance = options.clone().database("postgres");
    let mut conn = sqlx::postgres::PgConnection::connect_with(&maintenance).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        // CREATE DATABASE takes no bind parameters; the name is quoted as an identifier.
        match sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another replica created it in the meantime.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    conn.close().await?;
    Ok(())
}

/// Applies pending migrations; a second run is a no-op. Concurrent replicas are serialised by
/// sqlx's advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}
