//! Calls to an upstream token endpoint (code exchange, refresh) and the parsing of its answers.
//!
//! Written against reqwest rather than the `oauth2` crate's token client: providers answer in
//! ways that crate's typed responses hide or refuse (GitHub's errors with status 200, Salesforce's
//! missing `expires_in` and extra `instance_url`, string-typed `expires_in`), and each of those is
//! a decision we want to make visibly here.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use url::Url;

use super::{
    UpstreamError,
    error::{Delivery, sanitize},
    http::{read_body, retry_after},
    provider::ClientAuth,
};
use crate::domain::UpstreamTokens;

/// Credentials of the bridge at the IdP.
pub struct ClientCredentials<'a> {
    pub client_id: &'a str,
    pub client_secret: Option<&'a str>,
    pub auth: ClientAuth,
}

/// A parsed token response.
pub struct TokenAnswer {
    pub tokens: UpstreamTokens,
    pub id_token: Option<String>,
}

/// Provider data worth keeping from token responses; everything else (tokens!) is dropped.
const KEPT_EXTRAS: &[&str] = &["instance_url", "id", "issued_at", "signature_method"];

/// One request to a token endpoint, with the client's default timeout.
pub async fn request(
    http: &reqwest::Client,
    url: &Url,
    creds: &ClientCredentials<'_>,
    form: Vec<(&str, &str)>,
    now: DateTime<Utc>,
    default_lifetime: Option<Duration>,
) -> Result<TokenAnswer, UpstreamError> {
    send(http, url, creds, form, now, default_lifetime, None)
        .await
        .map_err(|(e, _)| e)
}

/// One request to a token endpoint; a failure says whether the IdP may have processed it
/// ([`Delivery`]), which is what a refresh with a rotating token must know before it sends the
/// same token again. `timeout` replaces the client's default for this request. Its span has no
/// fields: the form holds codes, refresh tokens and secrets.
#[tracing::instrument(name = "upstream_token", skip_all)]
pub async fn send(
    http: &reqwest::Client,
    url: &Url,
    creds: &ClientCredentials<'_>,
    mut form: Vec<(&str, &str)>,
    now: DateTime<Utc>,
    default_lifetime: Option<Duration>,
    timeout: Option<std::time::Duration>,
) -> Result<TokenAnswer, (UpstreamError, Delivery)> {
    let mut request = http
        .post(url.clone())
        .headers(crate::telemetry::trace_context::current_headers())
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(timeout) = timeout {
        request = request.timeout(timeout);
    }
    let request = authenticate(request, &mut form, creds);
    let response = request.form(&form).send().await.map_err(|e| {
        (
            UpstreamError::from_transport(&e),
            Delivery::of_transport(&e),
        )
    })?;
    let status = response.status();
    let delivery = Delivery::of_status(status);
    let retry = retry_after(&response);
    // The head arrived: a body lost now is an answer lost.
    let body = read_body(response)
        .await
        .map_err(|e| (e, Delivery::Ambiguous))?;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let error = json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(Value::as_str);
    if !status.is_success() {
        // At a token endpoint a 401 is the IdP refusing *the bridge* (invalid_client): a
        // configuration problem, never a reason to end the user's grant. Only invalid_grant is.
        if status == reqwest::StatusCode::UNAUTHORIZED && error != Some("invalid_grant") {
            return Err((
                UpstreamError::Config("the IdP refused the bridge's client credentials".into()),
                delivery,
            ));
        }
        return Err((UpstreamError::from_status(status, retry, error), delivery));
    }
    // GitHub answers errors with status 200.
    if let Some(error) = error {
        return Err((error_with_200(error), Delivery::Answered));
    }
    // A success we cannot read may have spent the refresh token.
    let json = json.ok_or_else(|| {
        (
            UpstreamError::Protocol("token response is not JSON".into()),
            Delivery::Ambiguous,
        )
    })?;
    parse(&json, now, default_lifetime).map_err(|e| (e, Delivery::Ambiguous))
}

/// The bridge's client authentication at the token endpoint, as the provider expects it.
fn authenticate<'a>(
    request: reqwest::RequestBuilder,
    form: &mut Vec<(&'a str, &'a str)>,
    creds: &ClientCredentials<'a>,
) -> reqwest::RequestBuilder {
    match (creds.auth, creds.client_secret) {
        (ClientAuth::Basic, Some(secret)) => {
            // RFC 6749 section 2.3.1: form-urlencode both parts before Basic encoding.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request.basic_auth(enc(creds.client_id), Some(enc(secret)))
        }
        (ClientAuth::Post, Some(secret)) => {
            form.push(("client_id", creds.client_id));
            form.push(("client_secret", secret));
            request
        }
        (_, None) => {
            form.push(("client_id", creds.client_id));
            request
        }
    }
}

/// An error a token endpoint answered with status 200 (GitHub does).
fn error_with_200(error: &str) -> UpstreamError {
    match error {
        "invalid_grant" | "bad_verification_code" | "bad_refresh_token" => {
            UpstreamError::Rejected(sanitize(error))
        }
        "incorrect_client_credentials" => {
            UpstreamError::Config("the IdP refused the bridge's client credentials".into())
        }
        other => UpstreamError::Protocol(format!("error {}", sanitize(other))),
    }
}

fn seconds(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn parse(
    json: &Value,
    now: DateTime<Utc>,
    default_lifetime: Option<Duration>,
) -> Result<TokenAnswer, UpstreamError> {
    let access_token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| UpstreamError::Protocol("token response without access_token".into()))?
        .to_owned();
    let access_expires_at = seconds(json.get("expires_in"))
        .filter(|s| *s > 0)
        .map(|s| now + Duration::seconds(s))
        .or_else(|| default_lifetime.map(|d| now + d));
    let refresh_expires_at = seconds(json.get("refresh_token_expires_in"))
        .filter(|s| *s > 0)
        .map(|s| now + Duration::seconds(s));
    let scopes = json
        .get("scope")
        .and_then(Value::as_str)
        .map(|s| {
            s.split([' ', ','])
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let extra: serde_json::Map<String, Value> = KEPT_EXTRAS
        .iter()
        .filter_map(|k| json.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect();
    Ok(TokenAnswer {
        tokens: UpstreamTokens {
            access_token,
            access_expires_at,
            refresh_token: json
                .get("refresh_token")
                .and_then(Value::as_str)
                .map(str::to_owned),
            refresh_expires_at,
            scopes,
            extra: Value::Object(extra),
        },
        id_token: json
            .get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn expiry_is_stored_as_an_absolute_time() {
        let a = parse(
            &json!({"access_token": "a", "expires_in": 300}),
            now(),
            None,
        )
        .unwrap();
        assert_eq!(
            a.tokens.access_expires_at,
            Some(now() + Duration::seconds(300))
        );
    }

    #[test]
    fn a_string_expires_in_is_understood() {
        let a = parse(
            &json!({"access_token": "a", "expires_in": "60"}),
            now(),
            None,
        )
        .unwrap();
        assert_eq!(
            a.tokens.access_expires_at,
            Some(now() + Duration::seconds(60))
        );
    }

    #[test]
    fn without_expires_in_the_configured_lifetime_applies_or_none() {
        let j = json!({"access_token": "a", "instance_url": "https://x.my.salesforce.com"});
        let with = parse(&j, now(), Some(Duration::hours(2))).unwrap();
        assert_eq!(
            with.tokens.access_expires_at,
            Some(now() + Duration::hours(2))
        );
        assert_eq!(
            with.tokens.extra["instance_url"],
            "https://x.my.salesforce.com"
        );
        assert_eq!(
            parse(&j, now(), None).unwrap().tokens.access_expires_at,
            None
        );
    }

    #[test]
    fn tokens_never_land_in_the_kept_extras() {
        let a = parse(
            &json!({"access_token": "a", "refresh_token": "r", "id_token": "i"}),
            now(),
            None,
        )
        .unwrap();
        assert_eq!(a.tokens.extra, json!({}));
    }

    #[test]
    fn a_response_without_an_access_token_is_a_protocol_error() {
        assert!(matches!(
            parse(&json!({"token_type": "bearer"}), now(), None),
            Err(UpstreamError::Protocol(_))
        ));
    }
}
