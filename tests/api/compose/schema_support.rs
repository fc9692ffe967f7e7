//! Walking the configuration's JSON Schema: does an `MCP_AUTH_BRIDGE__*` variable name a real key?

use mcp_auth_bridge::config::{ENV_PREFIX, json_schema};
use serde_json::Value as Json;

pub fn schema() -> Json {
    serde_json::from_str(&json_schema()).expect("config::json_schema() is JSON")
}

/// Checks that the environment variable `name` (`MCP_AUTH_BRIDGE__A__B_C`) sets a key the
/// configuration has (`a.b_c`), the way figment maps it: prefix stripped, lower-cased, `__`
/// between levels. The error names the variable and the first segment that does not exist.
pub fn check_env_key(schema: &Json, name: &str) -> Result<(), String> {
    let rest = name
        .strip_prefix(ENV_PREFIX)
        .ok_or_else(|| format!("{name}: does not start with {ENV_PREFIX}"))?;
    let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(String::is_empty) {
        return Err(format!(
            "{name}: empty key segment (levels are separated by exactly `__`)"
        ));
    }
    let mut node = schema;
    for (i, segment) in path.iter().enumerate() {
        let at = path[..i].join(".");
        node = match child(schema, node, segment) {
            Child::Found(next) => next,
            Child::AnyBelow => return Ok(()),
            Child::List => {
                return Err(format!(
                    "{name}: `{at}` is a list; environment variables cannot set its elements \
                     (put them in the TOML file)"
                ));
            }
            Child::Missing(known) => {
                let key = path[..=i].join(".");
                return Err(format!(
                    "{name}: `{key}` is not a configuration key{}",
                    if known.is_empty() {
                        format!(" (`{at}` has no keys below it)")
                    } else {
                        format!(
                            " (keys of `{}`: {})",
                            if at.is_empty() { "(top level)" } else { &at },
                            known.join(", ")
                        )
                    }
                ));
            }
        };
    }
    Ok(())
}

pub enum Child<'a> {
    Found(&'a Json),
    /// `additionalProperties: true`: anything may follow.
    AnyBelow,
    List,
    Missing(Vec<String>),
}

/// The schema of key `segment` under `node`: its `properties`, or the value schema of a map
/// (`additionalProperties`), looking through `$ref`, `allOf`, `anyOf` and `oneOf`. Objects
/// without `additionalProperties` accept only their properties: serde would ignore (or, with
/// `deny_unknown_fields`, refuse) anything else, so either way the variable configures nothing.
pub fn child<'a>(root: &'a Json, node: &'a Json, segment: &str) -> Child<'a> {
    let mut known = Vec::new();
    let mut list = false;
    for alt in alternatives(root, node) {
        if let Some(found) = alt.get("properties").and_then(|p| p.get(segment)) {
            return Child::Found(found);
        }
        if let Some(props) = alt.get("properties").and_then(Json::as_object) {
            known.extend(props.keys().cloned());
        }
        match alt.get("additionalProperties") {
            Some(Json::Bool(true)) => return Child::AnyBelow,
            Some(map @ Json::Object(_)) => return Child::Found(map),
            _ => {}
        }
        if alt.get("items").is_some() || type_is(alt, "array") {
            list = true;
        }
    }
    if list {
        Child::List
    } else {
        known.sort();
        known.dedup();
        Child::Missing(known)
    }
}

/// `node` and everything it stands for: `$ref` targets and the branches of `allOf`/`anyOf`/`oneOf`.
pub fn alternatives<'a>(root: &'a Json, node: &'a Json) -> Vec<&'a Json> {
    let mut out = Vec::new();
    let mut pending = vec![node];
    while let Some(n) = pending.pop() {
        if out.len() > 64 {
            break; // a cycle; never in a configuration schema
        }
        out.push(n);
        if let Some(r) = n.get("$ref").and_then(Json::as_str) {
            pending.push(resolve_ref(root, r));
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(branches) = n.get(key).and_then(Json::as_array) {
                pending.extend(branches);
            }
        }
    }
    out
}

pub fn resolve_ref<'a>(root: &'a Json, reference: &str) -> &'a Json {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("non-local $ref {reference}"));
    root.pointer(pointer)
        .unwrap_or_else(|| panic!("dangling $ref {reference}"))
}

pub fn type_is(node: &Json, ty: &str) -> bool {
    match node.get("type") {
        Some(Json::String(t)) => t == ty,
        Some(Json::Array(ts)) => ts.iter().any(|t| t == ty),
        _ => false,
    }
}
