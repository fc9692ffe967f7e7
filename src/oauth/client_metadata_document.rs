//! Fetching OAuth client ID metadata documents (draft-ietf-oauth-client-id-metadata-document;
//! MCP authorization 2025-11-25, "Client ID Metadata Documents"): the `client_id` is an `https`
//! URL and the JSON found there describes the client.
//!
//! The URL comes from whoever starts an authorization request, so the fetch is an SSRF vector
//! (draft section 6): the host is resolved here, every address is checked against the private,
//! loopback, link-local and other non-public ranges, and the request is pinned to the checked
//! address so a second DNS answer cannot swap it (rebinding). No proxy, no redirects, a timeout
//! over the whole exchange and a 5 KiB body cap.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use url::{Host, Url};

/// Draft section 4 suggests a small limit; 5 KiB is what the MCP specification names.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
const MAX_URL_BYTES: usize = 2000;
const MIN_CACHE: u64 = 5 * 60;
const MAX_CACHE: u64 = 24 * 3600;
const DEFAULT_CACHE: u64 = 3600;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// The host is (or resolves to) an address we refuse to contact.
    #[error("the client_id host is not a public address")]
    Forbidden,
    #[error("the client_id host could not be resolved")]
    Unresolvable,
    #[error("the metadata document was not found")]
    NotFound,
    #[error("fetching the metadata document failed: {0}")]
    Failed(&'static str),
    #[error("the metadata document answered with status {0}")]
    Status(u16),
}

/// A fetched document and how long it may be cached.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub max_age: Duration,
}

/// Whether `client_id` is shaped like a metadata document URL (draft section 3): `https`
/// (or `http` when private hosts are allowed, for tests), a host, a path other than `/`, no
/// fragment, no credentials, and already in normalised form — so dot segments, an upper-case
/// host or a default port make it something else than the URL the document must repeat.
pub fn document_url(client_id: &str, allow_private: bool) -> Option<Url> {
    if client_id.len() > MAX_URL_BYTES {
        return None;
    }
    let url = Url::parse(client_id).ok()?;
    let scheme_ok = url.scheme() == "https" || (allow_private && url.scheme() == "http");
    let shaped = scheme_ok
        && url.host().is_some()
        && url.path() != "/"
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && url.as_str() == client_id;
    shaped.then_some(url)
}

/// Fetches the document at `url` under the SSRF guards described in the module docs.
pub async fn fetch(
    url: &Url,
    timeout: Duration,
    allow_private: bool,
) -> Result<Fetched, FetchError> {
    let work = async {
        let target = resolve_checked(url, allow_private).await?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .user_agent(concat!("mcp-auth-bridge/", env!("CARGO_PKG_VERSION")));
        if let Some(Host::Domain(domain)) = url.host() {
            builder = builder.resolve(domain, target);
        }
        let http = builder
            .build()
            .map_err(|_| FetchError::Failed("client setup"))?;
        let response = http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| FetchError::Failed("no response"))?;
        read_document(response).await
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| FetchError::Failed("timed out"))?
}

/// The address to connect to: the literal, or the first DNS answer — after every answer was
/// checked, since a host with one private answer is not one we should talk to.
async fn resolve_checked(url: &Url, allow_private: bool) -> Result<SocketAddr, FetchError> {
    let port = url
        .port_or_known_default()
        .ok_or(FetchError::Unresolvable)?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|_| FetchError::Unresolvable)?
            .take(32)
            .collect(),
        None => return Err(FetchError::Unresolvable),
    };
    if !allow_private && addrs.iter().any(|a| !crate::public_ip::is_public(a.ip())) {
        return Err(FetchError::Forbidden);
    }
    addrs.first().copied().ok_or(FetchError::Unresolvable)
}

/// Checks status and type, then reads at most [`MAX_DOCUMENT_BYTES`], stopping as soon as the
/// body grows beyond it.
async fn read_document(mut response: reqwest::Response) -> Result<Fetched, FetchError> {
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
        return Err(FetchError::NotFound);
    }
    if status.is_redirection() {
        return Err(FetchError::Failed("redirects are not followed"));
    }
    if status != reqwest::StatusCode::OK {
        return Err(FetchError::Status(status.as_u16()));
    }
    let headers = response.headers();
    let is_json = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    if !is_json {
        return Err(FetchError::Failed("the document is not application/json"));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(FetchError::Failed("the document is too large"));
    }
    let max_age = cache_lifetime(
        headers
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
    );
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| FetchError::Failed("the body could not be read"))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::Failed("the document is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// `Cache-Control: max-age` (RFC 9111 section 5.2.2.1), clamped to 5 minutes … 24 hours so a
/// document is neither refetched on every request nor trusted for days; `no-store`/`no-cache`
/// get the minimum, no header the 1 hour default.
pub fn cache_lifetime(cache_control: Option<&str>) -> Duration {
    let mut secs = DEFAULT_CACHE;
    for directive in cache_control.unwrap_or("").split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            secs = MIN_CACHE;
            break;
        }
        if let Some(value) = lower.strip_prefix("max-age=") {
            secs = value.trim_matches('"').parse().unwrap_or(MIN_CACHE);
        }
    }
    Duration::from_secs(secs.clamp(MIN_CACHE, MAX_CACHE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public_ip::is_public;

    #[test]
    fn private_loopback_link_local_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ordinary_internet_addresses_are_public() {
        for ip in [
            "93.184.215.14",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_client_id_url_needs_https_a_path_and_its_normal_form() {
        assert!(document_url("https://app.example.com/oauth/client.json", false).is_some());
        for bad in [
            "https://app.example.com",
            "https://app.example.com/",
            "http://app.example.com/client.json",
            "https://app.example.com/client.json#x",
            "https://user@app.example.com/client.json",
            "https://APP.example.com/client.json",
            "https://app.example.com:443/client.json",
            "https://app.example.com/a/../client.json",
            "not a url",
        ] {
            assert!(document_url(bad, false).is_none(), "{bad}");
        }
        assert!(document_url("http://127.0.0.1:8080/client.json", true).is_some());
    }

    #[test]
    fn cache_lifetimes_are_clamped_between_five_minutes_and_a_day() {
        let secs = |h| cache_lifetime(h).as_secs();
        assert_eq!(secs(None), 3600);
        assert_eq!(secs(Some("public, max-age=600")), 600);
        assert_eq!(secs(Some("max-age=1")), 300);
        assert_eq!(secs(Some("max-age=9999999")), 86_400);
        assert_eq!(secs(Some("no-store")), 300);
        assert_eq!(secs(Some("max-age=junk")), 300);
    }

    #[tokio::test]
    async fn a_private_literal_is_refused_before_any_connection() {
        let url = Url::parse("https://10.0.0.1/client.json").unwrap();
        let started = std::time::Instant::now();
        let result = fetch(&url, Duration::from_secs(5), false).await;
        assert_eq!(result.unwrap_err(), FetchError::Forbidden);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
