//! Revoking upstream tokens when a grant ends (RFC 7009), best effort: the caller logs failures
//! and carries on, since the bridge forgets the tokens either way.
//!
//! - RFC 7009 form POST (`token`, `token_type_hint`) to the revocation endpoint, with the
//!   kind's client authentication (Keycloak, OIDC, Salesforce, a configured Atlassian URL);
//!   Google takes the bare token.
//! - GitHub: `DELETE /applications/{client_id}/token` with Basic client credentials and a JSON
//!   `{"access_token": …}` body; only access tokens can be revoked that way.
//! - Kinds without a revocation endpoint (Atlassian, `dev`, OIDC providers whose discovery
//!   names none): nothing to do.

use serde_json::Value;

use super::ClientAuth;
use crate::{
    domain::{ProviderKind, UpstreamProvider},
    upstream::{
        Upstream, UpstreamError,
        http::{read_body, retry_after},
        provider,
    },
};

impl Upstream {
    /// Revokes one upstream token; `hint` is `access_token` or `refresh_token`. `Ok(())` when the
    /// provider has no revocation endpoint. Never logs the token.
    pub async fn revoke(
        &self,
        tenant: &str,
        p: &UpstreamProvider,
        token: &str,
        hint: &str,
    ) -> Result<(), UpstreamError> {
        let endpoints = self.endpoints(tenant, p).await?;
        let Some(url) = endpoints.revocation else {
            return Ok(());
        };
        let client_id = p
            .client_id
            .clone()
            .unwrap_or_else(|| "mcp-auth-bridge".into());
        let secret = match p.kind {
            ProviderKind::Dev => Some(self.dev_client_secret(tenant, p)),
            _ => self.client_secret(p).await?,
        };
        let request = if p.kind == ProviderKind::Github {
            if hint == "refresh_token" {
                // GitHub revokes access tokens only (which ends the refresh token's use too).
                return Ok(());
            }
            let secret = secret.ok_or_else(|| UpstreamError::Config("no client secret".into()))?;
            self.http()
                .delete(url)
                .basic_auth(&client_id, Some(&secret))
                .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                .json(&serde_json::json!({ "access_token": token }))
        } else {
            let mut form = vec![("token", token), ("token_type_hint", hint)];
            let mut request = self.http().post(url);
            match (provider::revocation_client_auth(p.kind), secret.as_deref()) {
                (Some(ClientAuth::Basic), Some(secret)) => {
                    let enc = |s: &str| {
                        url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                    };
                    request = request.basic_auth(enc(&client_id), Some(enc(secret)));
                }
                (Some(ClientAuth::Post), Some(secret)) => {
                    form.push(("client_id", &client_id));
                    form.push(("client_secret", secret));
                }
                (Some(_), None) => form.push(("client_id", &client_id)),
                (None, _) => {}
            }
            request
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&form)
        };
        let response = request
            .send()
            .await
            .map_err(|e| UpstreamError::from_transport(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry = retry_after(&response);
        let body = read_body(response).await.unwrap_or_default();
        let error = serde_json::from_slice::<Value>(&body).ok();
        let error = error.as_ref().and_then(|j| j.get("error")?.as_str());
        Err(UpstreamError::from_status(status, retry, error))
    }

    /// Revokes what a grant holds, the way each kind ends a whole grant: the refresh token
    /// where there is one (RFC 7009 section 2.1: its access tokens go with it), else the access
    /// token; GitHub always by the access token.
    pub async fn revoke_grant_tokens(
        &self,
        tenant: &str,
        p: &UpstreamProvider,
        access_token: Option<&str>,
        refresh_token: Option<&str>,
    ) -> Result<(), UpstreamError> {
        let refresh = refresh_token.filter(|_| p.kind != ProviderKind::Github);
        match (refresh, access_token) {
            (Some(refresh), _) => self.revoke(tenant, p, refresh, "refresh_token").await,
            (None, Some(access)) => self.revoke(tenant, p, access, "access_token").await,
            (None, None) => Ok(()),
        }
    }
}
