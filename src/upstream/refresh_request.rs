//! The refresh-token grant at an upstream token endpoint (RFC 6749 section 6), one attempt.
//!
//! Only the coordinator in [`super::refresh`] calls this: it makes sure one request per grant
//! runs at a time, retries only what the IdP provably did not process, and stores the answer
//! before anyone uses it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    Upstream, UpstreamError,
    error::Delivery,
    provider,
    token_endpoint::{self, TokenAnswer},
};
use crate::domain::UpstreamProvider;

impl Upstream {
    /// Trades `refresh_token` for new tokens, waiting up to `timeout` for the answer. No `scope`
    /// is sent: the IdP then grants the original scopes (section 6), which is what a silent
    /// refresh should get. A missing `refresh_token` in the answer means "keep the one you have"
    /// (Google); the caller decides. A failure says whether the IdP may have processed the
    /// request ([`Delivery`]); failures before the request left are `NotProcessed`.
    pub async fn refresh_tokens(
        &self,
        tenant: &str,
        provider: &UpstreamProvider,
        refresh_token: &str,
        now: DateTime<Utc>,
        timeout: Duration,
    ) -> Result<TokenAnswer, (UpstreamError, Delivery)> {
        let not_sent = |e| (e, Delivery::NotProcessed);
        let endpoints = self.endpoints(tenant, provider).await.map_err(not_sent)?;
        let (client_id, secret) = self
            .token_client(tenant, provider)
            .await
            .map_err(not_sent)?;
        let creds = token_endpoint::ClientCredentials {
            client_id: &client_id,
            client_secret: secret.as_deref(),
            auth: provider::client_auth(provider.kind),
        };
        let form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        let lifetime = provider
            .default_token_lifetime_seconds
            .map(chrono::Duration::seconds);
        token_endpoint::send(
            &self.http,
            &endpoints.token,
            &creds,
            form,
            now,
            lifetime,
            Some(timeout),
        )
        .await
    }
}
