//! Finding a remote MCP server's authorization server: its protected-resource metadata
//! (RFC 9728: from the `resource_metadata` of a `401`'s `WWW-Authenticate`, else the well-known
//! paths) and that authorization server's metadata (RFC 8414, else OIDC discovery), with the
//! checks that stop mix-ups: the PRM names this very resource, the AS metadata names the issuer
//! it was fetched for, and PKCE S256 is advertised (MCP authorization spec, 2025-11-25).

use serde::Deserialize;
use url::Url;

use super::RemoteError;
use crate::upstream::http::get_json;

/// RFC 9728 section 2: the fields the bridge uses.
#[derive(Clone, Debug, Deserialize)]
pub struct ProtectedResource {
    pub resource: String,
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
}

/// RFC 8414 section 2: the fields the bridge uses.
#[derive(Clone, Debug, Deserialize)]
pub struct AuthorizationServer {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    #[serde(default)]
    pub registration_endpoint: Option<Url>,
    #[serde(default)]
    pub revocation_endpoint: Option<Url>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// draft-ietf-oauth-client-id-metadata-document: the AS accepts an https URL as client id.
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
}

/// What discovery found about one remote MCP server.
#[derive(Clone, Debug)]
pub struct Discovered {
    pub resource: ProtectedResource,
    pub server: AuthorizationServer,
}

/// Discovers `url`'s authorization server.
pub async fn discover(http: &reqwest::Client, url: &Url) -> Result<Discovered, RemoteError> {
    let resource = protected_resource(http, url).await?;
    if !same_resource(&resource.resource, url) {
        return Err(RemoteError::Discovery(
            "the protected-resource metadata names another resource".into(),
        ));
    }
    let issuer = resource.authorization_servers.first().ok_or_else(|| {
        RemoteError::Discovery(
            "the protected-resource metadata names no authorization server".into(),
        )
    })?;
    let server = authorization_server(http, issuer).await?;
    if !server
        .code_challenge_methods_supported
        .iter()
        .any(|m| m == "S256")
    {
        return Err(RemoteError::Discovery(
            "the authorization server does not advertise PKCE S256".into(),
        ));
    }
    Ok(Discovered { resource, server })
}

/// RFC 9728 section 3.3: the metadata's `resource` must be the resource it was fetched for. A
/// trailing slash is not a different resource here.
fn same_resource(named: &str, url: &Url) -> bool {
    named.trim_end_matches('/') == url.as_str().trim_end_matches('/')
}

async fn protected_resource(
    http: &reqwest::Client,
    url: &Url,
) -> Result<ProtectedResource, RemoteError> {
    if let Some(announced) = announced_metadata(http, url).await
        && let Ok(found) = get_json::<ProtectedResource>(http, announced, None).await
    {
        return Ok(found);
    }
    let mut last = None;
    for candidate in well_known(url, "oauth-protected-resource") {
        match get_json::<ProtectedResource>(http, candidate, None).await {
            Ok(found) => return Ok(found),
            Err(e) => last = Some(e),
        }
    }
    Err(RemoteError::from_discovery(last))
}

/// The `resource_metadata` URL of the `401` the server gives a request without a token.
async fn announced_metadata(http: &reqwest::Client, url: &Url) -> Option<Url> {
    let ping = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "ping"});
    let response = http
        .post(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/json, text/event-stream",
        )
        .json(&ping)
        .send()
        .await
        .ok()?;
    if response.status() != reqwest::StatusCode::UNAUTHORIZED {
        return None;
    }
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)?
        .to_str()
        .ok()?;
    resource_metadata_param(challenge).and_then(|u| Url::parse(&u).ok())
}

/// The `resource_metadata` auth-param of a `Bearer` challenge (RFC 9728 section 5.1).
pub fn resource_metadata_param(challenge: &str) -> Option<String> {
    let at = challenge.find("resource_metadata=")?;
    let rest = challenge.get(at + "resource_metadata=".len()..)?;
    let value = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split([',', ' ']).next()?,
    };
    Some(value.to_owned())
}

/// RFC 8414 section 3.1 and RFC 9728 section 3.1: the well-known segment inserted between host
/// and path, then (for a URL with a path) at the root.
fn well_known(url: &Url, name: &str) -> Vec<Url> {
    let path = url.path().trim_end_matches('/');
    let mut candidates = Vec::new();
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    let mut push = |p: String| {
        let mut u = base.clone();
        u.set_path(&p);
        candidates.push(u);
    };
    push(format!("/.well-known/{name}{path}"));
    if !path.is_empty() {
        push(format!("/.well-known/{name}"));
    }
    candidates
}

async fn authorization_server(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<AuthorizationServer, RemoteError> {
    let url = Url::parse(issuer)
        .map_err(|_| RemoteError::Discovery("the authorization server is not a URL".into()))?;
    let path = url.path().trim_end_matches('/');
    let mut candidates = vec![
        at(
            &url,
            &format!("/.well-known/oauth-authorization-server{path}"),
        ),
        at(&url, &format!("/.well-known/openid-configuration{path}")),
    ];
    if !path.is_empty() {
        candidates.push(at(
            &url,
            &format!("{path}/.well-known/openid-configuration"),
        ));
    }
    let mut last = None;
    for candidate in candidates {
        match get_json::<AuthorizationServer>(http, candidate, None).await {
            Ok(found) if found.issuer.trim_end_matches('/') == issuer.trim_end_matches('/') => {
                return Ok(found);
            }
            Ok(_) => {
                return Err(RemoteError::Discovery(
                    "the authorization server metadata names another issuer".into(),
                ));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(RemoteError::from_discovery(last))
}

fn at(base: &Url, path: &str) -> Url {
    let mut u = base.clone();
    u.set_path(path);
    u.set_query(None);
    u.set_fragment(None);
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|_| unreachable!("static test URL"))
    }

    #[test]
    fn the_well_known_segment_goes_between_host_and_path_then_at_the_root() {
        let found: Vec<String> = well_known(
            &url("https://r.example/api/mcp"),
            "oauth-protected-resource",
        )
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(
            found,
            [
                "https://r.example/.well-known/oauth-protected-resource/api/mcp",
                "https://r.example/.well-known/oauth-protected-resource"
            ]
        );
    }

    #[test]
    fn resource_metadata_is_read_quoted_or_bare() {
        assert_eq!(
            resource_metadata_param(
                r#"Bearer error="invalid_token", resource_metadata="https://r/x""#
            ),
            Some("https://r/x".into())
        );
        assert_eq!(
            resource_metadata_param("Bearer resource_metadata=https://r/y, scope=a"),
            Some("https://r/y".into())
        );
        assert_eq!(resource_metadata_param("Bearer realm=x"), None);
    }

    #[test]
    fn metadata_for_another_resource_is_not_this_ones() {
        assert!(same_resource("https://r/mcp/", &url("https://r/mcp")));
        assert!(!same_resource("https://evil/mcp", &url("https://r/mcp")));
    }
}
