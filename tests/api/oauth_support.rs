//! Driving the authorization flow like a browser and an MCP client would: a cookie jar, no
//! automatic redirects, every hop asserted.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcp_auth_bridge::{
    domain::{ApplicationType, AuthMethod, ClientKind},
    store::clients::{self, NewClient},
};
use reqwest::{StatusCode, header::LOCATION};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{app_support::TestApp, support::fake_idp::FakeIdp};

pub const REDIRECT_URI: &str = "http://127.0.0.1:7777/callback";

/// A tenant `acme` whose users log in at `idp` (Keycloak mode) with one MCP server `tools`.
pub fn keycloak_tenant(idp: &FakeIdp, extra_servers: &str) -> String {
    format!(
        r#"
[[tenants]]
slug = "acme"
display_name = "ACME"
scopes = ["mcp", "mcp:tools", "mcp:admin"]
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "{issuer}"
client_id = "{client_id}"
client_secret = "{client_secret}"
[[tenants.mcp_servers]]
name = "tools"
url = "http://127.0.0.1:9/mcp"
scopes = ["mcp", "mcp:tools"]
token_exchange = {{ client_id = "tools-server", client_secret = "tools-server-secret-test" }}
{extra_servers}
"#,
        issuer = idp.issuer(),
        client_id = idp.client_id(),
        client_secret = idp.client_secret(),
    )
}

/// Registers a public client directly in the store.
pub async fn public_client(pool: &PgPool, tenant: &str, redirect_uri: &str) -> String {
    let tenant_id: Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(tenant)
        .fetch_one(pool)
        .await
        .unwrap();
    let client_id = format!("client-{}", Uuid::new_v4().simple());
    clients::upsert(
        pool,
        &NewClient {
            tenant_id,
            client_id: &client_id,
            kind: ClientKind::Dynamic,
            secret_hash: None,
            auth_method: AuthMethod::None,
            application_type: ApplicationType::Native,
            client_name: Some("Test MCP Client"),
            redirect_uris: vec![redirect_uri.to_owned()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scope: None,
            metadata: serde_json::json!({}),
            registration_token_hash: None,
            metadata_expires_at: None,
            registered_from: None,
        },
    )
    .await
    .unwrap();
    client_id
}

pub fn pkce_pair() -> (String, String) {
    let verifier = mcp_auth_bridge::crypto::random::token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A browser: cookie jar, redirects not followed.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location on {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// One authorization from `/authorize` to the client's redirect, with what each hop returned.
pub struct Flow<'a> {
    pub app: &'a TestApp,
    pub browser: reqwest::Client,
    pub client_id: String,
    pub verifier: String,
    pub challenge: String,
    pub tenant: &'a str,
}

impl<'a> Flow<'a> {
    pub fn new(app: &'a TestApp, tenant: &'a str, client_id: &str) -> Self {
        let (verifier, challenge) = pkce_pair();
        Self {
            app,
            browser: browser(),
            client_id: client_id.to_owned(),
            verifier,
            challenge,
            tenant,
        }
    }

    pub fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let mut url =
            url::Url::parse(&self.app.url(&format!("/t/{}/authorize", self.tenant))).unwrap();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", REDIRECT_URI)
                .append_pair("state", "client-state-1")
                .append_pair("code_challenge", &self.challenge)
                .append_pair("code_challenge_method", "S256");
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        url.to_string()
    }

    /// `GET` of the authorization URL (with `extra` parameters) in this flow's browser.
    pub async fn get_authorize(&self, extra: &[(&str, &str)]) -> reqwest::Response {
        self.browser
            .get(self.authorize_url(extra))
            .send()
            .await
            .expect("authorization request sent")
    }

    /// `GET url` in this flow's browser (its cookies sent, redirects not followed).
    pub async fn visit(&self, url: impl reqwest::IntoUrl) -> reqwest::Response {
        self.browser
            .get(url)
            .send()
            .await
            .expect("browser request sent")
    }

    /// Steps 1–4: authorize, approve consent, log in upstream, come back. Returns the final
    /// redirect to the client.
    pub async fn run_to_client(&self, extra: &[(&str, &str)]) -> String {
        let consent = self.get_authorize(extra).await;
        let upstream = match consent.status() {
            // A returning user who already consented goes straight upstream.
            StatusCode::SEE_OTHER => location(&consent),
            StatusCode::OK => self.approve(&consent.text().await.unwrap()).await,
            other => panic!("authorize answered {other}"),
        };
        self.finish_upstream(&upstream).await
    }

    pub async fn approve(&self, consent_html: &str) -> String {
        let form = [
            ("pending", hidden_field(consent_html, "pending")),
            ("csrf", hidden_field(consent_html, "csrf")),
            ("decision", "approve".into()),
        ];
        let approved = self
            .browser
            .post(self.app.url(&format!("/t/{}/consent", self.tenant)))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            approved.status(),
            StatusCode::SEE_OTHER,
            "{}",
            approved.text().await.unwrap_or_default()
        );
        location(&approved)
    }

    pub async fn finish_upstream(&self, upstream_url: &str) -> String {
        let idp = self.visit(upstream_url).await;
        assert!(
            idp.status().is_redirection(),
            "upstream answered {}",
            idp.status()
        );
        let callback = location(&idp);
        let back = self.visit(&callback).await;
        assert_eq!(
            back.status(),
            StatusCode::FOUND,
            "callback: {}",
            back.text().await.unwrap_or_default()
        );
        location(&back)
    }

    pub async fn code(&self) -> String {
        let redirect = self.run_to_client(&[]).await;
        assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
        query_param(&redirect, "code").expect("code")
    }

    pub async fn redeem(&self, code: &str) -> reqwest::Response {
        self.app
            .post_token(
                self.tenant,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT_URI),
                    ("client_id", &self.client_id),
                    ("code_verifier", &self.verifier),
                ],
            )
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.app
            .post_token(
                self.tenant,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                    ("client_id", &self.client_id),
                ],
            )
            .await
    }

    /// The whole flow to a token response (JSON).
    pub async fn tokens(&self) -> serde_json::Value {
        let code = self.code().await;
        let response = self.redeem(&code).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}
