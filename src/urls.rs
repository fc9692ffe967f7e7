//! The bridge's own URLs, built in one place.
//!
//! Issuer, resource, callback, protected-resource metadata and consent URLs are all derived
//! from `public_url`; the routers mount the patterns in [`route`] and the metadata documents
//! build URLs with [`BridgeUrls`], both from here, and a test checks that every built URL is
//! one its route matches, so a path changed in one cannot drift from the other.

use url::Url;

/// Path of a tenant's issuer under `public_url` (the router mounts the tenant's endpoints here).
pub const TENANT_PREFIX: &str = "/t";
/// Path prefix of protected-resource metadata (RFC 9728), before the resource path.
pub const PRM_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// The router's path patterns (axum syntax) of the bridge's public URL layout; the admin API's
/// paths stay beside their OpenAPI annotations in `admin`, which need literals.
pub mod route {
    /// RFC 8414 metadata, path-insertion form (section 3.1).
    pub const AS_METADATA: &str = "/.well-known/oauth-authorization-server/t/{tenant}";
    /// RFC 8414 metadata, appended form (what some clients try first).
    pub const AS_METADATA_APPENDED: &str = "/t/{tenant}/.well-known/oauth-authorization-server";
    /// The same metadata as OIDC discovery, path-insertion form.
    pub const OIDC_DISCOVERY: &str = "/.well-known/openid-configuration/t/{tenant}";
    /// The same metadata as OIDC discovery, appended form.
    pub const OIDC_DISCOVERY_APPENDED: &str = "/t/{tenant}/.well-known/openid-configuration";
    /// RFC 9728 metadata of one MCP server ([`super::BridgeUrls::protected_resource_metadata`]).
    pub const PROTECTED_RESOURCE: &str =
        "/.well-known/oauth-protected-resource/t/{tenant}/mcp/{server}";
    pub const JWKS: &str = "/t/{tenant}/jwks.json";
    pub const REGISTER: &str = "/t/{tenant}/register";
    /// RFC 7592 client configuration endpoint.
    pub const REGISTERED_CLIENT: &str = "/t/{tenant}/register/{client_id}";
    pub const TOKEN: &str = "/t/{tenant}/token";
    pub const REVOKE: &str = "/t/{tenant}/revoke";
    pub const INTROSPECT: &str = "/t/{tenant}/introspect";
    pub const USERINFO: &str = "/t/{tenant}/userinfo";
    pub const AUTHORIZE: &str = "/t/{tenant}/authorize";
    /// Where the consent form posts ([`super::consent`]).
    pub const CONSENT: &str = "/t/{tenant}/consent";
    /// The upstream IdP's redirect target ([`super::BridgeUrls::callback`]).
    pub const CALLBACK: &str = "/t/{tenant}/callback/{provider}";
    /// An MCP server behind the gateway ([`super::BridgeUrls::resource`]), and below it.
    pub const MCP: &str = "/t/{tenant}/mcp/{server}";
    pub const MCP_BELOW: &str = "/t/{tenant}/mcp/{server}/{*rest}";
    /// The built-in `dev` provider, under [`super::BridgeUrls::dev_idp_base`].
    pub const DEV_IDP_AUTHORIZE: &str = "/dev-idp/t/{tenant}/{provider}/authorize";
    pub const DEV_IDP_TOKEN: &str = "/dev-idp/t/{tenant}/{provider}/token";
    pub const DEV_IDP_USERINFO: &str = "/dev-idp/t/{tenant}/{provider}/userinfo";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
}

/// The bridge's own URLs for one `public_url`.
#[derive(Clone, Debug)]
pub struct BridgeUrls {
    public_url: Url,
}

impl BridgeUrls {
    pub fn new(public_url: Url) -> Self {
        Self { public_url }
    }

    /// `public_url` as configured.
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// Any absolute URL under `public_url`.
    pub fn public(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.as_str().trim_end_matches('/'))
    }

    /// `{public_url}/t/{tenant}`: the tenant's issuer identifier.
    pub fn issuer(&self, tenant: &str) -> String {
        self.public(&format!("{TENANT_PREFIX}/{tenant}"))
    }

    /// `{public_url}/t/{tenant}/mcp/{server}`: an MCP server's canonical resource URL.
    pub fn resource(&self, tenant: &str, server: &str) -> String {
        format!("{}/mcp/{server}", self.issuer(tenant))
    }

    /// Where the protected-resource metadata of an MCP server is served (RFC 9728 3.1:
    /// the well-known segment inserted before the resource's path).
    pub fn protected_resource_metadata(&self, tenant: &str, server: &str) -> String {
        self.public(&format!(
            "{PRM_PREFIX}{TENANT_PREFIX}/{tenant}/mcp/{server}"
        ))
    }

    /// The bridge's redirect URI at an IdP: one per provider (mix-up defence, RFC 9700 4.4).
    pub fn callback(&self, tenant: &str, provider: &str) -> Url {
        self.join(&format!("t/{tenant}/callback/{provider}"))
    }

    /// Where the built-in `dev` provider of a tenant is served.
    pub fn dev_idp_base(&self, tenant: &str, provider: &str) -> Url {
        self.join(&format!("dev-idp/t/{tenant}/{provider}/"))
    }

    /// `path` (relative) joined under `public_url`, which is treated as a directory.
    fn join(&self, path: &str) -> Url {
        let mut base = self.public_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join(path).unwrap_or_else(|_| self.public_url.clone())
    }
}

/// Where the consent form posts: under the issuer, so the tenant is in the path.
pub fn consent(issuer: &str) -> String {
    format!("{issuer}/consent")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(s: &str) -> BridgeUrls {
        BridgeUrls::new(Url::parse(s).expect("test URL"))
    }

    /// `pattern` with its `{name}` segments filled in, under `base`.
    fn filled(base: &str, pattern: &str) -> String {
        let path = pattern
            .replace("{tenant}", "acme")
            .replace("{server}", "files")
            .replace("{provider}", "corp");
        format!("{base}{path}")
    }

    #[test]
    fn every_built_url_is_one_a_route_serves() {
        let base = "https://b.example/bridge";
        let u = urls(base);
        assert_eq!(u.issuer("acme"), filled(base, "/t/{tenant}"));
        assert_eq!(u.resource("acme", "files"), filled(base, route::MCP));
        assert_eq!(
            u.protected_resource_metadata("acme", "files"),
            filled(base, route::PROTECTED_RESOURCE)
        );
        assert_eq!(
            u.callback("acme", "corp").as_str(),
            filled(base, route::CALLBACK)
        );
        assert_eq!(consent(&u.issuer("acme")), filled(base, route::CONSENT));
        let dev = u.dev_idp_base("acme", "corp");
        for (endpoint, pattern) in [
            ("authorize", route::DEV_IDP_AUTHORIZE),
            ("token", route::DEV_IDP_TOKEN),
            ("userinfo", route::DEV_IDP_USERINFO),
        ] {
            assert_eq!(
                dev.join(endpoint).expect("joins").as_str(),
                filled(base, pattern)
            );
        }
    }

    #[test]
    fn issuer_and_resource_ignore_a_trailing_slash() {
        for base in ["https://b.example", "https://b.example/"] {
            let u = urls(base);
            assert_eq!(u.issuer("acme"), "https://b.example/t/acme");
            assert_eq!(
                u.resource("acme", "files"),
                "https://b.example/t/acme/mcp/files"
            );
        }
    }

    #[test]
    fn callback_and_dev_base_keep_a_path_prefix() {
        let u = urls("https://b.example/bridge");
        assert_eq!(
            u.callback("acme", "corp").as_str(),
            "https://b.example/bridge/t/acme/callback/corp"
        );
        assert_eq!(
            u.dev_idp_base("acme", "dev").as_str(),
            "https://b.example/bridge/dev-idp/t/acme/dev/"
        );
        assert_eq!(
            u.protected_resource_metadata("acme", "files"),
            "https://b.example/bridge/.well-known/oauth-protected-resource/t/acme/mcp/files"
        );
    }
}
