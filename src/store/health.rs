//! What `/readyz` asks the database.

use sqlx::PgPool;

use super::pool::MIGRATOR;

/// Why the database is not ready, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    Unreachable,
    MigrationsPending { applied: usize, known: usize },
    MigrationFailed(i64),
}

/// Checks that the database answers and every compiled-in migration is applied successfully.
/// `_sqlx_migrations` is sqlx's own table, absent until the first migration: a runtime query,
/// since `query!` would need it in the schema it checks against, and its absence is an answer.
#[tracing::instrument(name = "db.health.check", skip_all)]
pub async fn check(pool: &PgPool) -> Result<(), NotReady> {
    let rows: Vec<(i64, bool)> =
        match sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await
        {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
            Err(_) => return Err(NotReady::Unreachable),
        };
    if let Some((version, _)) = rows.iter().find(|(_, ok)| !ok) {
        return Err(NotReady::MigrationFailed(*version));
    }
    let known = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .count();
    let applied = rows
        .iter()
        .filter(|(v, _)| MIGRATOR.iter().any(|m| m.version == *v))
        .count();
    if applied < known {
        return Err(NotReady::MigrationsPending { applied, known });
    }
    Ok(())
}
