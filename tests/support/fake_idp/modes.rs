//! Where each provider puts its endpoints and how its answers differ.

use std::time::Duration;

use super::{FakeIdp, ProviderMode};

const HOUR: Duration = Duration::from_secs(3600);
/// GitHub App user tokens: 8 hours (`expires_in: 28800`).
pub const GITHUB_APP_TTL: Duration = Duration::from_secs(28_800);
/// GitHub App refresh tokens: 6 months (`refresh_token_expires_in: 15897600`).
pub const GITHUB_APP_REFRESH_TTL_SECS: u64 = 15_897_600;
/// Keycloak's realm in the fake.
pub const KEYCLOAK_REALM_PATH: &str = "/realms/test";
const KC: &str = "/realms/test/protocol/openid-connect";
/// The protected "upstream API" the gateway may call with the user's token.
pub const API_PATH: &str = "/api/resource";
pub const ACCESSIBLE_RESOURCES_PATH: &str = "/oauth/token/accessible-resources";
pub const GITHUB_EMAILS_PATH: &str = "/user/emails";
/// The directory (tenant) id of the fake's Entra mode, in its issuer and every ID token's `tid`.
pub const ENTRA_TENANT_ID: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
/// Entra's tenant-specific issuer path (`/{ENTRA_TENANT_ID}/v2.0`).
pub const ENTRA_ISSUER_PATH: &str = "/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9/v2.0";
/// Entra's multi-tenant issuer path, whose discovery names the `{tenantid}` template.
pub const ENTRA_COMMON_PATH: &str = "/common/v2.0";
const OKTA: &str = "/oauth2/default";
/// Salesforce's organisation id in identity URLs.
pub const SALESFORCE_ORG_ID: &str = "00DTESTORG000001";

use ProviderMode::*;

pub fn issuer_path(mode: ProviderMode) -> &'static str {
    match mode {
        Keycloak => KEYCLOAK_REALM_PATH,
        Entra => ENTRA_ISSUER_PATH,
        Okta => OKTA,
        // Auth0's issuer ends with `/`.
        Auth0 => "/",
        _ => "",
    }
}

pub fn authorize_path(mode: ProviderMode) -> String {
    match mode {
        Keycloak => format!("{KC}/auth"),
        Google => "/o/oauth2/v2/auth".into(),
        Salesforce => "/services/oauth2/authorize".into(),
        Github { .. } => "/login/oauth/authorize".into(),
        Oidc | Atlassian | Auth0 => "/authorize".into(),
        Entra => "/common/oauth2/v2.0/authorize".into(),
        Okta => format!("{OKTA}/v1/authorize"),
    }
}

pub fn token_path(mode: ProviderMode) -> String {
    match mode {
        Keycloak => format!("{KC}/token"),
        Google | Oidc => "/token".into(),
        Atlassian => "/oauth/token".into(),
        Salesforce => "/services/oauth2/token".into(),
        Github { .. } => "/login/oauth/access_token".into(),
        Entra => "/common/oauth2/v2.0/token".into(),
        Okta => format!("{OKTA}/v1/token"),
        Auth0 => "/oauth/token".into(),
    }
}

pub fn userinfo_path(mode: ProviderMode) -> String {
    match mode {
        Keycloak => format!("{KC}/userinfo"),
        Google => "/v1/userinfo".into(),
        Oidc => "/userinfo".into(),
        Atlassian => "/me".into(),
        Salesforce => "/services/oauth2/userinfo".into(),
        Github { .. } => "/user".into(),
        Entra => "/oidc/userinfo".into(),
        Okta => format!("{OKTA}/v1/userinfo"),
        Auth0 => "/userinfo".into(),
    }
}

pub fn jwks_path(mode: ProviderMode) -> String {
    match mode {
        Keycloak => format!("{KC}/certs"),
        Google => "/oauth2/v3/certs".into(),
        Salesforce => "/id/keys".into(),
        Oidc | Atlassian | Github { .. } => "/jwks".into(),
        Entra => "/common/discovery/v2.0/keys".into(),
        Okta => format!("{OKTA}/v1/keys"),
        Auth0 => "/.well-known/jwks.json".into(),
    }
}

/// GitHub revokes at `DELETE /applications/{client_id}/token`; the fake also takes an RFC 7009
/// form POST there.
pub fn revoke_path(mode: ProviderMode, client_id: &str) -> String {
    match mode {
        Keycloak => format!("{KC}/revoke"),
        Google | Oidc => "/revoke".into(),
        Atlassian => "/oauth/revoke".into(),
        Salesforce => "/services/oauth2/revoke".into(),
        Github { .. } => format!("/applications/{client_id}/token"),
        // Entra has no RFC 7009 endpoint (discovery names none); the route exists for tests.
        Entra => "/revoke".into(),
        Okta => format!("{OKTA}/v1/revoke"),
        Auth0 => "/oauth/revoke".into(),
    }
}

/// Modes that publish OIDC discovery and issue id tokens when `openid` is requested.
pub fn is_oidc(mode: ProviderMode) -> bool {
    matches!(
        mode,
        Keycloak | Oidc | Google | Salesforce | Entra | Okta | Auth0
    )
}

/// Modes that add RFC 9207 `iss` to the authorization response.
pub fn sends_iss(mode: ProviderMode) -> bool {
    matches!(mode, Keycloak | Oidc | Google)
}

pub fn requires_pkce(mode: ProviderMode) -> bool {
    !matches!(mode, Github { .. })
}

pub fn rotates_by_default(mode: ProviderMode) -> bool {
    matches!(
        mode,
        Keycloak | Oidc | Atlassian | Github { app: true } | Entra | Okta | Auth0
    )
}

/// How long a rotated-away refresh token still works: Okta's default grace period (30 s);
/// Entra does not revoke the old token at all; everyone else, not at all.
pub fn rotation_grace(mode: ProviderMode) -> Duration {
    match mode {
        Okta => Duration::from_secs(30),
        Entra => Duration::MAX,
        _ => Duration::ZERO,
    }
}

/// How long access tokens live when the test did not say (`None`: forever).
pub fn default_ttl(mode: ProviderMode) -> Option<Duration> {
    match mode {
        Github { app: false } => None,
        Github { app: true } => Some(GITHUB_APP_TTL),
        Salesforce => Some(2 * HOUR),
        _ => Some(HOUR),
    }
}

/// Salesforce and GitHub OAuth apps never send `expires_in`.
pub fn sends_expires_in(mode: ProviderMode) -> bool {
    !matches!(mode, Salesforce | Github { app: false })
}

/// Without rotation, Google and Salesforce omit `refresh_token` from refresh responses; the
/// others send the same token again.
pub fn echoes_refresh_token(mode: ProviderMode) -> bool {
    !matches!(mode, Google | Salesforce)
}

pub fn token_type(mode: ProviderMode) -> &'static str {
    match mode {
        Github { .. } => "bearer",
        _ => "Bearer",
    }
}

/// GitHub lists granted scopes comma-separated.
pub fn scope_separator(mode: ProviderMode) -> &'static str {
    match mode {
        Github { .. } => ",",
        _ => " ",
    }
}

/// Realistic-looking prefixes: (access, refresh).
pub fn token_prefixes(mode: ProviderMode) -> (&'static str, &'static str) {
    match mode {
        Google => ("ya29.", "1//"),
        Github { app: false } => ("gho_", "ghr_"),
        Github { app: true } => ("ghu_", "ghr_"),
        Salesforce => ("00DTEST!", "5Aep"),
        _ => ("at-", "rt-"),
    }
}

impl FakeIdp {
    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }
    /// Keycloak: `{base}/realms/test`; every other mode: `{base}`.
    pub fn issuer(&self) -> String {
        self.shared.issuer()
    }
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.shared.base)
    }
    pub fn authorization_url(&self) -> String {
        self.url(&authorize_path(self.shared.mode))
    }
    pub fn token_url(&self) -> String {
        self.url(&token_path(self.shared.mode))
    }
    /// Keycloak/OIDC/Google userinfo, Atlassian `/me`, Salesforce userinfo, GitHub `/user`.
    pub fn userinfo_url(&self) -> String {
        self.url(&userinfo_path(self.shared.mode))
    }
    pub fn jwks_url(&self) -> String {
        self.url(&jwks_path(self.shared.mode))
    }
    pub fn revocation_url(&self) -> String {
        self.url(&revoke_path(self.shared.mode, &self.shared.client_id))
    }
    /// `{issuer}/.well-known/openid-configuration` (served only by OIDC modes).
    pub fn discovery_url(&self) -> String {
        let issuer = self.issuer();
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    }
    /// Entra: the multi-tenant issuer `{base}/common/v2.0` (its discovery names the template).
    pub fn entra_common_issuer(&self) -> String {
        self.url(ENTRA_COMMON_PATH)
    }
    /// 200 JSON for a live access token, 401 otherwise.
    pub fn api_url(&self) -> String {
        self.url(API_PATH)
    }
    /// Atlassian: the cloud sites the token can reach.
    pub fn accessible_resources_url(&self) -> String {
        self.url(ACCESSIBLE_RESOURCES_PATH)
    }
    /// GitHub: `GET /user/emails`.
    pub fn emails_url(&self) -> String {
        self.url(GITHUB_EMAILS_PATH)
    }
    /// Salesforce: the identity URL returned as `id` in token responses.
    pub fn identity_url(&self) -> String {
        self.shared.salesforce_identity_url()
    }
    /// Salesforce: the `instance_url` of token responses (the fake's own base).
    pub fn instance_url(&self) -> String {
        self.base_url()
    }
}
