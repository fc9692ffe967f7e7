//! The request and response bodies of `/admin/v1/tenants/{slug}/providers` (their OpenAPI
//! schemas): what an operator sends and sees, never the client secret itself.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{tenants::Owner, validate::nullable};
use crate::{
    domain::{ProviderKind, ResourceName, tenant::Tenant},
    services::Services,
    store::providers::ProviderRow,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Oidc,
    Keycloak,
    Google,
    Atlassian,
    Salesforce,
    Github,
    Entra,
    Okta,
    Auth0,
    /// The built-in provider for local trials; only with `dev_mode = true`.
    Dev,
}

impl Kind {
    pub(super) fn domain(self) -> ProviderKind {
        match self {
            Kind::Oidc => ProviderKind::Oidc,
            Kind::Keycloak => ProviderKind::Keycloak,
            Kind::Google => ProviderKind::Google,
            Kind::Atlassian => ProviderKind::Atlassian,
            Kind::Salesforce => ProviderKind::Salesforce,
            Kind::Github => ProviderKind::Github,
            Kind::Entra => ProviderKind::Entra,
            Kind::Okta => ProviderKind::Okta,
            Kind::Auth0 => ProviderKind::Auth0,
            Kind::Dev => ProviderKind::Dev,
        }
    }
}

/// An upstream provider. Its client secret is never shown: only whether one is set.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub name: String,
    pub kind: String,
    /// Order in the tenant; the first provider is the default for MCP servers naming none.
    pub position: i32,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_set: bool,
    pub scopes: Option<Vec<String>>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub revocation_url: Option<String>,
    pub default_token_lifetime_seconds: Option<i64>,
    /// Claims kept from the userinfo answer and the ID token, `name: "path"` (README, "Per-tool policies").
    pub claims: BTreeMap<String, String>,
    /// Where the IdP must redirect back to (register it there).
    pub callback_url: String,
    pub source: Owner,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProviderView {
    pub(super) fn new(state: &Services, tenant: &Tenant, p: &ProviderRow) -> Self {
        Self {
            name: p.name.clone(),
            kind: p.kind.clone(),
            position: p.position,
            issuer: p.issuer.clone(),
            client_id: p.client_id.clone(),
            client_secret_set: p.client_secret.is_some(),
            scopes: p.scopes.clone(),
            authorization_url: p.authorization_url.clone(),
            token_url: p.token_url.clone(),
            userinfo_url: p.userinfo_url.clone(),
            jwks_url: p.jwks_url.clone(),
            revocation_url: p.revocation_url.clone(),
            default_token_lifetime_seconds: p.default_token_lifetime_seconds,
            claims: claims_of(&p.settings),
            callback_url: state
                .urls
                .callback(tenant.slug.as_str(), &p.name.to_string())
                .into(),
            source: p.source.into(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    pub items: Vec<ProviderView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProvider {
    /// 1 to 63 of `a-z`, `0-9`, `-`, `_`: the path segment of the callback URL.
    #[schema(value_type = String, pattern = "^[a-z0-9_-]{1,63}$")]
    pub name: ResourceName,
    pub kind: Kind,
    pub position: Option<i32>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// Write-only: sealed at rest, never returned.
    #[schema(write_only)]
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub revocation_url: Option<String>,
    #[schema(minimum = 1, maximum = 315360000)]
    pub default_token_lifetime_seconds: Option<i64>,
    /// Claims to keep from the userinfo answer and the ID token: `{"groups": "groups", "roles":
    /// "realm_access.roles"}` (dot-separated paths, `*` for every element of a list).
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
}

/// Absent fields stay as they are; `null` clears an optional field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProvider {
    pub position: Option<i32>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub issuer: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub client_id: Option<Option<String>>,
    /// Write-only: a new secret, sealed at rest; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, write_only)]
    pub client_secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub authorization_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub token_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub userinfo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub jwks_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub revocation_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 315360000)]
    pub default_token_lifetime_seconds: Option<Option<i64>>,
    /// The whole claim mapping (`{}` maps nothing); users get it at their next context load.
    pub claims: Option<BTreeMap<String, String>>,
}

/// The claim mapping kept in a provider's settings.
pub(super) fn claims_of(settings: &serde_json::Value) -> BTreeMap<String, String> {
    settings
        .get("claims")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default()
}

/// `settings` with `claims` as its claim mapping (removed when empty).
pub(super) fn with_claims(
    mut settings: serde_json::Value,
    claims: BTreeMap<String, String>,
) -> serde_json::Value {
    if !settings.is_object() {
        settings = serde_json::json!({});
    }
    if let Some(map) = settings.as_object_mut() {
        if claims.is_empty() {
            map.remove("claims");
        } else {
            map.insert("claims".into(), serde_json::json!(claims));
        }
    }
    settings
}
