//! What an insert-or-update did. Start-up logs it and tests assert idempotency with
//! [`Upserted`]; the admin API turns a taken name into a 409 with [`Write::Conflict`].

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

    /// What a statement that wrote did, from `RETURNING id, (xmax = 0) AS inserted` (a
    /// statement that wrote nothing returns no row: the caller reads the id as unchanged).
    pub(super) fn from_returning(id: Uuid, inserted: bool) -> Self {
        if inserted {
            Self::Inserted(id)
        } else {
            Self::Updated(id)
        }
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
