//! Upstream JWKS, cached per URL. An unknown `kid` refetches at most once per 30 seconds
//! (go-oidc #482): forged tokens with random kids cannot make us flood the IdP.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{DecodingKey, jwk::JwkSet};
use moka::future::Cache;
use tokio::sync::Mutex;
use url::Url;

use super::{UpstreamError, http::get_json};

pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

struct Entry {
    set: JwkSet,
    fetched_at: Instant,
}

#[derive(Clone)]
pub struct JwksCache {
    http: reqwest::Client,
    cache: Cache<String, Arc<Mutex<Option<Entry>>>>,
}

impl JwksCache {
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            cache: Cache::builder()
                .time_to_live(Duration::from_secs(24 * 3600))
                .max_capacity(1_000)
                .build(),
        }
    }

    /// The key with `kid` from the set at `url`. The per-URL mutex makes concurrent misses share
    /// one fetch; it guards only this URL's entry, never other providers.
    pub async fn key(
        &self,
        url: &Url,
        kid: Option<&str>,
    ) -> Result<Option<DecodingKey>, UpstreamError> {
        let slot = self
            .cache
            .get_with(url.to_string(), async { Arc::new(Mutex::new(None)) })
            .await;
        let mut entry = slot.lock().await;
        if let Some(found) = entry.as_ref().and_then(|e| find(&e.set, kid)) {
            return Ok(Some(found));
        }
        let stale = entry
            .as_ref()
            .is_none_or(|e| e.fetched_at.elapsed() >= REFETCH_INTERVAL);
        if !stale {
            return Ok(None);
        }
        let set: JwkSet = get_json(&self.http, url.clone(), None).await?;
        let found = find(&set, kid);
        *entry = Some(Entry {
            set,
            fetched_at: Instant::now(),
        });
        Ok(found)
    }
}

fn find(set: &JwkSet, kid: Option<&str>) -> Option<DecodingKey> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None => match set.keys.as_slice() {
            [only] => only,
            _ => return None,
        },
    };
    DecodingKey::from_jwk(jwk).ok()
}
