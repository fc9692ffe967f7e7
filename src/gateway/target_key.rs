//! The key of the targets cache: a tenant slug and an MCP server name, looked up from the
//! request path's two `&str`s without copying them.
//!
//! A `(String, String)` key made every gateway request allocate both strings just to look the
//! target up (issue 13, item 2). The owned key is kept only when a target is inserted; a lookup
//! borrows it as a [`TargetName`] trait object, the usual way to look a compound key up by its
//! borrowed parts. Both hash and compare through [`TargetName::parts`], so they agree.

use std::{
    borrow::Borrow,
    hash::{Hash, Hasher},
};

/// A tenant slug and an MCP server name, owned or borrowed. `Sync`, so a lookup's borrowed
/// key can be held across an `await`.
pub trait TargetName: Sync {
    fn parts(&self) -> (&str, &str);
}

/// The owned key, kept in the cache.
#[derive(Clone, Debug)]
pub struct TargetKey {
    tenant: Box<str>,
    server: Box<str>,
}

impl TargetKey {
    pub fn new(tenant: &str, server: &str) -> Self {
        Self {
            tenant: tenant.into(),
            server: server.into(),
        }
    }
}

impl TargetName for TargetKey {
    fn parts(&self) -> (&str, &str) {
        (&self.tenant, &self.server)
    }
}

/// The borrowed key of a lookup.
impl TargetName for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn TargetName + 'a> for TargetKey {
    fn borrow(&self) -> &(dyn TargetName + 'a) {
        self
    }
}

impl Hash for dyn TargetName + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn TargetName + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn TargetName + '_ {}

impl Hash for TargetKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn TargetName).hash(state);
    }
}

impl PartialEq for TargetKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for TargetKey {}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_borrowed_name_finds_its_owned_key_and_the_split_matters() {
        let mut map = HashMap::new();
        map.insert(TargetKey::new("acme", "github"), 1);
        map.insert(TargetKey::new("acmeg", "ithub"), 2);
        let find = |t: &str, s: &str| map.get(&(t, s) as &dyn TargetName).copied();
        assert_eq!(find("acme", "github"), Some(1));
        assert_eq!(find("acmeg", "ithub"), Some(2));
        assert_eq!(find("acm", "egithub"), None);
    }
}
