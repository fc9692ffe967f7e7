//! GitHub: `GET /user`, and `GET /user/emails` for the primary verified address when the
//! profile's email is private (`"email": null`).

use serde::Deserialize;
use url::Url;

use crate::{domain::UserContext, upstream::http::get_json};

#[derive(Deserialize)]
struct Email {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

/// `{user endpoint}/emails`: `https://api.github.com/user/emails`, and the same under a GitHub
/// Enterprise `…/api/v3/user` or a test's override.
pub fn emails_url(user: &Url) -> Option<Url> {
    let mut url = user.clone();
    url.path_segments_mut().ok()?.pop_if_empty().push("emails");
    url.set_query(None);
    Some(url)
}

/// Fills the email from `/user/emails` when `/user` showed none. Best effort: the list needs the
/// `user:email` scope (OAuth apps) or the email permission (GitHub Apps), and a user without an
/// email is still a user.
pub async fn complete_user(
    http: &reqwest::Client,
    user_url: &Url,
    access_token: &str,
    user: &mut UserContext,
) {
    if user.email.is_some() {
        return;
    }
    let Some(url) = emails_url(user_url) else {
        return;
    };
    match get_json::<Vec<Email>>(http, url, Some(access_token)).await {
        Ok(emails) => user.email = primary_verified(emails),
        Err(e) => tracing::debug!(error = %e, "GitHub /user/emails unavailable; no email"),
    }
}

fn primary_verified(emails: Vec<Email>) -> Option<String> {
    emails
        .into_iter()
        .find(|e| e.primary && e.verified)
        .map(|e| e.email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emails_url_sits_under_the_user_url() {
        let at = |s: &str| emails_url(&Url::parse(s).unwrap()).unwrap().to_string();
        assert_eq!(
            at("https://api.github.com/user"),
            "https://api.github.com/user/emails"
        );
        assert_eq!(
            at("https://ghe.example/api/v3/user/"),
            "https://ghe.example/api/v3/user/emails"
        );
    }

    #[test]
    fn only_a_primary_verified_address_counts() {
        let list: Vec<Email> = serde_json::from_value(serde_json::json!([
            {"email": "old@x", "primary": false, "verified": true},
            {"email": "new@x", "primary": true, "verified": false},
        ]))
        .unwrap();
        assert_eq!(primary_verified(list), None);
        let list: Vec<Email> = serde_json::from_value(serde_json::json!([
            {"email": "u@x", "primary": true, "verified": true, "visibility": null},
        ]))
        .unwrap();
        assert_eq!(primary_verified(list).as_deref(), Some("u@x"));
    }
}
