//! Claims beyond subject, email and name: a provider's claim mapping (which values of its
//! userinfo answer and of the login's ID token the bridge keeps, under which names; userinfo's
//! win, [`merge`]) and the mapped claims themselves.
//!
//! A mapping is `name = "path"`: `groups = "groups"`, `roles = "realm_access.roles"`,
//! `hd = "hd"`, `cloud_ids = "accessible_resources.*.id"`. A path is dot-separated keys; `*`
//! takes every element of a list. What a path finds must be a string, a boolean, an integer or
//! a list of strings; anything else is left out (a provider's answer is not trusted to be
//! small or well-shaped).
//!
//! The values are bounded ([`MAX_VALUE_BYTES`], [`MAX_LIST_ITEMS`], [`MAX_TOTAL_BYTES`]): they
//! live in the user-context cache for every user, in every signed assertion and, for servers
//! that opt in, in headers. A string over the limit is dropped rather than cut (a cut group
//! name is another group); a list keeps its first [`MAX_LIST_ITEMS`] entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Mapped claims per provider, at most.
pub const MAX_CLAIMS: usize = 32;
/// One string value (a group name, a domain), in bytes.
pub const MAX_VALUE_BYTES: usize = 256;
/// Entries of one list claim.
pub const MAX_LIST_ITEMS: usize = 256;
/// All mapped values of one user together, in bytes.
pub const MAX_TOTAL_BYTES: usize = 16 * 1024;
/// Names the bridge's own claims use: a mapping may not shadow them.
const RESERVED: [&str; 12] = [
    "sub",
    "email",
    "name",
    "preferred_username",
    "provider",
    "iss",
    "aud",
    "exp",
    "iat",
    "client_id",
    "scope",
    "tenant",
];

/// One mapped value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClaimValue {
    Bool(bool),
    Int(i64),
    Text(String),
    List(Vec<String>),
}

impl ClaimValue {
    fn bytes(&self) -> usize {
        match self {
            Self::Bool(_) | Self::Int(_) => 8,
            Self::Text(s) => s.len(),
            Self::List(items) => items.iter().map(String::len).sum(),
        }
    }

    /// The value as a list of strings (a single string is a list of one): what `X-Auth-Groups`
    /// and `X-Auth-Roles` send and what policies see as `user.groups` / `user.roles`.
    pub fn as_list(&self) -> Vec<&str> {
        match self {
            Self::Text(s) => vec![s.as_str()],
            Self::List(items) => items.iter().map(String::as_str).collect(),
            Self::Bool(_) | Self::Int(_) => Vec::new(),
        }
    }
}

/// A user's mapped claims, by name (sorted, so the assertion and `/userinfo` are stable).
pub type MappedClaims = BTreeMap<String, ClaimValue>;

/// Why a claim mapping was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MappingError {
    #[error("more than {MAX_CLAIMS} mapped claims")]
    TooMany,
    #[error("claim name {0:?} must be 1-32 characters of a-z, 0-9 and _, starting with a letter")]
    BadName(String),
    #[error("claim name {0:?} is one of the bridge's own claims")]
    Reserved(String),
    #[error("path {0:?} of claim {1:?} must be dot-separated keys or *")]
    BadPath(String, String),
}

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Each,
}

/// A provider's claim mapping, parsed: claim name → path into the userinfo answer (or the ID
/// token's claims).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimMapping {
    paths: Vec<(String, Vec<Step>)>,
}

impl ClaimMapping {
    /// Parses `name = "path"` pairs (configuration, admin API, a provider's stored settings).
    pub fn parse(pairs: &BTreeMap<String, String>) -> Result<Self, MappingError> {
        if pairs.len() > MAX_CLAIMS {
            return Err(MappingError::TooMany);
        }
        let mut paths = Vec::with_capacity(pairs.len());
        for (name, path) in pairs {
            check_name(name)?;
            let bad = || MappingError::BadPath(path.clone(), name.clone());
            let steps: Vec<Step> = path
                .split('.')
                .map(|step| match step {
                    "" => Err(bad()),
                    "*" => Ok(Step::Each),
                    key => Ok(Step::Key(key.to_owned())),
                })
                .collect::<Result<_, _>>()?;
            if steps.len() > 8 || matches!(steps.first(), Some(Step::Each) | None) {
                return Err(bad());
            }
            paths.push((name.clone(), steps));
        }
        Ok(Self { paths })
    }

    /// The mapping stored under `claims` in a provider's settings; an unreadable one maps
    /// nothing (it was checked when it was written).
    pub fn from_settings(settings: &Value) -> Self {
        let Some(pairs) = settings.get("claims") else {
            return Self::default();
        };
        serde_json::from_value::<BTreeMap<String, String>>(pairs.clone())
            .ok()
            .and_then(|pairs| Self::parse(&pairs).ok())
            .unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The mapped claims of a userinfo answer (or an ID token's claims), within the size limits.
    pub fn apply(&self, json: &Value) -> MappedClaims {
        let mut mapped = MappedClaims::new();
        let mut total = 0;
        for (name, steps) in &self.paths {
            let Some(value) = extract(json, steps) else {
                continue;
            };
            total += value.bytes();
            if total > MAX_TOTAL_BYTES {
                break;
            }
            mapped.insert(name.clone(), value);
        }
        mapped
    }
}

/// `preferred`'s claims, then those of `fallback` that `preferred` lacks, within the same
/// limits ([`MAX_CLAIMS`], [`MAX_TOTAL_BYTES`]): how the claims of userinfo (preferred, as
/// OIDC Core 5.3.2 suggests) and of the ID token are put together.
pub fn merge(preferred: MappedClaims, fallback: &MappedClaims) -> MappedClaims {
    let mut total: usize = preferred.values().map(ClaimValue::bytes).sum();
    let mut merged = preferred;
    for (name, value) in fallback {
        if merged.contains_key(name) || merged.len() >= MAX_CLAIMS {
            continue;
        }
        let bytes = value.bytes();
        if total + bytes > MAX_TOTAL_BYTES {
            continue;
        }
        total += bytes;
        merged.insert(name.clone(), value.clone());
    }
    merged
}

fn check_name(name: &str) -> Result<(), MappingError> {
    let mut chars = name.chars();
    let well_formed = name.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        return Err(MappingError::BadName(name.to_owned()));
    }
    if RESERVED.contains(&name) {
        return Err(MappingError::Reserved(name.to_owned()));
    }
    Ok(())
}

/// What `steps` find in `json`, as a claim value (a `*` step makes it a list).
fn extract(json: &Value, steps: &[Step]) -> Option<ClaimValue> {
    let mut found = vec![json];
    let mut listed = false;
    for step in steps {
        found = match step {
            Step::Key(key) => found.iter().filter_map(|v| v.get(key.as_str())).collect(),
            Step::Each => {
                listed = true;
                found
                    .iter()
                    .filter_map(|v| v.as_array())
                    .flatten()
                    .collect()
            }
        };
    }
    if listed {
        return Some(ClaimValue::List(strings(found.into_iter())));
    }
    match found.first()? {
        Value::Bool(b) => Some(ClaimValue::Bool(*b)),
        Value::Number(n) => n.as_i64().map(ClaimValue::Int),
        Value::String(s) if s.len() <= MAX_VALUE_BYTES => Some(ClaimValue::Text(s.clone())),
        Value::Array(items) => Some(ClaimValue::List(strings(items.iter()))),
        _ => None,
    }
}

/// The string items (each within [`MAX_VALUE_BYTES`]), at most [`MAX_LIST_ITEMS`] of them.
fn strings<'a>(items: impl Iterator<Item = &'a Value>) -> Vec<String> {
    items
        .filter_map(Value::as_str)
        .filter(|s| s.len() <= MAX_VALUE_BYTES)
        .take(MAX_LIST_ITEMS)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mapping(pairs: &[(&str, &str)]) -> ClaimMapping {
        let pairs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ClaimMapping::parse(&pairs).unwrap()
    }

    #[test]
    fn keycloak_groups_and_realm_roles_are_mapped() {
        let m = mapping(&[("groups", "groups"), ("roles", "realm_access.roles")]);
        let user =
            json!({"sub": "u", "groups": ["/eng", "/ops"], "realm_access": {"roles": ["admin"]}});
        let mapped = m.apply(&user);
        assert_eq!(
            mapped["groups"],
            ClaimValue::List(vec!["/eng".into(), "/ops".into()])
        );
        assert_eq!(mapped["roles"], ClaimValue::List(vec!["admin".into()]));
    }

    #[test]
    fn a_star_collects_every_element_and_scalars_keep_their_type() {
        let m = mapping(&[
            ("cloud_ids", "accessible_resources.*.id"),
            ("hd", "hd"),
            ("verified", "email_verified"),
        ]);
        let user = json!({"hd": "example.com", "email_verified": true,
            "accessible_resources": [{"id": "c1"}, {"id": "c2"}, {"name": "no id"}]});
        let mapped = m.apply(&user);
        assert_eq!(
            mapped["cloud_ids"],
            ClaimValue::List(vec!["c1".into(), "c2".into()])
        );
        assert_eq!(mapped["hd"], ClaimValue::Text("example.com".into()));
        assert_eq!(mapped["verified"], ClaimValue::Bool(true));
    }

    #[test]
    fn oversized_values_are_dropped_and_long_lists_are_capped() {
        let m = mapping(&[("groups", "groups"), ("hd", "hd")]);
        let many: Vec<String> = (0..1000).map(|i| format!("g{i}")).collect();
        let user = json!({"groups": many, "hd": "x".repeat(MAX_VALUE_BYTES + 1)});
        let mapped = m.apply(&user);
        assert_eq!(mapped["groups"].as_list().len(), MAX_LIST_ITEMS);
        assert!(!mapped.contains_key("hd"));
    }

    #[test]
    fn merging_prefers_the_first_source_and_keeps_the_total_limit() {
        let userinfo = MappedClaims::from([("hd".into(), ClaimValue::Text("a.example".into()))]);
        let id_token = MappedClaims::from([
            ("hd".into(), ClaimValue::Text("b.example".into())),
            ("groups".into(), ClaimValue::List(vec!["eng".into()])),
        ]);
        let merged = merge(userinfo, &id_token);
        assert_eq!(merged["hd"], ClaimValue::Text("a.example".into()));
        assert_eq!(merged["groups"], ClaimValue::List(vec!["eng".into()]));

        let big = |n: usize| ClaimValue::List(vec!["x".repeat(200); n]);
        let full = MappedClaims::from([("a".into(), big(80))]);
        let more = MappedClaims::from([("b".into(), big(10)), ("c".into(), big(1))]);
        let merged = merge(full, &more);
        assert!(!merged.contains_key("b"), "over MAX_TOTAL_BYTES");
        assert!(merged.contains_key("c"));
    }

    #[test]
    fn bad_names_reserved_names_and_bad_paths_are_refused() {
        let parse =
            |k: &str, v: &str| ClaimMapping::parse(&BTreeMap::from([(k.to_owned(), v.to_owned())]));
        assert!(matches!(
            parse("Groups", "g"),
            Err(MappingError::BadName(_))
        ));
        assert!(matches!(parse("sub", "g"), Err(MappingError::Reserved(_))));
        assert!(matches!(parse("g", "a..b"), Err(MappingError::BadPath(..))));
        assert!(matches!(parse("g", "*.id"), Err(MappingError::BadPath(..))));
        let too_many = (0..=MAX_CLAIMS)
            .map(|i| (format!("c{i}"), "x".to_owned()))
            .collect();
        assert_eq!(ClaimMapping::parse(&too_many), Err(MappingError::TooMany));
    }
}
