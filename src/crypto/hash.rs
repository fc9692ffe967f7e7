//! Lookup hashes of secrets: what the database stores instead of codes, refresh tokens and
//! client secrets, and what logs show instead of tokens.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of a high-entropy secret. No salt is needed: the inputs are 256-bit random tokens,
/// and the hash must be deterministic to serve as a lookup key.
pub fn sha256(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

/// Lowercase hex SHA-256, the form admin token hashes take in the configuration.
pub fn sha256_hex(value: &[u8]) -> String {
    hex(&sha256(value))
}

/// The first 8 hex digits of the SHA-256: enough to correlate log lines, useless to an attacker.
pub fn fingerprint(secret: &str) -> String {
    sha256_hex(secret.as_bytes())[..8].to_string()
}

/// Compares two secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_fingerprint_is_a_short_prefix() {
        assert_eq!(fingerprint("abc"), "ba7816bf");
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane"));
        assert!(!constant_time_eq(b"same", b"same!"));
    }
}
