//! OpenID Connect discovery documents, cached for an hour per issuer.

use std::{sync::Arc, time::Duration};

use moka::future::Cache;
use serde::Deserialize;
use url::Url;

use super::{UpstreamError, http::get_json};

#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    #[serde(default)]
    pub userinfo_endpoint: Option<Url>,
    #[serde(default)]
    pub jwks_uri: Option<Url>,
    #[serde(default)]
    pub revocation_endpoint: Option<Url>,
}

#[derive(Clone)]
pub struct DiscoveryCache {
    http: reqwest::Client,
    cache: Cache<String, Arc<Discovery>>,
}

impl DiscoveryCache {
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            cache: Cache::builder()
                .time_to_live(Duration::from_secs(3600))
                .max_capacity(1_000)
                .build(),
        }
    }

    /// The issuer's document; concurrent callers share one fetch. The document must name the
    /// issuer it was fetched for (OIDC Discovery section 4.3), or mix-up attacks get easy; the
    /// one exception is Entra's `{tenantid}` template (see `provider::entra`).
    pub async fn get(&self, issuer: &str) -> Result<Arc<Discovery>, UpstreamError> {
        let issuer = issuer.trim_end_matches('/').to_owned();
        let http = self.http.clone();
        self.cache
            .try_get_with(issuer.clone(), async move {
                let url = Url::parse(&format!("{issuer}/.well-known/openid-configuration"))
                    .map_err(|_| UpstreamError::Config("issuer is not a URL".into()))?;
                let doc: Discovery = get_json(&http, url, None).await?;
                if !super::provider::entra::discovery_names(&doc.issuer, &issuer) {
                    return Err(UpstreamError::Protocol(
                        "discovery document names another issuer".into(),
                    ));
                }
                Ok(Arc::new(doc))
            })
            .await
            .map_err(|e: Arc<UpstreamError>| match &*e {
                UpstreamError::Rejected(s) => UpstreamError::Rejected(s.clone()),
                UpstreamError::Unavailable {
                    reason,
                    retry_after,
                } => UpstreamError::Unavailable {
                    reason: reason.clone(),
                    retry_after: *retry_after,
                },
                UpstreamError::Protocol(s) => UpstreamError::Protocol(s.clone()),
                UpstreamError::Config(s) => UpstreamError::Config(s.clone()),
            })
    }
}
