//! Session ids and token fingerprints. Copies of the bridge's own (`crypto::random::token`,
//! `crypto::hash::fingerprint`): this crate must not depend on the bridge it stands behind.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// 32 random bytes from the OS, base64url without padding: unguessable session ids.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The first 8 hex digits of the SHA-256: enough to correlate, useless to an attacker.
pub(crate) fn fingerprint(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
