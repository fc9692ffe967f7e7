//! Fetching who the user is and normalising it to one [`UserContext`] per provider kind.

use serde_json::Value;
use url::Url;

use super::{UpstreamError, http::get_json};
use crate::domain::{ProviderKind, UpstreamProvider, UserContext};

/// Calls the provider's user endpoint with the user's upstream access token.
pub async fn fetch(
    http: &reqwest::Client,
    provider: &UpstreamProvider,
    userinfo: &Url,
    access_token: &str,
    token_extra: &Value,
) -> Result<UserContext, UpstreamError> {
    let url = match (
        provider.kind,
        token_extra.get("instance_url").and_then(Value::as_str),
    ) {
        // Salesforce: the identity lives on the user's instance.
        (ProviderKind::Salesforce, Some(instance)) if provider.userinfo_url.is_none() => {
            Url::parse(&format!(
                "{}/services/oauth2/userinfo",
                instance.trim_end_matches('/')
            ))
            .map_err(|_| UpstreamError::Protocol("instance_url is not a URL".into()))?
        }
        _ => userinfo.clone(),
    };
    let json: Value = get_json(http, url, Some(access_token)).await?;
    normalise(provider, json)
}

/// One shape for every provider; the raw claims are kept for what only some users need.
pub fn normalise(provider: &UpstreamProvider, json: Value) -> Result<UserContext, UpstreamError> {
    let s = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
    let subject = match provider.kind {
        ProviderKind::Github => json.get("id").and_then(|v| {
            v.as_i64()
                .map(|n| n.to_string())
                .or_else(|| v.as_str().map(str::to_owned))
        }),
        ProviderKind::Atlassian => s("account_id"),
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
    })
}
