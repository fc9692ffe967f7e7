//! Secrets kept out of the configuration file: every secret key `X` also accepts `X_file` (a
//! path, as Kubernetes and Docker mount secrets; trailing newlines trimmed) and `X_env` (the
//! name of an environment variable). The sealing keys, a map, take `[crypto.keys_file]` and
//! `[crypto.keys_env]` maps with the same key ids.
//!
//! They are resolved once, on the merged file and `MCP_AUTH_BRIDGE__*` overrides, before the
//! configuration is typed and validated: validation and the production checks see the values,
//! and `check-config` prints where each came from, never the value.

use std::collections::{BTreeMap, BTreeSet};

use figment::value::{Dict, Value};

use super::{model::Config, problem::Problem};
use crate::domain::{Secret, SecretSource};

/// How `…_env` names are looked up: the process environment, or a given list in tests.
pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Where the secrets read from files and variables came from, by key
/// (`tenants[0].providers[1].client_secret`); secrets not listed were written inline.
pub(super) type Sources = BTreeMap<String, SecretSource>;

/// Replaces every `X_file` / `X_env` in `root` by `X` holding the value it points at.
pub(super) fn resolve(root: &mut Dict, env: Lookup<'_>) -> Result<Sources, Vec<Problem>> {
    let mut r = Resolver {
        env,
        sources: Sources::new(),
        problems: Vec::new(),
    };
    if let Some(database) = table(root, "database") {
        r.one(database, "database", "url");
    }
    if let Some(crypto) = table(root, "crypto") {
        r.keys(crypto);
    }
    if let Some(admin) = table(root, "admin") {
        for (i, token) in tables(admin, "tokens") {
            r.one(token, &format!("admin.tokens[{i}]"), "sha256");
        }
    }
    for (i, tenant) in tables(root, "tenants") {
        for (j, provider) in tables(tenant, "providers") {
            r.one(
                provider,
                &format!("tenants[{i}].providers[{j}]"),
                "client_secret",
            );
        }
        for (j, server) in tables(tenant, "mcp_servers") {
            if let Some(tx) = table(server, "token_exchange") {
                let prefix = format!("tenants[{i}].mcp_servers[{j}].token_exchange");
                r.one(tx, &prefix, "client_secret");
            }
            if let Some(remote) = table(server, "remote_oauth") {
                let prefix = format!("tenants[{i}].mcp_servers[{j}].remote_oauth");
                r.one(remote, &prefix, "client_secret");
            }
        }
    }
    if r.problems.is_empty() {
        Ok(r.sources)
    } else {
        Err(r.problems)
    }
}

/// Records on each typed secret where it came from, for `check-config`.
pub(super) fn apply(config: &mut Config, mut sources: Sources) {
    let mut set = |key: String, secret: &mut Secret<String>| {
        if let Some(source) = sources.remove(&key) {
            secret.set_source(source);
        }
    };
    set("database.url".into(), &mut config.database.url);
    for (id, key) in &mut config.crypto.keys {
        set(format!("crypto.keys.{id}"), key);
    }
    for (i, tenant) in config.tenants.iter_mut().enumerate() {
        for (j, provider) in tenant.providers.iter_mut().enumerate() {
            if let Some(secret) = &mut provider.client_secret {
                set(format!("tenants[{i}].providers[{j}].client_secret"), secret);
            }
        }
        for (j, server) in tenant.mcp_servers.iter_mut().enumerate() {
            if let Some(tx) = &mut server.token_exchange {
                let key = format!("tenants[{i}].mcp_servers[{j}].token_exchange.client_secret");
                set(key, &mut tx.client_secret);
            }
            if let Some(secret) = server
                .remote_oauth
                .as_mut()
                .and_then(|r| r.client_secret.as_mut())
            {
                let key = format!("tenants[{i}].mcp_servers[{j}].remote_oauth.client_secret");
                set(key, secret);
            }
        }
    }
}

struct Resolver<'a> {
    env: Lookup<'a>,
    sources: Sources,
    problems: Vec<Problem>,
}

impl Resolver<'_> {
    /// Resolves `key` of `table` (whose path is `prefix`) from at most one of its three forms.
    fn one(&mut self, table: &mut Dict, prefix: &str, key: &str) {
        let file = table.remove(&format!("{key}_file"));
        let env = table.remove(&format!("{key}_env"));
        let name = |suffix: &str| format!("{prefix}.{key}{suffix}");
        let given: Vec<String> = [
            (table.contains_key(key), ""),
            (file.is_some(), "_file"),
            (env.is_some(), "_env"),
        ]
        .into_iter()
        .filter(|(present, _)| *present)
        .map(|(_, suffix)| format!("{key}{suffix}"))
        .collect();
        if given.len() > 1 {
            self.conflict(&name(""), &given);
            return;
        }
        let resolved = match (file, env) {
            (Some(path), _) => self.read(&path, &name("_file"), Via::File),
            (_, Some(var)) => self.read(&var, &name("_env"), Via::Env),
            (None, None) => return,
        };
        if let Some((value, source)) = resolved {
            table.insert(key.to_string(), Value::from(value));
            self.sources.insert(name(""), source);
        }
    }

    /// `crypto.keys`, a map of key id → key, with its `keys_file` and `keys_env` maps.
    fn keys(&mut self, crypto: &mut Dict) {
        let mut files = self.take_map(crypto, "keys_file");
        let mut envs = self.take_map(crypto, "keys_env");
        if files.is_empty() && envs.is_empty() {
            return;
        }
        let keys = match crypto
            .entry("keys".to_string())
            .or_insert_with(|| Value::from(Dict::new()))
        {
            Value::Dict(_, keys) => keys,
            _ => return, // typing reports `crypto.keys` as not a map
        };
        let ids: BTreeSet<String> = files.keys().chain(envs.keys()).cloned().collect();
        for id in ids {
            let key = format!("crypto.keys.{id}");
            let forms = [
                (keys.get(&id).cloned(), "keys", None),
                (files.remove(&id), "keys_file", Some(Via::File)),
                (envs.remove(&id), "keys_env", Some(Via::Env)),
            ];
            let given: Vec<_> = forms.into_iter().filter(|(v, ..)| v.is_some()).collect();
            if given.len() > 1 {
                let names: Vec<String> =
                    given.iter().map(|(_, m, _)| format!("{m}.{id}")).collect();
                self.conflict(&key, &names);
                continue;
            }
            let Some((Some(reference), map, Some(via))) = given.into_iter().next() else {
                continue;
            };
            if let Some((value, source)) = self.read(&reference, &format!("crypto.{map}.{id}"), via)
            {
                keys.insert(id, Value::from(value));
                self.sources.insert(key, source);
            }
        }
    }

    fn take_map(&mut self, table: &mut Dict, name: &str) -> Dict {
        match table.remove(name) {
            None => Dict::new(),
            Some(Value::Dict(_, map)) => map,
            Some(_) => {
                let reason = "must be a table of key id = string";
                self.problems
                    .push(Problem::new(format!("crypto.{name}"), reason));
                Dict::new()
            }
        }
    }

    /// Reads the value a `…_file` path or `…_env` name points at; `key` names it in problems.
    fn read(&mut self, given: &Value, key: &str, via: Via) -> Option<(String, SecretSource)> {
        let Some(reference) = given.as_str() else {
            let reason = match via {
                Via::File => "must be a path (a string)",
                Via::Env => "must be an environment variable name (a string)",
            };
            self.problems.push(Problem::new(key, reason));
            return None;
        };
        let read = match via {
            Via::File => read_file(reference).map(|v| (v, SecretSource::File(reference.into()))),
            Via::Env => self
                .read_env(reference)
                .map(|v| (v, SecretSource::Env(reference.into()))),
        };
        read.map_err(|reason| self.problems.push(Problem::new(key, reason)))
            .ok()
    }

    fn read_env(&self, name: &str) -> Result<String, String> {
        match (self.env)(name) {
            None => Err(format!("environment variable {name} is not set")),
            Some(value) if value.trim().is_empty() => {
                Err(format!("environment variable {name} is empty"))
            }
            Some(value) => Ok(value),
        }
    }

    fn conflict(&mut self, key: &str, given: &[String]) {
        let reason = format!(
            "has more than one source ({}); set exactly one",
            given.join(", ")
        );
        self.problems.push(Problem::new(key, reason));
    }
}

#[derive(Clone, Copy)]
enum Via {
    File,
    Env,
}

/// A mounted secret file, without the trailing newline editors and `echo` add.
fn read_file(path: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.trim().is_empty() {
        return Err(format!("{path} is empty"));
    }
    Ok(value.to_string())
}

fn table<'a>(dict: &'a mut Dict, key: &str) -> Option<&'a mut Dict> {
    match dict.get_mut(key) {
        Some(Value::Dict(_, table)) => Some(table),
        _ => None,
    }
}

fn tables<'a>(dict: &'a mut Dict, key: &str) -> Vec<(usize, &'a mut Dict)> {
    match dict.get_mut(key) {
        Some(Value::Array(_, items)) => items
            .iter_mut()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Value::Dict(_, table) => Some((i, table)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}
