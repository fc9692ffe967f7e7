//! What each provider kind needs: default endpoints and scopes, extra authorization
//! parameters, and how its token endpoint wants the client to authenticate. The kinds whose
//! user lookup or revocation is more than one call live in the submodules.

pub mod atlassian;
pub mod entra;
pub mod github;
pub mod revocation;

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
        ProviderKind::Keycloak => keycloak(p)?,
        ProviderKind::Google => Endpoints {
            // Overridable like every URL (tests, proxies); Google's own issuer otherwise.
            issuer: Some(
                p.issuer
                    .as_deref()
                    .unwrap_or("https://accounts.google.com")
                    .trim_end_matches('/')
                    .to_owned(),
            ),
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
            // Atlassian documents no revocation endpoint for 3LO apps; `revocation_url` adds one.
            revocation: None,
        },
        ProviderKind::Salesforce => salesforce(p)?,
        ProviderKind::Github => github(p)?,
        // Discovery from the configured issuer: the host and path are the customer's own.
        ProviderKind::Oidc | ProviderKind::Entra | ProviderKind::Okta | ProviderKind::Auth0 => {
            return None;
        }
    };
    Some(apply_overrides(e, p))
}

/// Keycloak's fixed layout under the realm's issuer.
fn keycloak(p: &UpstreamProvider) -> Option<Endpoints> {
    let issuer = p.issuer.as_deref()?.trim_end_matches('/').to_owned();
    let oidc = |path: &str| Url::parse(&format!("{issuer}/protocol/openid-connect/{path}")).ok();
    Some(Endpoints {
        authorization: oidc("auth")?,
        token: oidc("token")?,
        userinfo: oidc("userinfo"),
        jwks: oidc("certs"),
        revocation: oidc("revoke"),
        issuer: Some(issuer),
    })
}

/// Salesforce's layout under the login host (`issuer`, production's by default).
fn salesforce(p: &UpstreamProvider) -> Option<Endpoints> {
    let url = |s: &str| Url::parse(s).ok();
    let host = p
        .issuer
        .clone()
        .unwrap_or_else(|| "https://login.salesforce.com".into());
    let host = host.trim_end_matches('/');
    Some(Endpoints {
        issuer: Some(host.to_owned()),
        authorization: url(&format!("{host}/services/oauth2/authorize"))?,
        token: url(&format!("{host}/services/oauth2/token"))?,
        userinfo: url(&format!("{host}/services/oauth2/userinfo")),
        jwks: url(&format!("{host}/id/keys")),
        revocation: url(&format!("{host}/services/oauth2/revoke")),
    })
}

/// GitHub's OAuth app endpoints.
fn github(p: &UpstreamProvider) -> Option<Endpoints> {
    let url = |s: &str| Url::parse(s).ok();
    Some(Endpoints {
        issuer: None,
        authorization: url("https://github.com/login/oauth/authorize")?,
        token: url("https://github.com/login/oauth/access_token")?,
        userinfo: url("https://api.github.com/user"),
        jwks: None,
        // `DELETE /applications/{client_id}/token` (see `revocation`).
        revocation: p.client_id.as_deref().and_then(|id| {
            let mut u = url("https://api.github.com/applications/")?;
            u.path_segments_mut()
                .ok()?
                .pop_if_empty()
                .extend([id, "token"]);
            Some(u)
        }),
    })
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
        // `offline_access` so that a refresh token comes back (OIDC Core section 11).
        // Entra, Okta and Auth0 issue no refresh token without it either.
        ProviderKind::Keycloak
        | ProviderKind::Oidc
        | ProviderKind::Entra
        | ProviderKind::Okta
        | ProviderKind::Auth0 => {
            vec!["openid", "email", "profile", "offline_access"]
        }
        // Google refuses `offline_access`; it wants `access_type=offline` instead.
        ProviderKind::Google => vec!["openid", "email", "profile"],
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

/// The configured `audience` (Auth0's API identifier), unless the kind fixes its own
/// (Atlassian's `api.atlassian.com`).
pub fn configured_audience(p: &UpstreamProvider) -> Option<&str> {
    let fixed = extra_authorization_params(p.kind)
        .iter()
        .any(|(k, _)| *k == "audience");
    let audience = p.settings.get("audience")?.as_str()?;
    (!fixed && !audience.is_empty()).then_some(audience)
}

/// How the bridge authenticates at a kind's token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

/// How the bridge authenticates at a kind's RFC 7009 revocation endpoint; `None`: the token
/// alone (Google documents no client authentication there).
pub fn revocation_client_auth(kind: ProviderKind) -> Option<ClientAuth> {
    match kind {
        ProviderKind::Google => None,
        other => Some(client_auth(other)),
    }
}

pub fn client_auth(kind: ProviderKind) -> ClientAuth {
    match kind {
        // Entra documents the secret in the form body in every example.
        ProviderKind::Github
        | ProviderKind::Salesforce
        | ProviderKind::Atlassian
        | ProviderKind::Entra => ClientAuth::Post,
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

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::domain::ResourceName;

    fn provider(kind: ProviderKind, issuer: Option<&str>) -> UpstreamProvider {
        UpstreamProvider {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            name: ResourceName::parse("p").unwrap(),
            kind,
            issuer: issuer.map(str::to_owned),
            client_id: Some("Iv1.abc".into()),
            scopes: None,
            authorization_url: None,
            token_url: None,
            userinfo_url: None,
            jwks_url: None,
            revocation_url: None,
            default_token_lifetime_seconds: None,
            settings: serde_json::Value::Null,
        }
    }

    fn endpoints(p: &UpstreamProvider) -> Endpoints {
        static_endpoints(p, &Url::parse("http://127.0.0.1/dev/").unwrap()).unwrap()
    }

    #[test]
    fn salesforce_hosts_come_from_the_issuer() {
        for host in [
            "https://login.salesforce.com",
            "https://test.salesforce.com",
            "https://acme.my.salesforce.com",
        ] {
            let e = endpoints(&provider(ProviderKind::Salesforce, Some(host)));
            assert_eq!(e.issuer.as_deref(), Some(host));
            assert_eq!(e.token.as_str(), format!("{host}/services/oauth2/token"));
            assert_eq!(
                e.revocation.unwrap().as_str(),
                format!("{host}/services/oauth2/revoke")
            );
        }
        let default = endpoints(&provider(ProviderKind::Salesforce, None));
        assert_eq!(
            default.authorization.as_str(),
            "https://login.salesforce.com/services/oauth2/authorize"
        );
    }

    #[test]
    fn google_keeps_its_issuer_unless_one_is_configured() {
        let google = endpoints(&provider(ProviderKind::Google, None));
        assert_eq!(
            google.issuer.as_deref(),
            Some("https://accounts.google.com")
        );
        let proxied = endpoints(&provider(ProviderKind::Google, Some("http://127.0.0.1:5/")));
        assert_eq!(proxied.issuer.as_deref(), Some("http://127.0.0.1:5"));
    }

    #[test]
    fn github_revokes_under_its_client_id() {
        let e = endpoints(&provider(ProviderKind::Github, None));
        assert_eq!(
            e.revocation.unwrap().as_str(),
            "https://api.github.com/applications/Iv1.abc/token"
        );
        let mut no_client = provider(ProviderKind::Github, None);
        no_client.client_id = None;
        assert_eq!(endpoints(&no_client).revocation, None);
    }

    #[test]
    fn kinds_that_refresh_ask_for_it() {
        for kind in [
            ProviderKind::Keycloak,
            ProviderKind::Oidc,
            ProviderKind::Atlassian,
        ] {
            assert!(default_scopes(kind).contains(&"offline_access"), "{kind:?}");
        }
        assert!(default_scopes(ProviderKind::Salesforce).contains(&"refresh_token"));
        assert!(!default_scopes(ProviderKind::Google).contains(&"offline_access"));
        let google = extra_authorization_params(ProviderKind::Google);
        assert!(
            google.contains(&("access_type", "offline")) && google.contains(&("prompt", "consent"))
        );
        let atlassian = extra_authorization_params(ProviderKind::Atlassian);
        assert!(atlassian.contains(&("audience", "api.atlassian.com")));
        for kind in [ProviderKind::Entra, ProviderKind::Okta, ProviderKind::Auth0] {
            assert!(default_scopes(kind).contains(&"offline_access"), "{kind:?}");
        }
    }

    #[test]
    fn the_configured_audience_is_sent_unless_the_kind_fixes_one() {
        let mut auth0 = provider(ProviderKind::Auth0, Some("https://acme.auth0.com"));
        assert_eq!(configured_audience(&auth0), None);
        auth0.settings = serde_json::json!({"audience": "https://api.example.test"});
        assert_eq!(
            configured_audience(&auth0),
            Some("https://api.example.test")
        );
        let mut atlassian = provider(ProviderKind::Atlassian, None);
        atlassian.settings = serde_json::json!({"audience": "elsewhere"});
        assert_eq!(configured_audience(&atlassian), None);
    }
}
