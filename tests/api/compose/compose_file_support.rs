//! Reading `docker-compose.yml`: services, ports, environment, health checks, bind mounts, and
//! Compose's `${VAR:-default}` interpolation.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use serde_yaml::Value as Yaml;

use super::dockerfile_support::dockerfile;

pub const COMPOSE_FILE: &str = "docker-compose.yml";
pub const BRIDGE: &str = "bridge";

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn compose() -> Yaml {
    serde_yaml::from_str(&read(COMPOSE_FILE))
        .unwrap_or_else(|e| panic!("{COMPOSE_FILE} is not valid YAML: {e}"))
}

pub fn service<'a>(compose: &'a Yaml, name: &str) -> &'a Yaml {
    compose
        .get("services")
        .and_then(|s| s.get(name))
        .unwrap_or_else(|| panic!("{COMPOSE_FILE} has no service {name:?}"))
}

pub fn service_names(compose: &Yaml) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Some(services) = compose.get("services").and_then(Yaml::as_mapping) {
        for (name, svc) in services {
            names.extend(name.as_str().map(str::to_owned));
            names.extend(
                svc.get("hostname")
                    .and_then(Yaml::as_str)
                    .map(str::to_owned),
            );
        }
    }
    names
}

/// Host port → the service publishing it.
pub fn published_ports(compose: &Yaml) -> BTreeMap<u16, String> {
    let mut out = BTreeMap::new();
    let Some(services) = compose.get("services").and_then(Yaml::as_mapping) else {
        return out;
    };
    for (name, svc) in services {
        let name = name.as_str().unwrap_or_default().to_owned();
        for port in svc
            .get("ports")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
        {
            let published = match port {
                Yaml::String(s) => {
                    // [ip:]host:container[/proto]
                    let parts: Vec<&str> =
                        s.split('/').next().unwrap_or_default().split(':').collect();
                    (parts.len() >= 2).then(|| parts[parts.len() - 2].to_owned())
                }
                Yaml::Mapping(_) => port.get("published").map(scalar),
                _ => None,
            };
            if let Some(p) = published.and_then(|p| p.parse().ok()) {
                out.insert(p, name.clone());
            }
        }
    }
    out
}

/// A service's `environment`, in map or list form, values as written (not interpolated).
/// A list entry without `=` (passed through from the host) has no value here and is skipped.
pub fn environment(service: &Yaml) -> Vec<(String, String)> {
    match service.get("environment") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Mapping(map)) => map.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
        Some(Yaml::Sequence(list)) => list
            .iter()
            .filter_map(|item| {
                let item = scalar(item);
                item.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect(),
        Some(other) => panic!("unexpected environment: {other:?}"),
    }
}

pub fn interpolated(env: Vec<(String, String)>) -> BTreeMap<String, String> {
    env.into_iter()
        .map(|(k, v)| {
            let v = interpolate(&v).unwrap_or_else(|e| panic!("{k}: {e}"));
            (k, v)
        })
        .collect()
}

pub fn scalar(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

pub fn string_list(v: Option<&Yaml>) -> Vec<String> {
    match v {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Yaml::Sequence(items)) => items.iter().map(scalar).collect(),
        Some(other) => panic!("expected a string or a list, got {other:?}"),
    }
}

/// `depends_on` in list or map form → service → condition (`service_started` for the list form).
pub fn depends_on(v: &Yaml) -> BTreeMap<String, String> {
    match v {
        Yaml::Sequence(items) => items
            .iter()
            .map(|i| (scalar(i), "service_started".to_owned()))
            .collect(),
        Yaml::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                let condition = v
                    .get("condition")
                    .map(scalar)
                    .unwrap_or_else(|| "service_started".into());
                (scalar(k), condition)
            })
            .collect(),
        other => panic!("unexpected depends_on: {other:?}"),
    }
}

pub fn healthcheck_test(service: &Yaml) -> Option<String> {
    let hc = service.get("healthcheck")?;
    if hc.get("disable").and_then(Yaml::as_bool) == Some(true) {
        return None;
    }
    let test = string_list(hc.get("test"));
    (!test.is_empty() && test[0] != "NONE").then(|| test.join(" "))
}

/// A healthcheck of its own, or (for a service built from our Dockerfile and not disabling it)
/// the image's `HEALTHCHECK`.
pub fn has_healthcheck(service: &Yaml) -> bool {
    if let Some(hc) = service.get("healthcheck") {
        return healthcheck_test(service).is_some()
            || (hc.get("test").is_none()
                && hc.get("disable").and_then(Yaml::as_bool) != Some(true)
                && service.get("build").is_some()
                && dockerfile().has_healthcheck());
    }
    service.get("build").is_some() && dockerfile().has_healthcheck()
}

/// Bind mounts of a service as (host path, container path), short or long syntax.
pub fn bind_mounts(service: &Yaml) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in service
        .get("volumes")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
    {
        match v {
            Yaml::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                if parts.len() >= 2 && (parts[0].starts_with('.') || parts[0].starts_with('/')) {
                    out.push((parts[0].to_owned(), parts[1].to_owned()));
                }
            }
            Yaml::Mapping(_) if v.get("type").map(scalar).as_deref() == Some("bind") => {
                if let (Some(s), Some(t)) = (v.get("source"), v.get("target")) {
                    out.push((scalar(s), scalar(t)));
                }
            }
            _ => {}
        }
    }
    out
}

pub fn normalize(host_path: &str) -> String {
    host_path
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_owned()
}

/// Compose's interpolation (`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$$`), resolved
/// the way a fresh checkout without an `.env` file would be: every variable must have a default.
pub fn interpolate(input: &str) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body_and_tail) = after.strip_prefix('{') {
            let end = matching_brace(body_and_tail)
                .ok_or_else(|| format!("unclosed ${{ in {input:?}"))?;
            let body = &body_and_tail[..end];
            out.push_str(&expand(body, input)?);
            rest = &body_and_tail[end + 1..];
        } else if after.starts_with(|c: char| c == '_' || c.is_ascii_alphabetic()) {
            let name: String = after
                .chars()
                .take_while(|c| *c == '_' || c.is_ascii_alphanumeric())
                .collect();
            return Err(format!(
                "${name} has no default (write ${{{name}:-default}})"
            ));
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

pub fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

pub fn expand(body: &str, input: &str) -> Result<String, String> {
    let name_end = body
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_end);
    if let Some(default) = op.strip_prefix(":-").or_else(|| op.strip_prefix('-')) {
        interpolate(default)
    } else if op.is_empty() {
        Err(format!("${{{name}}} in {input:?} has no default"))
    } else {
        Err(format!(
            "${{{body}}} in {input:?}: only ${{VAR:-default}} can be resolved without the variable"
        ))
    }
}
