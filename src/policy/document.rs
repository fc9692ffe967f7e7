//! A policy as operators write it: in the configuration file (`[tenants.mcp_servers.policy]`)
//! and in the admin API's JSON. [`super::Policy::compile`] turns it into what is evaluated.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a rule, or the default, does with a call.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

/// The rules of one MCP server, evaluated in order; the first that matches decides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// What happens to a call no rule matches: `allow` (the default, today's behaviour) or
    /// `deny`. The protocol's housekeeping (`initialize`, `ping`, notifications, `tools/list`,
    /// `resources/list`, `resources/templates/list`, `prompts/list`) is allowed either way
    /// unless a rule denies it.
    #[serde(default)]
    pub default: Effect,
    #[serde(default)]
    pub rules: Vec<RuleDocument>,
}

/// One rule. It matches a call when the method is one of `methods` (any when empty), the target
/// matches one of `targets` (any when empty) and `when` holds (always when absent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    /// Unique within the policy; named in denials, logs, metrics and errors.
    #[schema(example = "read-only-group")]
    pub name: String,
    pub effect: Effect,
    /// JSON-RPC methods, compared exactly (`tools/call`, `resources/read`, `prompts/get`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Tool names, resource URIs or prompt names, compared exactly byte for byte; a trailing `*`
    /// matches any rest (`read_*`). A call without a target never matches a rule with targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// A CEL condition over `user` (`sub`, `email`, `name`, `groups`, `roles`, `claims`),
    /// `token` (`scopes`, `client_id`), `tenant` and `request` (`method`, `target`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "'editors' in user.groups")]
    pub when: Option<String>,
    /// `allow` rules only: scopes the token must carry. A call the rule matches without them is
    /// answered `403 insufficient_scope` naming them, so that the client can step up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}
