//! Handing the configured sealing keys to the keyring: configuration knows crypto's
//! constructor, crypto knows nothing of configuration.

use super::CryptoConfig;
use crate::crypto::{Sealer, seal::SealError};

impl CryptoConfig {
    /// The keyring of these keys; with none and `dev_mode`, an ephemeral one (`true`).
    pub fn sealer(&self, dev_mode: bool) -> Result<(Sealer, bool), SealError> {
        let keys = self
            .keys
            .iter()
            .map(|(id, key)| (id.as_str(), key.expose().as_str()));
        Sealer::from_keys(self.active_key.as_deref(), keys, dev_mode)
    }
}
