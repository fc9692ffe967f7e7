//! Which headers cross the proxy, in each direction (RFC 9110 §7.6.1 for hop-by-hop).
//!
//! Towards the MCP server: everything the transport needs (`Mcp-Session-Id`,
//! `MCP-Protocol-Version`, `Last-Event-ID`, `Accept`, `Content-Type`, …) passes; hop-by-hop
//! headers, the client's credentials (`Authorization`, `Cookie`: the bridge's token must never
//! reach an MCP server) and every `x-auth-*` header do not. The identity headers are added later,
//! per attempt, because a replay after a refresh carries a different upstream token.
//!
//! Back to the client: everything but hop-by-hop headers, so `Mcp-Session-Id`,
//! `WWW-Authenticate` and the content headers arrive as the MCP server sent them.

use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Uri, header};

use super::identity::remove_identity_headers;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Hop-by-hop headers that are not named in `Connection` but are never forwarded.
/// `proxy-*` (including the non-standard `Proxy-Connection`) is matched by prefix.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The request headers sent to the MCP server, before identity is added.
///
/// `Host` goes (the client's URL is not the MCP server's), and so does `Content-Length`: the
/// body module sets it again for what is actually sent. `Expect` goes because hyper already
/// answered `100-continue` to the client.
pub(super) fn outgoing(mut headers: HeaderMap, uri: &Uri, peer: Option<SocketAddr>) -> HeaderMap {
    let host = headers.get(header::HOST).cloned();
    remove_hop_by_hop(&mut headers);
    for name in [
        header::HOST,
        header::AUTHORIZATION,
        header::COOKIE,
        header::CONTENT_LENGTH,
        header::EXPECT,
    ] {
        headers.remove(name);
    }
    remove_identity_headers(&mut headers);
    add_forwarding(&mut headers, uri, host, peer);
    headers
}

/// Cleans the MCP server's response headers in place for the client.
pub(super) fn incoming(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
}

/// Removes the fixed hop-by-hop headers, `proxy-*`, and every header `Connection` lists.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in listed.into_iter().chain(proxy).chain(HOP_BY_HOP) {
        headers.remove(name);
    }
}

/// `X-Forwarded-For` gets the client's address appended (what came before it is whatever the
/// proxies in front of the bridge said). `X-Forwarded-Proto` and `X-Forwarded-Host` are kept
/// when a proxy in front of the bridge set them, and otherwise describe the request the bridge
/// received, which is plain HTTP when nothing says otherwise.
fn add_forwarding(
    headers: &mut HeaderMap,
    uri: &Uri,
    host: Option<HeaderValue>,
    peer: Option<SocketAddr>,
) {
    if let Some(peer) = peer {
        let chain = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .chain(std::iter::once(peer.ip().to_string().as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(value) = HeaderValue::from_str(&chain) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        let scheme = uri.scheme_str().unwrap_or("http");
        if let Ok(value) = HeaderValue::from_str(scheme) {
            headers.insert(X_FORWARDED_PROTO, value);
        }
    }
    if !headers.contains_key(&X_FORWARDED_HOST) {
        let host = host.or_else(|| uri.authority().and_then(|a| a.as_str().parse().ok()));
        if let Some(host) = host {
            headers.insert(X_FORWARDED_HOST, host);
        }
    }
}

#[cfg(test)]
mod tests {
    use http::Request;

    use super::*;

    fn parts(headers: &[(&'static str, &'static str)]) -> http::request::Parts {
        let mut request = Request::builder().uri("/t/acme/mcp/x");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .body(())
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|_| unreachable!("static test headers are valid"))
    }

    #[test]
    fn hop_by_hop_and_listed_headers_are_removed() {
        let parts = parts(&[
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("proxy-authorization", "Basic abc"),
            ("te", "trailers"),
            ("mcp-session-id", "s1"),
            ("last-event-id", "4"),
        ]);
        let headers = outgoing(parts.headers, &parts.uri, None);
        assert!(headers.get("x-private").is_none());
        assert!(headers.get("proxy-authorization").is_none());
        assert!(headers.get("connection").is_none());
        assert!(headers.get("te").is_none());
        assert_eq!(headers["mcp-session-id"], "s1");
        assert_eq!(headers["last-event-id"], "4");
    }

    #[test]
    fn credentials_and_identity_never_leave_the_client_side() {
        let parts = parts(&[
            ("authorization", "Bearer mcp-token"),
            ("cookie", "session=1"),
            ("X-AUTH-UPSTREAM-TOKEN", "forged"),
            ("x-auth-subject", "admin"),
        ]);
        let headers = outgoing(parts.headers, &parts.uri, None);
        assert!(headers.get(header::AUTHORIZATION).is_none());
        assert!(headers.get(header::COOKIE).is_none());
        assert!(!headers.keys().any(|n| n.as_str().starts_with("x-auth-")));
    }

    #[test]
    fn the_client_address_is_appended_to_x_forwarded_for() {
        let parts = parts(&[("x-forwarded-for", "203.0.113.7"), ("host", "bridge.test")]);
        let peer = SocketAddr::from(([127, 0, 0, 1], 5555));
        let headers = outgoing(parts.headers, &parts.uri, Some(peer));
        assert_eq!(headers[X_FORWARDED_FOR], "203.0.113.7, 127.0.0.1");
        assert_eq!(headers[X_FORWARDED_PROTO], "http");
        assert_eq!(headers[X_FORWARDED_HOST], "bridge.test");
        assert!(headers.get(header::HOST).is_none());
    }
}
