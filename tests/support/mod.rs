//! Real servers and processes the tests talk to over loopback: the fake upstream IdP, a TCP
//! fault proxy to put in front of Postgres or the IdP, the bridge as a child process.
#![allow(dead_code)]

// Only in the test binary: the benchmarks (examples) include this module without the binary.
#[cfg(test)]
pub mod bridge_process;
pub mod fake_idp;
pub mod fake_remote_mcp;
pub mod fault_proxy;
pub mod otlp_receiver;
