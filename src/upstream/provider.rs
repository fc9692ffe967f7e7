//! What each provider kind needs: default endpoints and scopes, extra authorization
//! parameters, and how its token endpoint wants the client to authenticate.

use url::Url;

use crate::domain::{ProviderKind, UpstreamProvider};

/// The endpoints of one provider, after defaults, discovery and overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub issuer: Option<String>,
    pub authorization: Url,
    pub token: Url,
    pub userinfo: Option<Url>,
    pub jwks: Option<Url>,
    pub revocation: Option<Url>,
}

/// Endpoints a kind has without discovery (well-known public services, Keycloak's fixed layout).
/// `None` where the kind needs the issuer's discovery document (plain OIDC).
pub fn static_endpoints(p: &UpstreamProvider, dev_base: &Url) -> Option<Endpoints> {
    let url = |s: &str| Url::parse(s).ok();
    let e = match p.kind {
        ProviderKind::Dev => Endpoints {
            issuer: None,
            authorization: dev_base.join("authorize").ok()?,
            token: dev_base.join("token").ok()?,
            userinfo: dev_base.join("userinfo").ok(),
            jwks: None,
            revocation: None,
        },
        ProviderKind::Keycloak => {
            let issuer = p.issuer.as_deref()?.trim_end_matches('/').to_owned();
            let oidc = |path: &str| url(&format!("{issuer}/protocol/openid-connect/{path}"));
            Endpoints {
                authorization: oidc("auth")?,
                token: oidc("token")?,
                userinfo: oidc("userinfo"),
                jwks: oidc("certs"),
                revocation: oidc("revoke"),
                issuer: Some(issuer),
            }
        }
        ProviderKind::Google => Endpoints {
            issuer: Some("https://accounts.google.com".into()),
            authorization: url("https://accounts.google.com/o/oauth2/v2/auth")?,
            token: url("https://oauth2.googleapis.com/token")?,
            userinfo: url("https://openidconnect.googleapis.com/v1/userinfo"),
            jwks: url("https://www.googleapis.com/oauth2/v3/certs"),
            revocation: url("https://oauth2.googleapis.com/revoke"),
        },
        ProviderKind::Atlassian => Endpoints {
            issuer: None,
            authorization: url("https://auth.atlassian.com/authorize")?,
            token: url("https://auth.atlassian.com/oauth/token")?,
            userinfo: url("https://api.atlassian.com/me"),
            jwks: None,
            revocation: None,
        },
        ProviderKind::Salesforce => {
            let host = p
                .issuer
                .clone()
                .unwrap_or_else(|| "https://login.salesforce.com".into());
            let host = host.trim_end_matches('/');
            Endpoints {
                issuer: Some(host.to_owned()),
                authorization: url(&format!("{host}/services/oauth2/authorize"))?,
                token: url(&format!("{host}/services/oauth2/token"))?,
                userinfo: url(&format!("{host}/services/oauth2/userinfo")),
                jwks: url(&format!("{host}/id/keys")),
                revocation: url(&format!("{host}/services/oauth2/revoke")),
            }
        }
        ProviderKind::Github => Endpoints {
            issuer: None,
            authorization: url("https://github.com/login/oauth/authorize")?,
            token: url("https://github.com/login/oauth/access_token")?,
            userinfo: url("https://api.github.com/user"),
            jwks: None,
            revocation: None,
        },
        ProviderKind::Oidc => return None,
    };
    Some(apply_overrides(e, p))
}

/// Configured URLs win over defaults and discovery (tests, air-gapped installs, Docker setups
/// where the browser and the bridge reach the IdP under different names).
pub fn apply_overrides(mut e: Endpoints, p: &UpstreamProvider) -> Endpoints {
    let parse = |s: &Option<String>| s.as_deref().and_then(|s| Url::parse(s).ok());
    if let Some(u) = parse(&p.authorization_url) {
        e.authorization = u;
    }
    if let Some(u) = parse(&p.token_url) {
        e.token = u;
    }
    if let Some(u) = parse(&p.userinfo_url) {
        e.userinfo = Some(u);
    }
    if let Some(u) = parse(&p.jwks_url) {
        e.jwks = Some(u);
    }
    if let Some(u) = parse(&p.revocation_url) {
        e.revocation = Some(u);
    }
    e
}

/// Scopes requested upstream when the provider configuration names none.
pub fn default_scopes(kind: ProviderKind) -> Vec<&'static str> {
    match kind {
        ProviderKind::Keycloak => vec!["openid", "email", "profile", "offline_access"],
        ProviderKind::Oidc | ProviderKind::Google => vec!["openid", "email", "profile"],
        ProviderKind::Atlassian => vec!["read:me", "offline_access"],
        ProviderKind::Salesforce => vec!["openid", "id", "refresh_token"],
        ProviderKind::Github => vec!["read:user", "user:email"],
        ProviderKind::Dev => vec![],
    }
}

/// Extra authorization parameters a kind needs to behave (obtain refresh tokens, …).
pub fn extra_authorization_params(kind: ProviderKind) -> Vec<(&'static str, &'static str)> {
    match kind {
        ProviderKind::Google => vec![("access_type", "offline"), ("prompt", "consent")],
        ProviderKind::Atlassian => vec![("audience", "api.atlassian.com"), ("prompt", "consent")],
        _ => vec![],
    }
}

/// How the bridge authenticates at a kind's token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

pub fn client_auth(kind: ProviderKind) -> ClientAuth {
    match kind {
        ProviderKind::Github | ProviderKind::Salesforce | ProviderKind::Atlassian => {
            ClientAuth::Post
        }
        _ => ClientAuth::Basic,
    }
}

/// Whether the kind speaks OIDC (ID tokens with a nonce).
pub fn is_oidc(p: &UpstreamProvider, scopes: &[String]) -> bool {
    !matches!(
        p.kind,
        ProviderKind::Github | ProviderKind::Atlassian | ProviderKind::Dev
    ) && scopes.iter().any(|s| s == "openid")
}
