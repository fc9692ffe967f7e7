//! Talking to upstream identity providers: endpoints (defaults, discovery, overrides), the
//! authorization redirect (PKCE, state, nonce), code exchange, ID-token validation, userinfo.
//! Knows nothing of the bridge's own HTTP endpoints.

pub mod discovery;
pub mod error;
pub mod http;
pub mod id_token;
pub mod jwks;
pub mod provider;
pub mod refresh;
mod refresh_request;
pub mod token_endpoint;
pub mod userinfo;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use oauth2::{
    AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope, TokenUrl,
    basic::BasicClient,
};
use sqlx::PgPool;
use url::Url;

pub use error::UpstreamError;
pub use provider::Endpoints;

use crate::{
    crypto::Sealer,
    domain::{ClaimMapping, MappedClaims, Secret, UpstreamProvider, UpstreamTokens, UserContext},
    store,
    urls::BridgeUrls,
};

/// Where the browser goes upstream, and what must be kept to finish the login.
pub struct AuthorizationRedirect {
    pub url: Url,
    pub state: Secret<String>,
    pub pkce_verifier: Secret<String>,
    pub nonce: String,
}

/// The outcome of a successful upstream login.
pub struct Login {
    pub tokens: UpstreamTokens,
    /// Its `mapped` claims are userinfo's and the ID token's together.
    pub user: UserContext,
    /// What the provider's claim mapping found in the ID token (empty without one): kept with
    /// the grant, so that a user context reloaded from userinfo has them too.
    pub id_token_claims: MappedClaims,
}

impl Login {
    /// What the grant stores of who logged in ([`UserContext::to_stored`]).
    pub fn stored(&self) -> Result<serde_json::Value, serde_json::Error> {
        self.user.to_stored(&self.id_token_claims)
    }
}

#[derive(Clone)]
pub struct Upstream {
    http: reqwest::Client,
    pool: PgPool,
    sealer: Arc<Sealer>,
    discovery: discovery::DiscoveryCache,
    jwks: jwks::JwksCache,
    urls: BridgeUrls,
    leeway_secs: u64,
}

impl Upstream {
    pub fn new(pool: PgPool, sealer: Arc<Sealer>, urls: BridgeUrls, leeway_secs: u64) -> Self {
        let http = http::client();
        Self {
            discovery: discovery::DiscoveryCache::new(http.clone()),
            jwks: jwks::JwksCache::new(http.clone()),
            http,
            pool,
            sealer,
            urls,
            leeway_secs,
        }
    }

    /// The same, with every upstream connection resolved through `resolver` (the SSRF guard for
    /// hosts the configuration file does not name). The client is rebuilt here, so call this
    /// before the value is cloned.
    pub fn with_resolver<R: reqwest::dns::Resolve + 'static>(mut self, resolver: Arc<R>) -> Self {
        match http::guarded_client(resolver) {
            Ok(guarded) => {
                self.discovery = discovery::DiscoveryCache::new(guarded.clone());
                self.jwks = jwks::JwksCache::new(guarded.clone());
                self.http = guarded;
            }
            // Only a TLS back-end that cannot start fails, and then the plain client cannot
            // reach anything either.
            Err(error) => tracing::error!(%error, "cannot build the guarded upstream client"),
        }
        self
    }

    /// The shared HTTP client (pooled connections to every upstream).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The bridge's redirect URI at the IdP: one per provider (mix-up defence, RFC 9700 4.4).
    pub fn callback_url(&self, tenant: &str, provider: &UpstreamProvider) -> Url {
        self.urls.callback(tenant, provider.name.as_str())
    }

    /// Where the built-in `dev` provider of a tenant is served.
    pub fn dev_base(&self, tenant: &str, provider: &UpstreamProvider) -> Url {
        self.urls.dev_idp_base(tenant, provider.name.as_str())
    }

    pub async fn endpoints(
        &self,
        tenant: &str,
        p: &UpstreamProvider,
    ) -> Result<Endpoints, UpstreamError> {
        if let Some(e) = provider::static_endpoints(p, &self.dev_base(tenant, p)) {
            return Ok(e);
        }
        if let (Some(auth), Some(token)) = (&p.authorization_url, &p.token_url) {
            // Every endpoint configured: no discovery needed (air-gapped installs, Docker setups).
            let parse = |s: &str| {
                Url::parse(s).map_err(|_| UpstreamError::Config("endpoint is not a URL".into()))
            };
            let e = Endpoints {
                issuer: p.issuer.clone(),
                authorization: parse(auth)?,
                token: parse(token)?,
                userinfo: None,
                jwks: None,
                revocation: None,
            };
            return Ok(provider::apply_overrides(e, p));
        }
        let issuer = p
            .issuer
            .as_deref()
            .ok_or_else(|| UpstreamError::Config("no issuer".into()))?;
        let d = self.discovery.get(issuer).await?;
        let e = Endpoints {
            issuer: Some(d.issuer.clone()),
            authorization: d.authorization_endpoint.clone(),
            token: d.token_endpoint.clone(),
            userinfo: d.userinfo_endpoint.clone(),
            jwks: d.jwks_uri.clone(),
            revocation: d.revocation_endpoint.clone(),
        };
        Ok(provider::apply_overrides(e, p))
    }

    pub fn scopes(p: &UpstreamProvider) -> Vec<String> {
        p.scopes.clone().unwrap_or_else(|| {
            provider::default_scopes(p.kind)
                .into_iter()
                .map(str::to_owned)
                .collect()
        })
    }

    /// Where to send a browser to sign in with `p`: its endpoints (discovered when not
    /// configured), then [`Self::authorization_redirect`]. The start of both logins, the MCP
    /// client's (after consent) and the account page's.
    pub async fn login_redirect(
        &self,
        tenant: &str,
        p: &UpstreamProvider,
    ) -> Result<AuthorizationRedirect, UpstreamError> {
        let endpoints = self.endpoints(tenant, p).await?;
        self.authorization_redirect(tenant, p, &endpoints)
    }

    /// Builds the upstream authorization URL with PKCE (S256), a fresh `state` and a nonce.
    pub fn authorization_redirect(
        &self,
        tenant: &str,
        p: &UpstreamProvider,
        endpoints: &Endpoints,
    ) -> Result<AuthorizationRedirect, UpstreamError> {
        let config = |_| UpstreamError::Config("bad endpoint URL".into());
        let client = BasicClient::new(ClientId::new(
            p.client_id
                .clone()
                .unwrap_or_else(|| "mcp-auth-bridge".into()),
        ))
        .set_auth_uri(AuthUrl::from_url(endpoints.authorization.clone()))
        .set_token_uri(TokenUrl::from_url(endpoints.token.clone()))
        .set_redirect_uri(
            RedirectUrl::new(self.callback_url(tenant, p).to_string()).map_err(config)?,
        );
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = crate::crypto::random::token();
        let scopes = Self::scopes(p);
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_scopes(scopes.iter().cloned().map(Scope::new));
        if provider::is_oidc(p, &scopes) {
            request = request.add_extra_param("nonce", nonce.clone());
        }
        for (k, v) in provider::extra_authorization_params(p.kind) {
            request = request.add_extra_param(k, v);
        }
        if let Some(audience) = provider::configured_audience(p) {
            request = request.add_extra_param("audience", audience.to_owned());
        }
        let (url, state) = request.url();
        Ok(AuthorizationRedirect {
            url,
            state: Secret::new(state.secret().clone()),
            pkce_verifier: Secret::new(verifier.secret().clone()),
            nonce,
        })
    }

    async fn client_secret(&self, p: &UpstreamProvider) -> Result<Option<String>, UpstreamError> {
        let internal =
            |e: &dyn std::fmt::Display| UpstreamError::Config(format!("client secret: {e}"));
        let mut conn = self.pool.acquire().await.map_err(|e| internal(&e))?;
        let sealed = store::providers::sealed_secret(&mut conn, p.tenant_id, p.name.as_str())
            .await
            .map_err(|e| internal(&e))?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let aad = format!("provider:{}:{}:client_secret", p.tenant_id, p.name);
        self.sealer
            .open_string(&sealed, &aad)
            .map(Some)
            .map_err(|e| internal(&e))
    }

    /// Exchanges the upstream code, validates the ID token when there is one, and fetches the
    /// user. `iss` is the RFC 9207 parameter of the callback, if the IdP sent one.
    pub async fn finish_login(
        &self,
        tenant: &str,
        p: &UpstreamProvider,
        code: &str,
        verifier: &str,
        nonce: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Login, UpstreamError> {
        let endpoints = self.endpoints(tenant, p).await?;
        let (client_id, secret) = self.token_client(tenant, p).await?;
        let creds = token_endpoint::ClientCredentials {
            client_id: &client_id,
            client_secret: secret.as_deref(),
            auth: provider::client_auth(p.kind),
        };
        let redirect = self.callback_url(tenant, p).to_string();
        let form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier),
        ];
        let lifetime = p
            .default_token_lifetime_seconds
            .map(chrono::Duration::seconds);
        let answer =
            token_endpoint::request(&self.http, &endpoints.token, &creds, form, now, lifetime)
                .await?;
        let id_claims = self
            .check_id_token(&answer, nonce, &endpoints, &client_id, now)
            .await?;
        let user = self
            .user(p, &endpoints, &answer, id_claims.as_ref())
            .await?;
        // OIDC Core 5.3.2: userinfo's `sub` is the ID token's. Kinds whose normalised subject
        // is another field (Salesforce's `user_id`; its `sub` is the identity URL) compare both.
        let userinfo_sub = user.claims.get("sub").and_then(serde_json::Value::as_str);
        if let Some(claims) = &id_claims
            && claims.sub != user.subject
            && Some(claims.sub.as_str()) != userinfo_sub
        {
            return Err(UpstreamError::Protocol(
                "userinfo subject differs from the ID token's".into(),
            ));
        }
        // Claims from the ID token too (issue 16), under the same mapping; userinfo's win.
        let mut user = user;
        let id_token_claims = id_claims
            .map(|claims| ClaimMapping::from_settings(&p.settings).apply(&claims.all))
            .unwrap_or_default();
        user.mapped =
            crate::domain::claims::merge(std::mem::take(&mut user.mapped), &id_token_claims);
        Ok(Login {
            tokens: answer.tokens,
            user,
            id_token_claims,
        })
    }

    /// The ID token's claims, validated (OIDC Core 3.1.3.7), when one came back with a nonce
    /// to check; an ID token that cannot be checked is an error, not ignored.
    async fn check_id_token(
        &self,
        answer: &token_endpoint::TokenAnswer,
        nonce: Option<&str>,
        endpoints: &provider::Endpoints,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<id_token::IdClaims>, UpstreamError> {
        match (&answer.id_token, nonce, &endpoints.jwks, &endpoints.issuer) {
            (Some(id_token), Some(nonce), Some(jwks), Some(issuer)) => {
                let issuer = provider::entra::issuer_for(issuer, id_token)
                    .unwrap_or_else(|| id_token::issuer_as_sent(issuer, id_token));
                let expected = id_token::Expected {
                    issuer: &issuer,
                    client_id,
                    nonce,
                    jwks,
                    now,
                    leeway_secs: self.leeway_secs,
                };
                Ok(Some(
                    id_token::validate(&self.jwks, id_token, &expected).await?,
                ))
            }
            (Some(_), Some(_), _, _) => Err(UpstreamError::Config(
                "an ID token came back but no issuer/JWKS is known to check it".into(),
            )),
            _ => Ok(None),
        }
    }

    /// Who logged in: from the userinfo endpoint when the provider has one, else from the ID
    /// token.
    async fn user(
        &self,
        p: &UpstreamProvider,
        endpoints: &provider::Endpoints,
        answer: &token_endpoint::TokenAnswer,
        id_claims: Option<&id_token::IdClaims>,
    ) -> Result<UserContext, UpstreamError> {
        Ok(match &endpoints.userinfo {
            Some(url) => {
                userinfo::fetch(
                    &self.http,
                    p,
                    url,
                    &answer.tokens.access_token,
                    &answer.tokens.extra,
                )
                .await?
            }
            None => {
                let claims = id_claims.ok_or_else(|| {
                    UpstreamError::Config("no userinfo endpoint and no ID token".into())
                })?;
                UserContext {
                    subject: claims.sub.clone(),
                    email: claims.email.clone(),
                    name: claims.name.clone(),
                    username: claims.preferred_username.clone(),
                    provider: p.name.to_string(),
                    claims: serde_json::Value::Null,
                    mapped: Default::default(),
                }
            }
        })
    }

    /// The bridge's client id and secret at a provider's token endpoint (the `dev` provider's
    /// secret is derived, every other one is opened from the store).
    pub(crate) async fn token_client(
        &self,
        tenant: &str,
        p: &UpstreamProvider,
    ) -> Result<(String, Option<String>), UpstreamError> {
        let secret = match p.kind {
            crate::domain::ProviderKind::Dev => Some(self.dev_client_secret(tenant, p)),
            _ => self.client_secret(p).await?,
        };
        let client_id = p
            .client_id
            .clone()
            .unwrap_or_else(|| "mcp-auth-bridge".into());
        Ok((client_id, secret))
    }

    /// The `dev` provider's client secret: derived from the sealing key, so it needs no config.
    pub fn dev_client_secret(&self, tenant: &str, p: &UpstreamProvider) -> String {
        crate::crypto::hash::hex(
            &self
                .sealer
                .derive_key(&format!("dev-idp-client:{tenant}:{}", p.name)),
        )
    }
}
