//! Keyset pagination cursors: opaque base64url text holding the sort key of the last row of a
//! page. The next page starts strictly after that key, so rows inserted between two requests
//! never shift a page (no duplicates, no skips), unlike `OFFSET`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

use super::problem::{AdminError, FieldError};

/// The sort key of lists ordered by `(created_at, id)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedKey {
    #[serde(rename = "t")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "i")]
    pub id: Uuid,
}

pub fn encode<K: Serialize>(key: &K) -> String {
    // Serializing these plain structs cannot fail; an empty cursor would only end paging early.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes `cursor`; anything this server did not produce is a 400 naming the parameter.
pub fn decode<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, AdminError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .map(Some)
        .ok_or_else(|| {
            AdminError::bad_request(
                "the cursor is not one this server issued",
                vec![FieldError::new("cursor", "not a valid cursor")],
            )
        })
}

/// The page size asked for, within 1..=200 (default 50).
pub fn limit(requested: Option<i64>) -> Result<i64, AdminError> {
    match requested {
        None => Ok(50),
        Some(n @ 1..=200) => Ok(n),
        Some(_) => Err(AdminError::bad_request(
            "limit is out of range",
            vec![FieldError::new("limit", "must be between 1 and 200")],
        )),
    }
}

/// Splits one extra fetched row off: its presence means there is a next page, whose cursor is
/// the key of the last row kept.
pub fn page<T, K: Serialize>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|last| encode(&key(last)));
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_rejected() {
        let key = CreatedKey {
            created_at: Utc::now(),
            id: Uuid::new_v4(),
        };
        let text = encode(&key);
        assert_eq!(decode::<CreatedKey>(Some(&text)).unwrap(), Some(key));
        assert!(decode::<CreatedKey>(Some("!!!")).is_err());
        assert!(decode::<CreatedKey>(Some("e30")).is_err());
    }

    #[test]
    fn a_full_page_plus_one_has_a_next_cursor() {
        let (rows, next) = page(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(next.as_deref(), Some(encode(&2).as_str()));
        assert_eq!(page(vec![1, 2], 2, |n| *n).1, None);
    }
}
