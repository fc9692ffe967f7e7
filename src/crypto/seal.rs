//! AES-256-GCM sealing of secrets at rest (upstream tokens, private keys).
//!
//! Every ciphertext travels with the id of the key that sealed it, so keys can rotate: the
//! active key seals, every configured key opens. The caller passes an `aad` naming what the
//! secret is and whose it is (`grant:{id}:refresh`), so a ciphertext copied into another row
//! does not open.

use std::collections::BTreeMap;

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD},
};
use hmac::{Hmac, Mac};

const NONCE_LEN: usize = 12;

/// A sealed secret as stored: the sealing key's id and `nonce || ciphertext || tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub blob: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealed {{ key_id: {:?}, {} bytes }}",
            self.key_id,
            self.blob.len()
        )
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("no sealing key with id {0:?} is configured")]
    UnknownKey(String),
    #[error("sealed value is corrupt or was tampered with")]
    Tampered,
    #[error("no sealing key configured (set crypto.keys or dev_mode = true)")]
    NoKey,
}

/// The keyring: one active key that seals, all keys open.
#[derive(Clone)]
pub struct Sealer {
    active: String,
    keys: BTreeMap<String, [u8; 32]>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("active", &self.active)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Decodes a configured key: 32 bytes in standard or URL-safe base64.
pub fn decode_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .and_then(|bytes| bytes.try_into().ok())
}

impl Sealer {
    /// Builds the keyring from configured keys (id, base64 text) and the active key's id,
    /// handed over by the configuration so sealing knows nothing of its shape. With no keys and
    /// `dev_mode`, an ephemeral key is generated (secrets sealed with it are lost at restart);
    /// the caller warns loudly. Keys that do not decode were refused by validation already.
    pub fn from_keys<'a>(
        active: Option<&str>,
        keys: impl IntoIterator<Item = (&'a str, &'a str)>,
        dev_mode: bool,
    ) -> Result<(Self, bool), SealError> {
        let configured: Vec<_> = keys.into_iter().collect();
        if configured.is_empty() {
            return if dev_mode {
                Ok((
                    Self::single("ephemeral", super::random::bytes::<32>()),
                    true,
                ))
            } else {
                Err(SealError::NoKey)
            };
        }
        let keys: BTreeMap<_, _> = configured
            .into_iter()
            .filter_map(|(id, key)| decode_key(key).map(|k| (id.to_owned(), k)))
            .collect();
        let active = active
            .map(str::to_owned)
            .or_else(|| keys.keys().next().cloned())
            .ok_or(SealError::NoKey)?;
        if !keys.contains_key(&active) {
            return Err(SealError::UnknownKey(active));
        }
        Ok((Self { active, keys }, false))
    }

    /// A keyring with one key, for tests and dev mode.
    pub fn single(id: &str, key: [u8; 32]) -> Self {
        Self {
            active: id.to_owned(),
            keys: BTreeMap::from([(id.to_owned(), key)]),
        }
    }

    /// The active key's bytes.
    #[allow(
        clippy::indexing_slicing,
        reason = "both constructors (`from_config`, `single`) put the active id in `keys`, which is never changed after"
    )]
    fn active_key(&self) -> &[u8; 32] {
        &self.keys[&self.active]
    }

    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Ids of every configured key (those that can open).
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Sealed {
        let key = self.active_key();
        let cipher = Aes256Gcm::new(key.into());
        let nonce = super::random::bytes::<NONCE_LEN>();
        let payload = Payload {
            msg: plaintext,
            aad: aad.as_bytes(),
        };
        // Encryption with a valid 32-byte key and 12-byte nonce cannot fail for our sizes.
        let ciphertext = cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Sealed {
            key_id: self.active.clone(),
            blob,
        }
    }

    pub fn open(&self, sealed: &Sealed, aad: &str) -> Result<Vec<u8>, SealError> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| SealError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.blob.len() < NONCE_LEN + 16 {
            return Err(SealError::Tampered);
        }
        let (nonce, ciphertext) = sealed.blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Tampered)?;
        Aes256Gcm::new(key.into())
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Tampered)
    }

    pub fn seal_str(&self, plaintext: &str, aad: &str) -> Sealed {
        self.seal(plaintext.as_bytes(), aad)
    }

    pub fn open_string(&self, sealed: &Sealed, aad: &str) -> Result<String, SealError> {
        String::from_utf8(self.open(sealed, aad)?).map_err(|_| SealError::Tampered)
    }

    /// A key for another purpose (e.g. signing consent cookies), derived from the active
    /// sealing key so that every replica that shares the keyring shares it too.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        #[allow(
            clippy::expect_used,
            reason = "HMAC takes keys of any length (RFC 2104 section 2): new_from_slice cannot fail"
        )]
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.active_key())
            .expect("HMAC accepts keys of any length");
        mac.update(b"mcp-auth-bridge derived key v1:");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(active: &str, keys: &[(&str, [u8; 32])]) -> Sealer {
        let encoded: Vec<(&str, String)> = keys
            .iter()
            .map(|(id, k)| (*id, STANDARD.encode(k)))
            .collect();
        let pairs = encoded.iter().map(|(id, k)| (*id, k.as_str()));
        Sealer::from_keys(Some(active), pairs, false).unwrap().0
    }

    #[test]
    fn sealing_round_trips() {
        let sealer = Sealer::single("k1", [7; 32]);
        let sealed = sealer.seal_str("upstream-refresh-token", "grant:1:refresh");
        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed.blob.windows(7).any(|w| w == b"upstream"));
        assert_eq!(
            sealer.open_string(&sealed, "grant:1:refresh").unwrap(),
            "upstream-refresh-token"
        );
    }

    #[test]
    fn a_flipped_bit_is_detected() {
        let sealer = Sealer::single("k1", [7; 32]);
        let mut sealed = sealer.seal_str("secret", "a");
        let last = sealed.blob.len() - 1;
        sealed.blob[last] ^= 1;
        assert_eq!(sealer.open(&sealed, "a"), Err(SealError::Tampered));
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_does_not_open() {
        let sealer = Sealer::single("k1", [7; 32]);
        let sealed = sealer.seal_str("secret", "grant:1:access");
        assert_eq!(
            sealer.open(&sealed, "grant:2:access"),
            Err(SealError::Tampered)
        );
    }

    #[test]
    fn a_truncated_blob_is_tampered_not_a_panic() {
        let sealer = Sealer::single("k1", [7; 32]);
        let sealed = Sealed {
            key_id: "k1".into(),
            blob: vec![1, 2, 3],
        };
        assert_eq!(sealer.open(&sealed, "a"), Err(SealError::Tampered));
    }

    #[test]
    fn an_older_key_still_opens_what_it_sealed_after_rotation() {
        let old = keyring("k1", &[("k1", [1; 32])]);
        let sealed = old.seal_str("secret", "a");
        let rotated = keyring("k2", &[("k1", [1; 32]), ("k2", [2; 32])]);
        assert_eq!(rotated.open_string(&sealed, "a").unwrap(), "secret");
        assert_eq!(rotated.seal_str("new", "a").key_id, "k2");
    }

    #[test]
    fn a_value_sealed_with_a_removed_key_names_the_missing_key() {
        let sealed = Sealer::single("gone", [1; 32]).seal_str("secret", "a");
        let sealer = Sealer::single("k2", [2; 32]);
        assert_eq!(
            sealer.open(&sealed, "a"),
            Err(SealError::UnknownKey("gone".into()))
        );
    }

    #[test]
    fn without_keys_only_dev_mode_gets_an_ephemeral_key() {
        assert_eq!(
            Sealer::from_keys(None, [], false).err(),
            Some(SealError::NoKey)
        );
        let (sealer, ephemeral) = Sealer::from_keys(None, [], true).unwrap();
        assert!(ephemeral);
        assert_eq!(
            sealer.open_string(&sealer.seal_str("x", "a"), "a").unwrap(),
            "x"
        );
    }

    #[test]
    fn keys_decode_from_standard_and_url_safe_base64_and_must_be_32_bytes() {
        let key = [250u8; 32];
        assert_eq!(decode_key(&STANDARD.encode(key)), Some(key));
        assert_eq!(decode_key(&URL_SAFE_NO_PAD.encode(key)), Some(key));
        assert_eq!(decode_key(&STANDARD.encode([1u8; 16])), None);
        assert_eq!(decode_key("not base64!"), None);
    }
}
