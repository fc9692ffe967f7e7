//! The bridge's own URLs, built in one place.
//!
//! Issuer, resource, callback, protected-resource metadata and consent URLs are all derived
//! from `public_url`; the routers and the metadata documents both read them from here so a
//! path changed in one cannot drift from the other.

use url::Url;

/// Path of a tenant's issuer under `public_url` (the router mounts the tenant's endpoints here).
pub const TENANT_PREFIX: &str = "/t";
/// Path prefix of protected-resource metadata (RFC 9728), before the resource path.
pub const PRM_PREFIX: &str = "/.well-known/oauth-protected-resource";

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
