//! Real servers the tests talk to over loopback: the fake upstream IdP.
#![allow(dead_code)]

pub mod fake_idp;
