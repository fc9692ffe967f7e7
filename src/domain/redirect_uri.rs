//! Redirect URIs: what a client may register and how an authorization request's URI is
//! matched against them (exact string comparison; RFC 8252 section 7.3 lets loopback ports vary).

use std::{fmt, net::IpAddr};

use url::Url;

/// How the client runs, which decides the redirect URIs it may use (OpenID Registration
/// `application_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplicationType {
    /// Browser-hosted or server-side: `https`, or `http` on loopback.
    Web,
    /// Installed apps: loopback `http`, private-use schemes (`com.example.app:/cb`), or `https`.
    Native,
}

impl ApplicationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "web" => Some(Self::Web),
            "native" => Some(Self::Native),
            _ => None,
        }
    }
}

/// A registered redirect URI, checked once at registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectUri(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedirectUriError {
    #[error("is not an absolute URI")]
    NotAbsolute,
    #[error("is longer than 2000 characters")]
    TooLong,
    #[error("must not contain a fragment")]
    Fragment,
    #[error("must not contain wildcards")]
    Wildcard,
    #[error("uses a forbidden scheme")]
    ForbiddenScheme,
    #[error("http is only allowed for loopback hosts (127.0.0.1, [::1], localhost)")]
    HttpNotLoopback,
    #[error("private-use schemes are only allowed for native applications")]
    PrivateSchemeForWeb,
    #[error("private-use schemes must be reverse domain names such as com.example.app")]
    PrivateSchemeShape,
    #[error("must not carry user credentials")]
    UserInfo,
    #[error("must not contain whitespace, control characters or backslashes")]
    BadCharacters,
    #[error(
        "must be in canonical form (lowercase scheme and host, no default port, no empty host, no dot segments, a path)"
    )]
    NotCanonical,
}

const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "ftp",
    "ws",
    "wss",
];

impl RedirectUri {
    pub fn parse(value: &str, app: ApplicationType) -> Result<Self, RedirectUriError> {
        if value.len() > 2000 {
            return Err(RedirectUriError::TooLong);
        }
        if value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return Err(RedirectUriError::BadCharacters);
        }
        if value.contains('#') {
            return Err(RedirectUriError::Fragment);
        }
        if value.contains('*') {
            return Err(RedirectUriError::Wildcard);
        }
        let url = Url::parse(value).map_err(|_| RedirectUriError::NotAbsolute)?;
        let scheme = url.scheme();
        if FORBIDDEN_SCHEMES.contains(&scheme) {
            return Err(RedirectUriError::ForbiddenScheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::UserInfo);
        }
        match scheme {
            "https" if url.host().is_some() => {}
            "https" => return Err(RedirectUriError::NotAbsolute),
            "http" if is_loopback(&url) => {}
            "http" => return Err(RedirectUriError::HttpNotLoopback),
            _ if app == ApplicationType::Web => return Err(RedirectUriError::PrivateSchemeForWeb),
            _ if !scheme.contains('.') => return Err(RedirectUriError::PrivateSchemeShape),
            _ => {}
        }
        // Stored as given but compared and followed as parsed: `https:///cb` goes to host `cb`,
        // `HTTPS://App.Example.com:443/a/../cb` to `https://app.example.com/cb`. Only a URI that
        // is its own parse is accepted, so what the user approves is where the browser goes.
        if url.as_str() != value {
            return Err(RedirectUriError::NotCanonical);
        }
        Ok(Self(value.to_owned()))
    }

    /// Trusts a value that was validated before it was stored.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `requested` (from an authorization request) may be used with this registration:
    /// the same string, or for loopback `http` URIs the same URI with any port (RFC 8252
    /// section 7.3), including a registration written without a port.
    pub fn matches(&self, requested: &str) -> bool {
        if self.0 == requested {
            return true;
        }
        let (Ok(registered), Ok(asked)) = (Url::parse(&self.0), Url::parse(requested)) else {
            return false;
        };
        if registered.scheme() != "http" || asked.scheme() != "http" || !is_loopback(&registered) {
            return false;
        }
        // Compare everything but the port, as strings, so no normalisation widens the match.
        strip_port(&self.0) == strip_port(requested)
            && registered.host_str() == asked.host_str()
            && !requested.contains('#')
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `http://host:port/rest` → `http://host/rest`, textually.
fn strip_port(uri: &str) -> String {
    let Some(rest) = uri.strip_prefix("http://") else {
        return uri.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let host = match authority.rfind(':') {
        Some(i)
            if !authority[i + 1..].contains(']')
                && authority[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &authority[..i]
        }
        _ => authority,
    };
    let path = if path.is_empty() { "/" } else { path };
    format!("http://{host}{path}")
}

/// Loopback by IP literal, or the name `localhost` (RFC 8252 recommends the literal, but MCP
/// clients in the wild register `localhost`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationType::{Native, Web};

    #[test]
    fn https_and_loopback_http_are_accepted_for_web_clients() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "http://[::1]:8/cb",
        ] {
            assert!(RedirectUri::parse(ok, Web).is_ok(), "{ok}");
        }
    }

    #[test]
    fn http_on_a_public_host_is_rejected() {
        assert_eq!(
            RedirectUri::parse("http://evil.example/cb", Web),
            Err(RedirectUriError::HttpNotLoopback)
        );
        assert_eq!(
            RedirectUri::parse("http://127.0.0.1.evil.example/cb", Web),
            Err(RedirectUriError::HttpNotLoopback)
        );
    }

    #[test]
    fn a_redirect_uri_with_a_fragment_is_rejected() {
        assert_eq!(
            RedirectUri::parse("https://a.example/cb#x", Web),
            Err(RedirectUriError::Fragment)
        );
    }

    #[test]
    fn wildcards_and_dangerous_schemes_are_rejected() {
        assert_eq!(
            RedirectUri::parse("https://*.example.com/cb", Web),
            Err(RedirectUriError::Wildcard)
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "vbscript:x",
        ] {
            assert_eq!(
                RedirectUri::parse(bad, Native),
                Err(RedirectUriError::ForbiddenScheme),
                "{bad}"
            );
        }
    }

    #[test]
    fn private_use_schemes_are_for_native_apps_and_must_look_like_reverse_domains() {
        assert!(RedirectUri::parse("com.example.app:/oauth", Native).is_ok());
        assert_eq!(
            RedirectUri::parse("com.example.app:/oauth", Web),
            Err(RedirectUriError::PrivateSchemeForWeb)
        );
        assert_eq!(
            RedirectUri::parse("myapp:/oauth", Native),
            Err(RedirectUriError::PrivateSchemeShape)
        );
    }

    #[test]
    fn credentials_whitespace_and_backslashes_are_rejected() {
        assert_eq!(
            RedirectUri::parse("https://user:pw@a.example/cb", Web),
            Err(RedirectUriError::UserInfo)
        );
        assert_eq!(
            RedirectUri::parse("https://a.example/c b", Web),
            Err(RedirectUriError::BadCharacters)
        );
        assert_eq!(
            RedirectUri::parse("https://a.example\\@evil/cb", Web),
            Err(RedirectUriError::BadCharacters)
        );
        assert_eq!(
            RedirectUri::parse(&format!("https://a.example/{}", "a".repeat(2000)), Web),
            Err(RedirectUriError::TooLong)
        );
    }

    #[test]
    fn a_redirect_uri_that_is_not_its_own_parse_is_rejected() {
        for odd in [
            "https:///cb",
            "HTTPS://app.example.com/cb",
            "https://App.Example.com/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com/a/../cb",
            "https://app.example.com/./cb",
            "https://app.example.com",
            "http://127.0.0.1:80/cb",
            "http://LOCALHOST:3000/cb",
        ] {
            assert_eq!(
                RedirectUri::parse(odd, Web),
                Err(RedirectUriError::NotCanonical),
                "{odd}"
            );
        }
    }

    #[test]
    fn matching_is_exact_for_non_loopback_uris() {
        let r = RedirectUri::parse("https://app.example.com/cb", Web).unwrap();
        assert!(r.matches("https://app.example.com/cb"));
        for near in [
            "https://app.example.com/cb/",
            "https://APP.example.com/cb",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/%2e/cb",
            "https://app.example.com/cb/..;/",
            "https://app.example.com//cb",
            "https://app.example.com@evil.example/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com/cb#f",
        ] {
            assert!(!r.matches(near), "{near}");
        }
    }

    #[test]
    fn loopback_redirect_uris_may_change_port_but_nothing_else() {
        let r = RedirectUri::parse("http://127.0.0.1:3000/callback", Native).unwrap();
        assert!(r.matches("http://127.0.0.1:51234/callback"));
        assert!(r.matches("http://127.0.0.1/callback"));
        assert!(!r.matches("http://127.0.0.1:51234/callback/other"));
        assert!(!r.matches("http://localhost:51234/callback"));
        assert!(!r.matches("http://127.0.0.1:51234/callback?x=1"));
        assert!(!r.matches("http://127.0.0.1:5123@evil.example/callback"));
    }

    #[test]
    fn a_loopback_registration_without_a_port_accepts_any_port() {
        let r = RedirectUri::parse("http://localhost/callback", Native).unwrap();
        assert!(r.matches("http://localhost:8976/callback"));
        assert!(!r.matches("http://localhost.evil.example:8976/callback"));
    }
}
