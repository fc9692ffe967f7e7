//! The one place that decides whether a database error means "the database is unavailable"
//! (retry later: 503 with `Retry-After` on every surface) rather than a bug (500).

/// How long clients are asked to wait (`Retry-After`, seconds) when the database is unavailable:
/// a restarted Postgres is usually back within seconds, and the pool reconnects by itself.
pub const RETRY_AFTER_SECS: u64 = 2;

/// What clients are told; it names the database, never the identity provider.
pub const MESSAGE: &str = "the bridge's database is unavailable; retry later";

/// Logs (WARN, with the cause) and counts (`database_unavailable_total` by surface) a request
/// answered 503 because the database is unavailable.
pub fn record(surface: &'static str, context: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(%error, context, surface, "database unavailable; answering 503");
    metrics::counter!("database_unavailable_total", "surface" => surface).increment(1);
}

/// Whether `e` means the database could not be reached or did not answer in time: the pool's
/// acquire timeout (which also covers a black-holed server), a refused, reset or broken
/// connection, TLS failure, or a server that is shutting down, starting up or out of
/// connections (SQLSTATE classes 08 and 53, 57P01-57P03) or cancelled the statement at
/// `statement_timeout` (57014).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "57014")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_timeout_and_a_broken_connection_are_unavailability() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
    }

    #[test]
    fn a_missing_row_or_a_decoding_error_is_not() {
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound("x".into())));
    }
}
