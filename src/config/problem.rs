//! What is wrong with a configuration: the [`Problem`]s that reading, secret resolution and
//! validation each find, and the one [`ConfigError`] an operator reads. Its own file so that
//! those three steps share it without importing one another.

use std::fmt;

/// One thing wrong with the configuration, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub reason: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Why the configuration could not be used. Its `Display` is the one message an operator sees.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("invalid configuration:\n{}", ProblemList(.0))]
    Invalid(Vec<Problem>),
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {}: {}", p.key, p.reason)?;
        }
        Ok(())
    }
}

/// A duration that must not be zero.
pub(super) fn positive(out: &mut Vec<Problem>, key: &str, value: super::HumanDuration) {
    if value.is_zero() {
        out.push(Problem::new(key, "must be > 0"));
    }
}
