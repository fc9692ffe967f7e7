//! One test binary (fast to link), one module per concern. Each `#[sqlx::test]` gets its own
//! fresh database from the Postgres named by `DATABASE_URL` in `.env`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test crate: a failed assumption should stop it loudly; the lint fence is for src/"
)]

mod admin;
mod app_support;
mod bootstrap;
mod cli;
mod client_coherence;
mod client_metadata_document;
mod compose;
mod config_file;
mod config_reference;
mod consent;
mod consoles;
mod deploy_metrics;
mod embedded_postgres;
mod fake_idp;
mod faults;
mod gateway;
mod health;
mod lingering_close;
mod migrations;
mod no_secrets_in_logs;
mod oauth;
mod oauth_flow;
mod oauth_isolation;
mod oauth_races;
mod oauth_support;
mod policy;
mod providers;
mod proxy;
mod refresh;
mod registration;
mod registration_hostile;
mod remote;
mod replicas;
mod revocation_feed;
mod revocation_is_transactional;
mod serving;
mod signing_keys;
#[path = "../support/mod.rs"]
mod support;
mod sweeper;
mod token_exchange;
mod traces;
