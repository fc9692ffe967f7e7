//! What each tenant section of the console shows and offers: the API list it reads, its
//! columns, its create form, its row actions and its section-wide actions. One table of facts,
//! read by the views and the actions alike.

use super::render::{Column, Field, Kind, col, field};

/// A tenant section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Providers,
    Servers,
    Clients,
    Grants,
    Consents,
    Keys,
}

/// A row action: the URL verb, the API verb it calls, its button, and whether it needs a
/// ticked confirmation.
pub struct RowAction {
    pub verb: &'static str,
    pub label: &'static str,
    /// `None`: `DELETE` the row; `Some(v)`: `POST …/{id}/{v}`.
    pub api_verb: Option<&'static str>,
    /// Offered only when the row's `status`/`revoked_at` says it is still live.
    pub only_live: bool,
}

pub const PROVIDER_KINDS: &[&str] = &[
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
];

const PROVIDER_FORM: &[Field] = &[
    field("name", "Name", Kind::Text, true, "letters, digits, - and _"),
    field("kind", "Kind", Kind::Select(PROVIDER_KINDS), true, ""),
    field(
        "issuer",
        "Issuer URL",
        Kind::Text,
        false,
        "discovery; not for dev or github",
    ),
    field("client_id", "Client id", Kind::Text, false, ""),
    field(
        "client_secret",
        "Client secret",
        Kind::Secret,
        false,
        "write-only: never shown again",
    ),
    field(
        "scopes",
        "Scopes",
        Kind::List,
        false,
        "space-separated; the kind's defaults when empty",
    ),
    field(
        "authorization_url",
        "Authorization URL",
        Kind::Text,
        false,
        "override",
    ),
    field("token_url", "Token URL", Kind::Text, false, "override"),
    field(
        "userinfo_url",
        "Userinfo URL",
        Kind::Text,
        false,
        "override",
    ),
];

const SERVER_FORM: &[Field] = &[
    field(
        "name",
        "Name",
        Kind::Text,
        true,
        "the last segment of the MCP URL",
    ),
    field(
        "url",
        "Upstream URL",
        Kind::Text,
        true,
        "where the MCP server listens",
    ),
    field(
        "provider",
        "Provider",
        Kind::Text,
        false,
        "the tenant's default when empty",
    ),
    field(
        "scopes",
        "Scopes",
        Kind::List,
        false,
        "offered scopes, space-separated",
    ),
    field(
        "required_scopes",
        "Required scopes",
        Kind::List,
        false,
        "space-separated",
    ),
    field(
        "forward_upstream_token",
        "Forward the user's upstream token",
        Kind::Checkbox,
        false,
        "",
    ),
];

pub const TENANT_FORM: &[Field] = &[
    field(
        "slug",
        "Slug",
        Kind::Text,
        true,
        "lowercase letters, digits and -",
    ),
    field(
        "display_name",
        "Display name",
        Kind::Text,
        false,
        "shown to users",
    ),
    field("scopes", "Scopes", Kind::List, false, "space-separated"),
    field(
        "access_token_ttl_seconds",
        "Access token lifetime (seconds)",
        Kind::Number,
        false,
        "",
    ),
];

impl Section {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "providers" => Self::Providers,
            "servers" => Self::Servers,
            "clients" => Self::Clients,
            "grants" => Self::Grants,
            "consents" => Self::Consents,
            "keys" => Self::Keys,
            _ => return None,
        })
    }

    pub const ALL: [Section; 6] = [
        Self::Providers,
        Self::Servers,
        Self::Clients,
        Self::Grants,
        Self::Consents,
        Self::Keys,
    ];

    /// The URL segment, the same in the console and the API.
    pub fn path(self) -> &'static str {
        match self {
            Self::Providers => "providers",
            Self::Servers => "servers",
            Self::Clients => "clients",
            Self::Grants => "grants",
            Self::Consents => "consents",
            Self::Keys => "keys",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Providers => "Upstream providers",
            Self::Servers => "MCP servers",
            Self::Clients => "OAuth clients",
            Self::Grants => "Grants",
            Self::Consents => "Consents",
            Self::Keys => "Signing keys",
        }
    }

    pub fn columns(self) -> &'static [Column] {
        const PROVIDERS: &[Column] = &[
            col("name", "Name"),
            col("kind", "Kind"),
            col("issuer", "Issuer"),
            col("client_id", "Client id"),
            col("client_secret_set", "Secret set"),
            col("callback_url", "Callback URL (register at the IdP)"),
            col("source", "Source"),
        ];
        const SERVERS: &[Column] = &[
            col("name", "Name"),
            col("url", "Upstream URL"),
            col("resource_url", "Resource URL (give to clients)"),
            col("prm_url", "Protected resource metadata"),
            col("provider", "Provider"),
            col("scopes", "Scopes"),
            col("required_scopes", "Required"),
        ];
        const CLIENTS: &[Column] = &[
            col("client_id", "Client id"),
            col("client_name", "Name"),
            col("kind", "Registration"),
            col("redirect_uris", "Redirect URIs"),
            col("token_endpoint_auth_method", "Auth"),
            col("last_used_at", "Last used"),
        ];
        const GRANTS: &[Column] = &[
            col("id", "Id"),
            col("subject", "User"),
            col("client_id", "Client"),
            col("provider", "Provider"),
            col("status", "Status"),
            col("created_at", "Created"),
        ];
        const CONSENTS: &[Column] = &[
            col("subject", "User"),
            col("client_id", "Client"),
            col("mcp_server", "MCP server"),
            col("scopes", "Scopes"),
            col("granted_at", "Granted"),
            col("revoked_at", "Revoked"),
        ];
        const KEYS: &[Column] = &[
            col("kid", "Key id"),
            col("algorithm", "Algorithm"),
            col("status", "Status"),
            col("created_at", "Created"),
            col("retired_at", "Retired"),
            col("publish_until", "Published until"),
        ];
        match self {
            Self::Providers => PROVIDERS,
            Self::Servers => SERVERS,
            Self::Clients => CLIENTS,
            Self::Grants => GRANTS,
            Self::Consents => CONSENTS,
            Self::Keys => KEYS,
        }
    }

    /// The create form, for sections whose rows the console creates.
    pub fn create_form(self) -> Option<&'static [Field]> {
        match self {
            Self::Providers => Some(PROVIDER_FORM),
            Self::Servers => Some(SERVER_FORM),
            _ => None,
        }
    }

    /// The field naming a row in the API's URLs.
    pub fn id_key(self) -> &'static str {
        match self {
            Self::Providers | Self::Servers => "name",
            Self::Clients => "client_id",
            Self::Grants | Self::Consents => "id",
            Self::Keys => "kid",
        }
    }

    pub fn row_actions(self) -> &'static [RowAction] {
        const DELETE: &[RowAction] = &[RowAction {
            verb: "delete",
            label: "Delete",
            api_verb: None,
            only_live: false,
        }];
        const REVOKE: &[RowAction] = &[RowAction {
            verb: "revoke",
            label: "Revoke",
            api_verb: Some("revoke"),
            only_live: true,
        }];
        match self {
            Self::Providers | Self::Servers | Self::Clients => DELETE,
            Self::Grants | Self::Consents => REVOKE,
            Self::Keys => &[],
        }
    }

    /// Filters the list accepts (query parameters passed through to the API).
    pub fn filters(self) -> &'static [&'static str] {
        match self {
            Self::Grants => &["subject", "client_id", "status"],
            Self::Consents => &["subject", "client_id"],
            _ => &[],
        }
    }

    /// Whether the API pages this list with cursors.
    pub fn paged(self) -> bool {
        matches!(self, Self::Clients | Self::Grants)
    }
}
