//! What an insert-or-update did. Start-up logs it and tests assert idempotency with
//! [`Upserted`]; the admin API turns a taken name into a 409 with [`Write::Conflict`].

use sqlx::{Row, postgres::PgRow};
use uuid::Uuid;

use super::StoreError;

/// What an upsert of a configuration-owned row did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    Inserted(Uuid),
    Updated(Uuid),
    Unchanged(Uuid),
}

impl Upserted {
    pub fn id(self) -> Uuid {
        match self {
            Self::Inserted(id) | Self::Updated(id) | Self::Unchanged(id) => id,
        }
    }

    /// Reads `id` and `(xmax = 0) AS inserted` from a `RETURNING` row; `None` when the
    /// statement wrote nothing (the row was already as declared).
    pub(super) fn from_returning(row: Option<&PgRow>) -> Result<Option<Self>, StoreError> {
        let Some(row) = row else { return Ok(None) };
        let id: Uuid = row.try_get("id")?;
        Ok(Some(if row.try_get::<bool, _>("inserted")? {
            Self::Inserted(id)
        } else {
            Self::Updated(id)
        }))
    }
}

/// The outcome of an insert or update that can hit a unique constraint.
pub enum Write<T> {
    Done(T),
    Conflict,
}

/// A unique violation (SQLSTATE 23505) as [`Write::Conflict`], anything else as an error.
pub(super) fn conflict_or<T>(e: sqlx::Error) -> Result<Write<T>, StoreError> {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => Ok(Write::Conflict),
        _ => Err(e.into()),
    }
}
