//! Remote MCP servers with their own OAuth (issue 18), end to end against real processes: the
//! bridge, the fake IdP the users log in with, and the fake remote MCP server that is its own
//! authorization server.

mod connect;
mod connect_binding;
mod disconnect;
mod policy;
mod refresh;
mod support;
