//! Header values that repeat across users (tenant slug, client id, scopes), built once and
//! shared: an `X-Auth-Tenant: acme` built per request or kept per access token would otherwise
//! be one allocation for the same few bytes (issue 13, item 4: memory per cached user). The
//! claims that repeat across tokens are interned the same way by `token_claims.rs`.
//!
//! A `HeaderValue` is a reference-counted `Bytes`, so a clone of an interned value shares its
//! buffer. The table is bounded: past [`CAPACITY`] distinct values a value is built fresh and
//! not kept, so a client sending ever new scope strings costs what it cost before, never an
//! unbounded table.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use http::HeaderValue;

/// Distinct values kept at most (tenants × clients × scope sets in use is far below).
const CAPACITY: usize = 4096;

static VALUES: LazyLock<Mutex<HashMap<Box<str>, HeaderValue>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The shared header value for `raw` (not encoded yet), built by `encode` on first use.
pub(super) fn value(
    raw: &str,
    encode: impl FnOnce(&str) -> Option<HeaderValue>,
) -> Option<HeaderValue> {
    // A poisoned lock only means another thread panicked while inserting: the map is intact.
    let mut values = VALUES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(value) = values.get(raw) {
        return Some(value.clone());
    }
    let value = encode(raw)?;
    if values.len() < CAPACITY {
        values.insert(raw.into(), value.clone());
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_value_shares_one_buffer() {
        let build = |raw: &str| HeaderValue::from_str(raw).ok();
        let a = value("interned-test-tenant", build).unwrap();
        let b = value("interned-test-tenant", build).unwrap();
        assert_eq!(a, "interned-test-tenant");
        assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
    }
}
