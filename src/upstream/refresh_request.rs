//! The refresh-token grant at an upstream token endpoint (RFC 6749 section 6), one attempt.
//!
//! Only the coordinator in [`super::refresh`] calls this: it makes sure one request per grant
//! runs at a time, retries transient failures and stores the answer before anyone uses it.

use chrono::{DateTime, Utc};

use super::{
    Upstream, UpstreamError, provider,
    token_endpoint::{self, TokenAnswer},
};
use crate::domain::UpstreamProvider;

impl Upstream {
    /// Trades `refresh_token` for new tokens. No `scope` is sent: the IdP then grants the
    /// original scopes (section 6), which is what a silent refresh should get. A missing
    /// `refresh_token` in the answer means "keep the one you have" (Google); the caller decides.
    pub async fn refresh_tokens(
        &self,
        tenant: &str,
        provider: &UpstreamProvider,
        refresh_token: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenAnswer, UpstreamError> {
        let endpoints = self.endpoints(tenant, provider).await?;
        let (client_id, secret) = self.token_client(tenant, provider).await?;
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
        token_endpoint::request(&self.http, &endpoints.token, &creds, form, now, lifetime).await
    }
}
