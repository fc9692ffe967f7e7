//! Per-tool authorization: which JSON-RPC calls a user may make to an MCP server, decided from
//! the user's claims, the token's scopes and client, and the tenant.
//!
//! A policy is an ordered list of rules over the JSON-RPC method and its target (the tool name
//! of `tools/call`, the URI of `resources/read`, the prompt name of `prompts/get`), each with an
//! optional condition in CEL (the Common Expression Language, through the `cel` crate). Rules are
//! compiled once when the policy is loaded ([`Policy::compile`]); an invalid rule is refused with
//! an error naming it. The first rule that matches decides; when none does, the server's default
//! decides (allow unless the server says deny), except for the protocol's own housekeeping
//! (`initialize`, `ping`, notifications, the `*/list` methods), which only a rule can deny.
//!
//! [`jsonrpc`] reads request bodies strictly (duplicate keys refused, names compared as the
//! exact strings the MCP server will decode) and [`lists`] filters list results to what the
//! user may use. Nothing here does IO: the gateway enforces, the admin API dry-runs.

mod compile;
pub mod document;
mod evaluate;
mod input;
pub mod jsonrpc;
pub mod lists;
mod native;
mod native_parse;
mod rules;

pub use compile::PolicyError;
pub use document::{Effect, PolicyDocument, RuleDocument};
pub use evaluate::{Call, Decision, Evaluation, Subject};
pub use rules::Policy;
