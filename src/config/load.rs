//! Reading the configuration: defaults, then the TOML file, then `MCP_AUTH_BRIDGE__*` variables.

use std::path::Path;

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
    value::Dict,
};

use super::{
    model::Config,
    problem::{ConfigError, Problem},
    secrets, validate,
};

/// The prefix of environment overrides; `__` separates nested keys
/// (`MCP_AUTH_BRIDGE__DATABASE__URL` sets `database.url`).
pub const ENV_PREFIX: &str = "MCP_AUTH_BRIDGE__";

impl Config {
    /// Loads and validates the configuration from an optional file and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(path, Env::prefixed(ENV_PREFIX).split("__"))
    }

    /// Loads from a TOML string and an explicit environment, for tests: its
    /// `MCP_AUTH_BRIDGE__*` entries are overrides, and `…_env` keys look names up in it.
    pub fn load_str(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut figment = Figment::new().merge(Toml::string(toml));
        for (key, value) in env {
            let Some(key) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let dotted = key.to_ascii_lowercase().replace("__", ".");
            let value: figment::value::Value = value
                .parse()
                .unwrap_or_else(|_| figment::value::Value::from(value.to_string()));
            figment = figment.merge((dotted, value));
        }
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        finish(figment, &lookup)
    }

    fn load_from(path: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            figment = figment.merge(Toml::string(&text));
        }
        finish(figment.merge(env), &|name: &str| std::env::var(name).ok())
    }

    /// The effective configuration as TOML, secrets redacted (what `check-config` prints).
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

/// Resolves the secrets' `…_file` / `…_env` forms, types the result, then validates it.
fn finish(figment: Figment, env: secrets::Lookup<'_>) -> Result<Config, ConfigError> {
    let mut merged: Dict = figment.extract().map_err(from_figment)?;
    let sources = secrets::resolve(&mut merged, env).map_err(ConfigError::Invalid)?;
    let mut config: Config = Figment::from(Serialized::defaults(merged))
        .extract()
        .map_err(from_figment)?;
    secrets::apply(&mut config, sources);
    let problems = validate::problems(&config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

fn from_figment(error: figment::Error) -> ConfigError {
    let problems = error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                "(top level)".to_string()
            } else {
                e.path.join(".")
            };
            Problem::new(key, e.kind.to_string())
        })
        .collect();
    ConfigError::Invalid(problems)
}
