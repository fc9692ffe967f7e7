//! The refresh coordinator (issue 4): one upstream refresh per grant however many callers and
//! replicas race, the rotated token committed before use, transient IdP trouble never ending a
//! grant. Call counts on the fake IdP are the assertions.

mod faults;
mod rejection;
mod replicas;
mod rotation;
mod single_flight;
pub mod support;
