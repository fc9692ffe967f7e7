//! One test binary (fast to link), one module per concern. Each `#[sqlx::test]` gets its own
//! fresh database from the Postgres named by `DATABASE_URL` in `.env`.

#[path = "../support/mod.rs"]
mod support;

mod bootstrap;
mod cli;
mod compose;
mod config_file;
mod demo_mcp_server;
mod health;
mod helpers;
mod migrations;
mod sweeper;
