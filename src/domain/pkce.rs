//! PKCE (RFC 7636) with the S256 method only, as OAuth 2.1 and the MCP specification require.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A client's `code_challenge`: BASE64URL(SHA256(verifier)), always 43 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkceChallenge(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PkceError {
    #[error("code_challenge is required")]
    MissingChallenge,
    #[error("code_challenge_method must be S256")]
    UnsupportedMethod,
    #[error("code_challenge must be 43 base64url characters")]
    MalformedChallenge,
    #[error("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")]
    MalformedVerifier,
}

impl PkceChallenge {
    /// Parses the pair from an authorization request; the method defaults to `plain` in RFC 7636,
    /// which we refuse, so an absent method is an error too.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, PkceError> {
        let challenge = challenge
            .filter(|c| !c.is_empty())
            .ok_or(PkceError::MissingChallenge)?;
        if method != Some("S256") {
            return Err(PkceError::UnsupportedMethod);
        }
        let ok = challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks a `code_verifier` against this challenge in constant time.
    pub fn verify(&self, verifier: &str) -> Result<bool, PkceError> {
        validate_verifier(verifier)?;
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Ok(bool::from(computed.as_bytes().ct_eq(self.0.as_bytes())))
    }
}

/// RFC 7636 section 4.1: 43–128 characters of the unreserved set.
pub fn validate_verifier(verifier: &str) -> Result<(), PkceError> {
    let ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if ok {
        Ok(())
    } else {
        Err(PkceError::MalformedVerifier)
    }
}

/// The S256 challenge of a verifier (used when the bridge itself is the client upstream).
pub fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_7636_example_verifies() {
        let c = PkceChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        assert_eq!(c.verify(VERIFIER), Ok(true));
        assert_eq!(challenge_for(VERIFIER), CHALLENGE);
    }

    #[test]
    fn a_wrong_verifier_does_not_verify() {
        let c = PkceChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        assert_eq!(c.verify(&"a".repeat(43)), Ok(false));
    }

    #[test]
    fn plain_and_missing_methods_are_refused() {
        assert_eq!(
            PkceChallenge::parse(Some(CHALLENGE), Some("plain")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            PkceChallenge::parse(Some(CHALLENGE), None),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            PkceChallenge::parse(None, Some("S256")),
            Err(PkceError::MissingChallenge)
        );
    }

    #[test]
    fn verifiers_outside_43_to_128_unreserved_characters_are_malformed() {
        assert_eq!(
            validate_verifier(&"a".repeat(42)),
            Err(PkceError::MalformedVerifier)
        );
        assert_eq!(
            validate_verifier(&"a".repeat(129)),
            Err(PkceError::MalformedVerifier)
        );
        assert_eq!(
            validate_verifier(&format!("{}!", "a".repeat(43))),
            Err(PkceError::MalformedVerifier)
        );
        assert!(validate_verifier(&"a~._-".repeat(9)).is_ok());
    }
}
