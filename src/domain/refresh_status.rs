//! Where a rotating refresh token stands (`refresh_tokens.status`).

/// Parsed once in the store mapper, so the refresh grant matches on a type instead of
/// comparing strings (a typo there would silently skip reuse detection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshStatus {
    /// The family's current token: presenting it rotates it.
    Active,
    /// Replaced by its successor: presenting it again is a retry within the grace period, or
    /// theft after it (RFC 9700 section 4.14.2).
    Rotated,
    /// Its family was revoked.
    Revoked,
}

impl RefreshStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Rotated => "rotated",
            Self::Revoked => "revoked",
        }
    }

    /// `None` for a value the schema's CHECK constraint does not allow: the caller reports the
    /// row as corrupt rather than guessing.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "rotated" => Some(Self::Rotated),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RefreshStatus;

    #[test]
    fn every_status_parses_back_from_what_it_stores() {
        for status in [
            RefreshStatus::Active,
            RefreshStatus::Rotated,
            RefreshStatus::Revoked,
        ] {
            assert_eq!(RefreshStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn an_unknown_status_is_not_guessed() {
        assert_eq!(RefreshStatus::parse("Active"), None);
        assert_eq!(RefreshStatus::parse(""), None);
    }
}
