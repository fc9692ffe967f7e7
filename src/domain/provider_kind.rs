//! The kinds of upstream identity provider the bridge federates to.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which adapter talks to an upstream IdP. Each kind knows its provider's quirks (Google's
/// missing refresh token on refresh, GitHub's errors with status 200, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Any OpenID Connect issuer; endpoints from discovery, each overridable.
    Oidc,
    /// Keycloak realm (`…/realms/{realm}`); `offline_access` by default.
    Keycloak,
    Google,
    Atlassian,
    Salesforce,
    Github,
    /// Microsoft Entra ID, v2 endpoints (`https://login.microsoftonline.com/{tenant}/v2.0`). For
    /// the multi-tenant `common`/`organizations` issuers the ID token's `iss` is checked against
    /// its own `tid`; refresh tokens come only with `offline_access` and rotate on every use.
    Entra,
    /// Okta (an authorization server such as `https://{domain}/oauth2/default`); refresh tokens
    /// rotate, the previous one still works for Okta's grace period.
    Okta,
    /// Auth0 (`https://{tenant}.auth0.com/`); sends the provider's `audience` so that the access
    /// token is a JWT for that API rather than an opaque one only `/userinfo` accepts.
    Auth0,
    /// Built-in upstream for local trials; refused unless `dev_mode = true`.
    Dev,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Keycloak => "keycloak",
            Self::Google => "google",
            Self::Atlassian => "atlassian",
            Self::Salesforce => "salesforce",
            Self::Github => "github",
            Self::Entra => "entra",
            Self::Okta => "okta",
            Self::Auth0 => "auth0",
            Self::Dev => "dev",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Oidc,
            Self::Keycloak,
            Self::Google,
            Self::Atlassian,
            Self::Salesforce,
            Self::Github,
            Self::Entra,
            Self::Okta,
            Self::Auth0,
            Self::Dev,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for name in [
            "oidc",
            "keycloak",
            "google",
            "atlassian",
            "salesforce",
            "github",
            "entra",
            "okta",
            "auth0",
            "dev",
        ] {
            assert_eq!(ProviderKind::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(ProviderKind::parse("azure"), None);
    }
}
