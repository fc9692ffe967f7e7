//! OAuth scopes (RFC 6749 section 3.3): a set of scope tokens, parsed from a space-separated string.

use std::{collections::BTreeSet, fmt};

/// A parsed, deduplicated, ordered set of scope tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("scope contains an invalid character or is too long")]
pub struct ScopeError;

impl Scopes {
    /// Parses `"a b c"`. At most 50 tokens of at most 128 bytes each (hostile-input bound).
    pub fn parse(value: &str) -> Result<Self, ScopeError> {
        let mut set = BTreeSet::new();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            if token.len() > 128
                || !token
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
            {
                return Err(ScopeError);
            }
            set.insert(token.to_owned());
        }
        if set.len() > 50 {
            return Err(ScopeError);
        }
        Ok(Self(set))
    }

    pub fn from_trusted<I: IntoIterator<Item = String>>(items: I) -> Self {
        Self(items.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined: Vec<&str> = self.0.iter().map(String::as_str).collect();
        f.write_str(&joined.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_split_on_spaces_and_deduplicated() {
        let s = Scopes::parse("mcp  mcp:tools mcp").unwrap();
        assert_eq!(s.to_string(), "mcp mcp:tools");
    }

    #[test]
    fn quotes_backslashes_and_control_characters_are_rejected() {
        for bad in ["a\"b", "a\\b", "a\tb", "é"] {
            assert_eq!(Scopes::parse(bad), Err(ScopeError), "{bad}");
        }
    }

    #[test]
    fn a_subset_is_recognised() {
        let all = Scopes::parse("a b c").unwrap();
        assert!(Scopes::parse("a c").unwrap().is_subset_of(&all));
        assert!(!Scopes::parse("a d").unwrap().is_subset_of(&all));
    }
}
