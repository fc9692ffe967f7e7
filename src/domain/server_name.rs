//! Names of MCP servers and upstream providers inside a tenant (`/t/{t}/mcp/{server}`).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A path segment naming an MCP server or an upstream provider within a tenant.
///
/// Same alphabet as tenant slugs plus `_`, so that it is one unambiguous path segment: the
/// gateway matches token audiences on path boundaries and must never see `/`, `.` or `%`.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be 1 to 63 characters of a-z, 0-9, '-' or '_'")]
pub struct ResourceNameError;

impl ResourceName {
    pub fn parse(value: &str) -> Result<Self, ResourceNameError> {
        let ok = !value.is_empty()
            && value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ResourceNameError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ResourceName {
    type Error = ResourceNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ResourceName> for String {
    fn from(value: ResourceName) -> Self {
        value.0
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_one_clean_path_segment_are_accepted() {
        assert!(ResourceName::parse("github_tools-2").is_ok());
    }

    #[test]
    fn names_that_could_escape_a_path_segment_are_rejected() {
        for bad in ["", "a/b", "..", "a.b", "a%2f", "A", &"x".repeat(64)] {
            assert_eq!(ResourceName::parse(bad), Err(ResourceNameError), "{bad}");
        }
    }
}
