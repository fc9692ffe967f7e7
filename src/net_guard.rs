//! Which network addresses the bridge trusts or may be aimed at.
//!
//! - [`Cidr`] (a `domain` type, re-exported here where it used to live): an address range from
//!   the configuration (`server.trusted_proxies`, `admin.allowed_upstream_hosts`).
//! - [`UpstreamGuard`]: the SSRF rule for URLs set through the admin API (MCP servers, upstream
//!   provider endpoints). Such a URL must point at a public address (the same test the client-ID
//!   metadata fetcher applies, [`is_public`]) unless the operator allow-listed its host or range;
//!   link-local addresses (169.254/16 with the cloud metadata service, fe80::/10) are refused
//!   whatever the allow-list says. Literal addresses are checked when the URL is written; names
//!   are checked each time they are resolved to connect, so a DNS answer that changes after the
//!   check (rebinding) is caught too. Configuration-file tenants are the operator's own and are
//!   not guarded. [`GuardedResolver`] applies it to the gateway's connections, and
//!   [`UpstreamResolver`] to the upstream (identity provider) client.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use url::Host;

pub use crate::{domain::Cidr, public_ip::is_public};

/// One entry of `admin.allowed_upstream_hosts`: a host name (exact, case-insensitive) or a
/// range of addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Allowed {
    Name(String),
    Range(Cidr),
}

/// Why a URL or an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("link-local addresses are never allowed")]
    LinkLocal,
    #[error(
        "the host is not a public address; an operator may allow it in admin.allowed_upstream_hosts"
    )]
    NotPublic,
}

/// The SSRF rule for URLs that came through the admin API. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct UpstreamGuard {
    allowed: Arc<[Allowed]>,
}

impl UpstreamGuard {
    /// From `admin.allowed_upstream_hosts`: entries that parse as an address or range are
    /// ranges, the others host names.
    pub fn new(entries: &[String]) -> Self {
        let allowed = entries
            .iter()
            .map(|e| match e.parse::<Cidr>() {
                Ok(range) => Allowed::Range(range),
                Err(_) => Allowed::Name(e.trim().trim_end_matches('.').to_ascii_lowercase()),
            })
            .collect();
        Self { allowed }
    }

    /// The write-time check of a URL's host. A literal address is judged now (it cannot
    /// change); `localhost` names are refused unless allow-listed; other names pass here and
    /// are judged by [`UpstreamGuard::check_resolved`] each time they are resolved.
    pub fn check_host(&self, host: &Host<&str>) -> Result<(), Refused> {
        match host {
            Host::Ipv4(ip) => self.check_address(None, IpAddr::V4(*ip)),
            Host::Ipv6(ip) => self.check_address(None, IpAddr::V6(*ip)),
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let local = name == "localhost" || name.ends_with(".localhost");
                if local && !self.name_allowed(&name) {
                    Err(Refused::NotPublic)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The connect-time check: every address `name` resolved to must be allowed (one private
    /// answer among public ones is enough to refuse: the connector may pick any of them).
    pub fn check_resolved(&self, name: &str, addrs: &[SocketAddr]) -> Result<(), Refused> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        addrs
            .iter()
            .try_for_each(|a| self.check_address(Some(&name), a.ip()))
    }

    fn check_address(&self, name: Option<&str>, ip: IpAddr) -> Result<(), Refused> {
        let ip = ip.to_canonical();
        if is_link_local(ip) {
            return Err(Refused::LinkLocal);
        }
        let allowed = name.is_some_and(|n| self.name_allowed(n))
            || self.allowed.iter().any(|a| match a {
                Allowed::Range(range) => range.contains(ip),
                Allowed::Name(_) => false,
            });
        if allowed || is_public(ip) {
            Ok(())
        } else {
            Err(Refused::NotPublic)
        }
    }

    fn name_allowed(&self, name: &str) -> bool {
        self.allowed
            .iter()
            .any(|a| matches!(a, Allowed::Name(n) if n == name))
    }
}

/// 169.254.0.0/16 (IPv4 link-local, the cloud metadata service) and fe80::/10.
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// A `hyper-util` resolver that refuses names resolving to addresses the guard refuses, so the
/// gateway's connection to an admin-API MCP server is checked at every connect (DNS rebinding).
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    guard: UpstreamGuard,
}

impl GuardedResolver {
    pub fn new(guard: UpstreamGuard) -> Self {
        Self { guard }
    }
}

type Resolving = std::pin::Pin<
    Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>,
>;

impl tower::Service<hyper_util::client::legacy::connect::dns::Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let guard = self.guard.clone();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .take(32)
                .collect();
            guard
                .check_resolved(name.as_str(), &addrs)
                .map_err(|refused| {
                    tracing::warn!(%refused, "connection to an admin-configured host refused");
                    std::io::Error::new(std::io::ErrorKind::PermissionDenied, refused)
                })?;
            Ok(addrs.into_iter())
        })
    }
}

/// The resolver of the upstream client (reqwest: identity providers' discovery, token,
/// userinfo, JWKS and revocation endpoints). Providers carry no record of where they were
/// configured, so the rule is by name: the hosts named in the configuration file (its tenants'
/// provider URLs, `public_url` for the `dev` provider) are the operator's and resolve freely;
/// any other name (an admin-API provider's, or one a discovery document named) must resolve to
/// addresses the guard allows, at every connection. Literal addresses never reach a resolver;
/// the admin API checks them when they are written.
#[derive(Clone, Debug)]
pub struct UpstreamResolver {
    guard: UpstreamGuard,
    operator_hosts: Arc<std::collections::HashSet<String>>,
}

impl UpstreamResolver {
    pub fn new(guard: UpstreamGuard, operator_hosts: impl IntoIterator<Item = String>) -> Self {
        let operator_hosts = operator_hosts
            .into_iter()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        Self {
            guard,
            operator_hosts: Arc::new(operator_hosts),
        }
    }
}

impl reqwest::dns::Resolve for UpstreamResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .take(32)
                .collect();
            if !this.operator_hosts.contains(&host) {
                this.guard
                    .check_resolved(&host, &addrs)
                    .map_err(|refused| {
                        tracing::warn!(%refused, "connection to an upstream provider host refused");
                        Box::new(refused) as Box<dyn std::error::Error + Send + Sync>
                    })?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The host names the configuration file aims the upstream client at: its tenants' provider
/// URLs, and `public_url` (where the `dev` provider lives).
pub fn operator_hosts(config: &crate::config::Config) -> Vec<String> {
    let providers = config.tenants.iter().flat_map(|t| &t.providers);
    let urls = providers.flat_map(|p| {
        [
            &p.issuer,
            &p.authorization_url,
            &p.token_url,
            &p.userinfo_url,
            &p.jwks_url,
            &p.revocation_url,
        ]
        .into_iter()
        .flatten()
    });
    urls.chain(std::iter::once(&config.public_url))
        .filter_map(|url| url.host_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_address_is_refused_even_when_allow_listed() {
        let guard = UpstreamGuard::new(&["169.254.0.0/16".into(), "0.0.0.0/0".into()]);
        let host = Host::Ipv4("169.254.169.254".parse().unwrap());
        assert_eq!(guard.check_host(&host), Err(Refused::LinkLocal));
        let host = Host::Ipv6("fe80::1".parse().unwrap());
        assert_eq!(guard.check_host(&host), Err(Refused::LinkLocal));
    }

    #[test]
    fn private_hosts_need_the_allow_list() {
        let strict = UpstreamGuard::default();
        let open = UpstreamGuard::new(&["127.0.0.0/8".into(), "mcp.internal".into()]);
        let loopback = Host::Ipv4("127.0.0.1".parse().unwrap());
        assert_eq!(strict.check_host(&loopback), Err(Refused::NotPublic));
        assert_eq!(open.check_host(&loopback), Ok(()));
        assert_eq!(
            strict.check_host(&Host::Domain("LocalHost.")),
            Err(Refused::NotPublic)
        );
        assert_eq!(strict.check_host(&Host::Domain("mcp.example.com")), Ok(()));
        let private = [SocketAddr::from(([10, 0, 0, 7], 443))];
        assert_eq!(
            strict.check_resolved("mcp.internal", &private),
            Err(Refused::NotPublic)
        );
        assert_eq!(open.check_resolved("MCP.internal", &private), Ok(()));
        let mixed = [
            SocketAddr::from(([93, 184, 215, 14], 443)),
            SocketAddr::from(([10, 0, 0, 7], 443)),
        ];
        assert_eq!(
            strict.check_resolved("rebind.example", &mixed),
            Err(Refused::NotPublic)
        );
    }
}
