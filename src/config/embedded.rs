//! The `database.url` value that asks for a private PostgreSQL cluster (`embedded`, dev_mode
//! only). The configuration owns the spelling, which validation checks;
//! `crate::embedded_postgres` starts the cluster it names.

/// The `database.url` value that asks for the private cluster.
pub const EMBEDDED: &str = "embedded";

/// Whether `database.url` asks for the private cluster.
pub fn is_embedded(url: &str) -> bool {
    url == EMBEDDED
}
