//! Fetching who the user is and normalising it to one [`UserContext`] per provider kind.
//!
//! The one entry point is [`fetch`]: at login and whenever the user context is refreshed, the
//! same calls run (GitHub's `/user/emails`, Atlassian's accessible resources), so the context
//! has one shape whoever built it, and the provider's claim mapping (`domain::claims`) is
//! applied to the whole answer, extra calls included.

use serde_json::Value;
use url::Url;

use super::{
    UpstreamError,
    http::get_json,
    provider::{atlassian, github},
};
use crate::domain::{ClaimMapping, ProviderKind, UpstreamProvider, UserContext};

/// Calls the provider's user endpoint(s) with the user's upstream access token. Its span has
/// no fields: the arguments hold the token.
#[tracing::instrument(name = "upstream_userinfo", skip_all)]
pub async fn fetch(
    http: &reqwest::Client,
    provider: &UpstreamProvider,
    userinfo: &Url,
    access_token: &str,
    token_extra: &Value,
) -> Result<UserContext, UpstreamError> {
    let url = userinfo_url(provider, userinfo, token_extra)?;
    let json: Value = get_json(http, url.clone(), Some(access_token)).await?;
    let mut user = normalise(provider, json)?;
    match provider.kind {
        ProviderKind::Github => github::complete_user(http, &url, access_token, &mut user).await,
        ProviderKind::Atlassian => {
            atlassian::complete_user(http, &url, access_token, &mut user).await?
        }
        _ => {}
    }
    user.mapped = ClaimMapping::from_settings(&provider.settings).apply(&user.claims);
    Ok(user)
}

/// Where the user is read: the configured or default endpoint, except that Salesforce users
/// live on their own instance (`instance_url` of the token response) unless `userinfo_url` is
/// configured.
fn userinfo_url(
    provider: &UpstreamProvider,
    userinfo: &Url,
    token_extra: &Value,
) -> Result<Url, UpstreamError> {
    let instance = token_extra.get("instance_url").and_then(Value::as_str);
    match (provider.kind, instance) {
        (ProviderKind::Salesforce, Some(instance)) if provider.userinfo_url.is_none() => {
            let url = Url::parse(&format!(
                "{}/services/oauth2/userinfo",
                instance.trim_end_matches('/')
            ))
            .map_err(|_| UpstreamError::Protocol("instance_url is not a URL".into()))?;
            // The token endpoint chose the host; it must at least be https (or loopback in tests).
            if url.scheme() != "https" && !is_loopback(&url) {
                return Err(UpstreamError::Protocol("instance_url is not https".into()));
            }
            Ok(url)
        }
        _ => Ok(userinfo.clone()),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// One shape for every provider; the raw claims are kept for what only some users need.
pub fn normalise(provider: &UpstreamProvider, json: Value) -> Result<UserContext, UpstreamError> {
    if !json.is_object() {
        return Err(UpstreamError::Protocol(
            "user endpoint returned no object".into(),
        ));
    }
    let s = |k: &str| {
        json.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let subject = match provider.kind {
        // GitHub's numeric id: logins can be renamed and reused, ids cannot.
        ProviderKind::Github => json.get("id").and_then(|v| {
            v.as_u64()
                .map(|n| n.to_string())
                .or_else(|| v.as_str().map(str::to_owned))
        }),
        ProviderKind::Atlassian => s("account_id"),
        // Salesforce's `sub` is the identity URL; `user_id` is the 18-character user id.
        ProviderKind::Salesforce => s("user_id").or_else(|| s("sub")),
        _ => s("sub"),
    }
    .filter(|s| !s.is_empty())
    .ok_or_else(|| UpstreamError::Protocol("user endpoint returned no subject".into()))?;
    let username = match provider.kind {
        ProviderKind::Github => s("login"),
        ProviderKind::Atlassian => s("nickname"),
        _ => s("preferred_username"),
    };
    Ok(UserContext {
        subject,
        email: s("email"),
        name: s("name"),
        username,
        provider: provider.name.to_string(),
        claims: json,
        mapped: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::domain::ResourceName;

    fn provider(kind: ProviderKind, userinfo_url: Option<&str>) -> UpstreamProvider {
        UpstreamProvider {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            name: ResourceName::parse("p").unwrap(),
            kind,
            issuer: None,
            client_id: None,
            scopes: None,
            authorization_url: None,
            token_url: None,
            userinfo_url: userinfo_url.map(str::to_owned),
            jwks_url: None,
            revocation_url: None,
            default_token_lifetime_seconds: None,
            settings: Value::Null,
        }
    }

    #[test]
    fn github_users_are_their_numeric_id_and_login() {
        let p = provider(ProviderKind::Github, None);
        let u = normalise(
            &p,
            json!({"id": 583231, "login": "octocat", "name": null, "email": null}),
        )
        .unwrap();
        assert_eq!(u.subject, "583231");
        assert_eq!(u.username.as_deref(), Some("octocat"));
        assert_eq!((u.email, u.name), (None, None));
    }

    #[test]
    fn atlassian_users_are_their_account_id() {
        let p = provider(ProviderKind::Atlassian, None);
        let me = json!({"account_id": "5b10a", "email": "a@x", "name": "A", "nickname": "a"});
        let u = normalise(&p, me).unwrap();
        assert_eq!(u.subject, "5b10a");
        assert_eq!(u.username.as_deref(), Some("a"));
    }

    #[test]
    fn empty_or_missing_subjects_and_non_objects_are_refused() {
        let p = provider(ProviderKind::Oidc, None);
        for bad in [
            json!({"sub": ""}),
            json!({}),
            json!([{"sub": "x"}]),
            json!("x"),
        ] {
            assert!(matches!(
                normalise(&p, bad),
                Err(UpstreamError::Protocol(_))
            ));
        }
    }

    #[test]
    fn salesforce_reads_the_instance_unless_userinfo_is_configured() {
        let default = Url::parse("https://login.salesforce.com/services/oauth2/userinfo").unwrap();
        let extra = json!({"instance_url": "https://acme.my.salesforce.com"});
        let p = provider(ProviderKind::Salesforce, None);
        assert_eq!(
            userinfo_url(&p, &default, &extra).unwrap().as_str(),
            "https://acme.my.salesforce.com/services/oauth2/userinfo"
        );
        let configured = provider(ProviderKind::Salesforce, Some("http://127.0.0.1:9/ui"));
        let ui = Url::parse("http://127.0.0.1:9/ui").unwrap();
        assert_eq!(userinfo_url(&configured, &ui, &extra).unwrap(), ui);
        let plain = json!({"instance_url": "http://evil.example"});
        assert!(userinfo_url(&p, &default, &plain).is_err());
    }
}
