//! The Keycloak realm files in `config/keycloak/`.

use std::{collections::BTreeMap, path::PathBuf};

use serde_json::Value as Json;

use super::compose_file_support::root;

pub const REALM_DIR: &str = "config/keycloak";
pub const KEYCLOAK: &str = "keycloak";

pub fn realm_files() -> Vec<(String, Json)> {
    let dir = root().join(REALM_DIR);
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path: PathBuf = entry.expect("directory entry").path();
        // Keycloak imports regular `.json` files of the directory, no subdirectories.
        if path.extension().and_then(|e| e.to_str()) != Some("json") || !path.is_file() {
            continue;
        }
        let name = format!(
            "{REALM_DIR}/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Json =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        out.push((name, json));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Keycloak resolves `${VAR}` in imported realm files from its environment.
pub fn resolve_keycloak_placeholders(value: &str, env: &BTreeMap<String, String>) -> String {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(var) => env.get(var).cloned().unwrap_or_else(|| {
            panic!("the realm uses ${{{var}}}, which keycloak's environment does not set")
        }),
        None => value.to_owned(),
    }
}
