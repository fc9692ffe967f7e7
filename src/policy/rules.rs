//! A compiled policy: what [`Policy::compile`] builds and [`super::Evaluation`] reads.

use std::sync::Arc;

use super::{document::Effect, native::Condition};

/// A compiled policy: cheap to share, evaluated per request.
pub struct Policy {
    pub(super) default: Effect,
    pub(super) rules: Vec<Rule>,
    pub(super) env: Arc<cel::Env>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("default", &self.default)
            .field("rules", &self.rules.len())
            .finish()
    }
}

pub(super) struct Rule {
    pub(super) name: Box<str>,
    pub(super) effect: Effect,
    pub(super) methods: Box<[Box<str>]>,
    pub(super) targets: Box<[Pattern]>,
    pub(super) when: Option<cel::Program>,
    /// `when` when it is of a shape evaluated without CEL (see [`super::native`]).
    pub(super) native: Option<Condition>,
    pub(super) scopes: Box<[Box<str>]>,
}

/// A target as written: exact, or a prefix (`read_*`).
pub(super) enum Pattern {
    Exact(Box<str>),
    Prefix(Box<str>),
}

impl Pattern {
    pub(super) fn matches(&self, target: &str) -> bool {
        match self {
            Self::Exact(exact) => **exact == *target,
            Self::Prefix(prefix) => target.starts_with(&**prefix),
        }
    }
}

impl Policy {
    /// A policy that denies everything: what a stored policy that no longer compiles becomes
    /// (fail closed), logged where it is loaded.
    pub fn deny_all() -> Self {
        Self {
            default: Effect::Deny,
            rules: vec![Rule {
                name: "invalid-policy".into(),
                effect: Effect::Deny,
                methods: Box::new([]),
                targets: Box::new([]),
                when: None,
                native: None,
                scopes: Box::new([]),
            }],
            env: Arc::new(cel::Env::stdlib()),
        }
    }

    /// The scopes any rule may ask for: each must be one the server offers, or the client could
    /// never obtain it (checked by the configuration and the admin API).
    pub fn step_up_scopes(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .flat_map(|rule| rule.scopes.iter().map(|s| &**s))
    }
}
