//! Typed configuration: a TOML file plus `MCP_AUTH_BRIDGE__*` environment overrides, validated
//! once at start-up so that the rest of the service can trust it.

mod defaults;
mod duration;
pub mod embedded;
mod load;
mod model;
mod policies;
mod problem;
mod production;
pub mod reference;
mod sealing;
mod secrets;
mod secrets_schema;
mod tenants_model;
mod validate;
mod validate_tenants;

pub use duration::HumanDuration;
pub use load::ENV_PREFIX;
pub use model::*;
pub use problem::{ConfigError, Problem};
pub use tenants_model::*;

/// The JSON Schema of the configuration file, as committed in `config/schema.json`.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(Config);
    secrets_schema::document(&mut schema);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
