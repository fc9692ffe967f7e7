//! The fault suite: the real bridge against a real Postgres and the fake IdP, with a TCP fault
//! proxy (`support::fault_proxy`) in front of either, and the bridge as a child process
//! (`support::bridge_process`) where a test kills or signals it. Each module is one kind of
//! fault; each test produces the fault and asserts what a client and an operator see.

mod database_outage;
mod idp_slow_refresh;
mod missing_sealing_key;
mod proxy_self_test;
mod refresh_support;
mod replica_killed_mid_refresh;
mod shutdown_streams;
mod startup;
mod two_replicas_fresh_database;
mod userinfo_failures;
