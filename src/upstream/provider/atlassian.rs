//! Atlassian: the user from `GET {api}/me`, and the cloud sites the token reaches from
//! `GET {api}/oauth/token/accessible-resources`, kept as `claims.accessible_resources` (each
//! `{id, url, name, scopes}`; `id` is the cloud id API calls need).

use serde_json::{Map, Value};
use url::Url;

use crate::{
    domain::UserContext,
    upstream::{UpstreamError, http::get_json},
};

pub const ACCESSIBLE_RESOURCES_PATH: &str = "/oauth/token/accessible-resources";
/// The key under the user context's claims.
pub const CLAIM: &str = "accessible_resources";
/// More sites than this are cut (a user context travels in caches and headers).
const MAX_RESOURCES: usize = 100;

/// On the API host of the `/me` endpoint: `https://api.atlassian.com/…` by default, the
/// override's origin when `userinfo_url` is configured.
pub fn accessible_resources_url(me: &Url) -> Option<Url> {
    me.join(ACCESSIBLE_RESOURCES_PATH).ok()
}

pub async fn complete_user(
    http: &reqwest::Client,
    me_url: &Url,
    access_token: &str,
    user: &mut UserContext,
) -> Result<(), UpstreamError> {
    let url = accessible_resources_url(me_url)
        .ok_or_else(|| UpstreamError::Config("no accessible-resources URL".into()))?;
    let list: Vec<Value> = get_json(http, url, Some(access_token)).await?;
    let resources: Vec<Value> = list.iter().take(MAX_RESOURCES).filter_map(keep).collect();
    if let Some(claims) = user.claims.as_object_mut() {
        claims.insert(CLAIM.into(), Value::Array(resources));
    }
    Ok(())
}

/// `id`, `url`, `name`, `scopes` of one site; entries without an id are dropped.
fn keep(resource: &Value) -> Option<Value> {
    resource.get("id")?.as_str()?;
    let kept: Map<String, Value> = ["id", "url", "name", "scopes"]
        .iter()
        .filter_map(|k| resource.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect();
    Some(Value::Object(kept))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_resources_live_on_the_api_host_of_me() {
        let at = |s: &str| {
            accessible_resources_url(&Url::parse(s).unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(
            at("https://api.atlassian.com/me"),
            "https://api.atlassian.com/oauth/token/accessible-resources"
        );
        assert_eq!(
            at("http://127.0.0.1:4000/me"),
            "http://127.0.0.1:4000/oauth/token/accessible-resources"
        );
    }

    #[test]
    fn only_the_useful_fields_of_sites_with_an_id_are_kept() {
        let site = json!({"id": "c1", "url": "https://a.atlassian.net", "name": "a",
            "scopes": ["read:me"], "avatarUrl": "https://x/y.png"});
        assert_eq!(
            keep(&site),
            Some(
                json!({"id": "c1", "url": "https://a.atlassian.net", "name": "a",
                "scopes": ["read:me"]})
            )
        );
        assert_eq!(keep(&json!({"name": "no id"})), None);
    }
}
