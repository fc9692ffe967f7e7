//! Tenant slugs: the `{t}` of every tenant URL.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A tenant identifier that is safe to put in a URL path and a log line.
///
/// Parsed once at the edge (configuration, admin API, URL path); code behind the edge never
/// re-validates it. Rules: 1–63 characters of `[a-z0-9-]`, not starting or ending with `-`
/// (so that it also works as a DNS label if an operator maps tenants to hosts).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TenantSlugError {
    #[error("must be 1 to 63 characters long")]
    Length,
    #[error("may contain only lowercase letters a-z, digits and '-'")]
    Charset,
    #[error("must not start or end with '-'")]
    Hyphen,
}

impl TenantSlug {
    pub fn parse(value: &str) -> Result<Self, TenantSlugError> {
        if value.is_empty() || value.len() > 63 {
            return Err(TenantSlugError::Length);
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(TenantSlugError::Charset);
        }
        if value.starts_with('-') || value.ends_with('-') {
            return Err(TenantSlugError::Hyphen);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantSlug {
    type Error = TenantSlugError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantSlug> for String {
    fn from(value: TenantSlug) -> Self {
        value.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simple_slug_is_accepted() {
        assert_eq!(TenantSlug::parse("acme-01").unwrap().as_str(), "acme-01");
    }

    #[test]
    fn an_empty_or_overlong_slug_is_rejected() {
        assert_eq!(TenantSlug::parse(""), Err(TenantSlugError::Length));
        assert_eq!(
            TenantSlug::parse(&"a".repeat(64)),
            Err(TenantSlugError::Length)
        );
        assert!(TenantSlug::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn uppercase_unicode_slashes_and_dots_are_rejected() {
        for bad in ["Acme", "acmé", "a/b", "a.b", "a_b", "a b", "%2e"] {
            assert_eq!(
                TenantSlug::parse(bad),
                Err(TenantSlugError::Charset),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_slug_with_a_leading_or_trailing_hyphen_is_rejected() {
        assert_eq!(TenantSlug::parse("-a"), Err(TenantSlugError::Hyphen));
        assert_eq!(TenantSlug::parse("a-"), Err(TenantSlugError::Hyphen));
    }
}
