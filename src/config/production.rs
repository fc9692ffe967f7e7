//! Rules that separate a production configuration from a demo one (issue 11, item 5).
//!
//! Outside `dev_mode` the bridge refuses to start with secrets that someone else knows: sealing
//! keys that are all one byte, published, or plainly not random; the admin hash of an empty
//! token or an all-zero placeholder; `change-me`-style client secrets. And `dev_mode` itself,
//! which seals with an ephemeral key and enables the one-click `dev` provider, is refused unless
//! both `public_url` and `server.bind` are loopback, so it cannot face a network by mistake.

use std::net::IpAddr;

use super::{model::Config, problem::Problem};

/// Sealing keys that are public: the example configuration's former all-zero key is caught by
/// the entropy rule; these are well-formed keys published in this repository's history and
/// documentation (the tests' old key).
const KNOWN_KEYS: [&str; 1] = ["dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0="];

/// 32 random bytes have ~30 distinct values; fewer than 16 is a passphrase or a pattern (the
/// chance of a random key having so few is below 10^-20).
const MIN_DISTINCT_KEY_BYTES: usize = 16;

/// SHA-256 of the empty string: the hash of an admin token nobody set.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Placeholders operators are told to replace, compared case-insensitively as prefixes.
const PLACEHOLDERS: [&str; 4] = ["change-me", "changeme", "change_me", "replace-me"];

pub(super) fn check(config: &Config, out: &mut Vec<Problem>) {
    if config.dev_mode {
        check_dev_mode_is_local(config, out);
        return;
    }
    check_sealing_keys(config, out);
    check_admin_hashes(config, out);
    check_client_secrets(config, out);
}

fn check_dev_mode_is_local(config: &Config, out: &mut Vec<Problem>) {
    if !super::validate::is_loopback_url(&config.public_url) {
        out.push(Problem::new(
            "dev_mode",
            "is only for a loopback public_url (127.0.0.1, ::1, localhost): dev_mode seals \
             with an ephemeral key and enables the one-click dev login",
        ));
    }
    if !is_loopback_ip(config.server.bind.ip()) {
        out.push(Problem::new(
            "dev_mode",
            format!(
                "is only for a loopback server.bind (it is {}): dev_mode must not face a network",
                config.server.bind.ip()
            ),
        ));
    }
}

fn check_sealing_keys(config: &Config, out: &mut Vec<Problem>) {
    for (id, key) in &config.crypto.keys {
        let text = key.expose().trim();
        let Some(bytes) = crate::crypto::seal::decode_key(text) else {
            continue; // already reported as malformed
        };
        if KNOWN_KEYS.contains(&text) {
            out.push(Problem::new(
                format!("crypto.keys.{id}"),
                "is a published example key; generate one with `openssl rand -base64 32`",
            ));
        } else if distinct_bytes(&bytes) < MIN_DISTINCT_KEY_BYTES {
            out.push(Problem::new(
                format!("crypto.keys.{id}"),
                "is not random (too few distinct bytes: a pattern or a passphrase); generate \
                 one with `openssl rand -base64 32`",
            ));
        }
    }
}

fn distinct_bytes(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn check_admin_hashes(config: &Config, out: &mut Vec<Problem>) {
    for (i, token) in config.admin.tokens.iter().enumerate() {
        let hash = token.sha256.as_str();
        let one_digit = hash.bytes().all(|b| Some(&b) == hash.as_bytes().first());
        if one_digit || hash == EMPTY_SHA256 {
            out.push(Problem::new(
                format!("admin.tokens[{i}].sha256"),
                "is a placeholder (or the hash of an empty token); set the SHA-256 of a random \
                 token: `openssl rand -hex 32 | tee token | tr -d '\\n' | sha256sum`",
            ));
        }
    }
}

fn check_client_secrets(config: &Config, out: &mut Vec<Problem>) {
    for (i, tenant) in config.tenants.iter().enumerate() {
        for (j, provider) in tenant.providers.iter().enumerate() {
            if provider
                .client_secret
                .as_ref()
                .is_some_and(|s| is_placeholder(s.expose()))
            {
                out.push(placeholder(format!(
                    "tenants[{i}].providers[{j}].client_secret"
                )));
            }
        }
        for (j, server) in tenant.mcp_servers.iter().enumerate() {
            if server
                .token_exchange
                .as_ref()
                .is_some_and(|tx| is_placeholder(tx.client_secret.expose()))
            {
                out.push(placeholder(format!(
                    "tenants[{i}].mcp_servers[{j}].token_exchange.client_secret"
                )));
            }
        }
    }
}

fn is_placeholder(secret: &str) -> bool {
    let secret = secret.trim().to_ascii_lowercase();
    PLACEHOLDERS.iter().any(|p| secret.starts_with(p))
}

fn placeholder(key: String) -> Problem {
    Problem::new(
        key,
        "is a placeholder (change-me…); set the real secret, e.g. through the environment",
    )
}

/// Whether `ip` is a loopback address, IPv4-mapped forms included.
fn is_loopback_ip(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_few_distinct_bytes_are_not_random() {
        assert_eq!(distinct_bytes(&[0; 32]), 1);
        assert_eq!(distinct_bytes(b"test-key-test-key-test-key-test-"), 6);
        assert!(is_placeholder("Change-Me-to-16+chars"));
        assert!(!is_placeholder("a real secret"));
    }
}
