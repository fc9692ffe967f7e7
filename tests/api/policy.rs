//! Per-tool authorization at the gateway (issue 16): claims mapped from the IdP, policies per
//! MCP server enforced on JSON-RPC calls, filtered lists, step-up, the admin API.

mod admin_api;
mod claims;
mod enforcement;
mod lists;
mod step_up;
mod support;
