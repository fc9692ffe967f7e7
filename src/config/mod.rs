//! Typed configuration: a TOML file plus `MCP_AUTH_BRIDGE__*` environment overrides, validated
//! once at start-up so that the rest of the service can trust it.

mod duration;
mod load;
mod model;
mod policies;
mod production;
pub mod reference;
mod sealing;
mod secrets;
mod secrets_schema;
mod validate;

pub use duration::HumanDuration;
pub use load::{ConfigError, ENV_PREFIX, Problem};
pub use model::*;

/// The JSON Schema of the configuration file, as committed in `config/schema.json`.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(Config);
    secrets_schema::document(&mut schema);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
