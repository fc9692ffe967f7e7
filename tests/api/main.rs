//! One test binary (fast to link), one module per concern. Each `#[sqlx::test]` gets its own
//! fresh database from the Postgres named by `DATABASE_URL` in `.env`.

mod admin;
mod bootstrap;
mod cli;
mod client_metadata_document;
mod compose;
mod config_file;
mod consent;
mod demo_mcp_server;
mod deploy_metrics;
mod embedded_postgres;
mod fake_idp;
mod faults;
mod gateway;
mod health;
mod helpers;
mod migrations;
mod no_secrets_in_logs;
mod oauth_errors;
mod oauth_flow;
mod oauth_isolation;
mod oauth_races;
mod oauth_support;
mod providers;
mod proxy;
mod refresh;
mod registration;
mod registration_hostile;
mod replicas;
mod serving;
mod signing_keys;
#[path = "../support/mod.rs"]
mod support;
mod sweeper;
mod token_exchange;
