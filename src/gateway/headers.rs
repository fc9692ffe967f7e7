//! Which headers cross the proxy, in each direction (RFC 9110 §7.6.1 for hop-by-hop).
//!
//! Towards the MCP server: everything the transport needs (`Mcp-Session-Id`,
//! `MCP-Protocol-Version`, `Last-Event-ID`, `Accept`, `Content-Type`, …) passes; hop-by-hop
//! headers, the client's credentials (`Authorization`, `Cookie`: the bridge's token must never
//! reach an MCP server), every identity header (`x-auth-*` and other proxies' conventions, see
//! [`super::spoofed::is_identity_header`]) and every header whose name has an `_` do not. The
//! identity headers are added later, per attempt, because a replay after a refresh carries a
//! different upstream token.
//!
//! Underscore names are dropped as nginx does by default (`underscores_in_headers off`): CGI,
//! WSGI and PHP backends read `-` and `_` alike, so `X_Auth_Subject` or `X_Forwarded_For` would
//! merge with (or shadow) the header the gateway sets. No MCP transport header has one.
//!
//! `X-Forwarded-*`, `Forwarded` and `X-Real-IP` are believed only from `server.trusted_proxies`;
//! from any other peer they are dropped and `X-Forwarded-For/Proto/Host` describe what the
//! bridge itself saw.
//!
//! Back to the client: everything but hop-by-hop headers, so `Mcp-Session-Id`,
//! `WWW-Authenticate` and the content headers arrive as the MCP server sent them.

use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header, request::Parts};

use super::spoofed::remove_identity_headers;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Whether the TCP peer is one of `server.trusted_proxies`, whose forwarding headers are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Peer {
    TrustedProxy,
    Untrusted,
}

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
pub(super) fn outgoing(
    mut headers: HeaderMap,
    uri: &Uri,
    peer: Option<SocketAddr>,
    trust: Peer,
) -> HeaderMap {
    let host = headers.get(header::HOST).cloned();
    remove_hop_by_hop(&mut headers);
    remove_matching(&mut headers, |name| name.contains('_'));
    if trust == Peer::Untrusted {
        remove_matching(&mut headers, |name| {
            name.starts_with("x-forwarded-") || name == FORWARDED || name == X_REAL_IP
        });
    }
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

fn remove_matching(headers: &mut HeaderMap, matches: impl Fn(&str) -> bool) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| matches(name.as_str()))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
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
/// trusted proxies in front of the bridge said; from an untrusted peer nothing came before).
/// `X-Forwarded-Proto` and `X-Forwarded-Host` are kept when a trusted proxy set them, and
/// otherwise describe the request the bridge received, which is plain HTTP when nothing says
/// otherwise.
fn add_forwarding(
    headers: &mut HeaderMap,
    uri: &Uri,
    host: Option<HeaderValue>,
    peer: Option<SocketAddr>,
) {
    if let Some(peer) = peer
        && let Some(value) = forwarded_for(headers, peer)
    {
        headers.insert(X_FORWARDED_FOR, value);
    }
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        let value = match uri.scheme_str() {
            None | Some("http") => Ok(HeaderValue::from_static("http")),
            Some("https") => Ok(HeaderValue::from_static("https")),
            Some(other) => HeaderValue::from_str(other),
        };
        if let Ok(value) = value {
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

/// `X-Forwarded-For` with `peer` appended, written once into a buffer of exactly its length
/// (this runs on every forwarded request).
fn forwarded_for(headers: &HeaderMap, peer: SocketAddr) -> Option<HeaderValue> {
    use std::io::Write as _;
    let mut address = [0_u8; 64];
    let free = {
        let mut rest = address.as_mut_slice();
        write!(rest, "{}", peer.ip()).ok()?;
        rest.len()
    };
    let address = address.get(..address.len() - free)?;
    let before = || {
        headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
    };
    let length = before().map(|v| v.len() + 2).sum::<usize>() + address.len();
    let mut chain = Vec::with_capacity(length);
    for value in before() {
        chain.extend_from_slice(value.as_bytes());
        chain.extend_from_slice(b", ");
    }
    chain.extend_from_slice(address);
    // Exactly its capacity: `Bytes` takes the buffer over without allocating again.
    HeaderValue::from_maybe_shared(bytes::Bytes::from(chain)).ok()
}

/// An SSE stream of unknown length (one with a `Content-Length` is relayed as it is).
pub(super) fn is_event_stream(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::CONTENT_LENGTH)
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// A `POST` whose body is JSON (a JSON-RPC message or batch).
pub(super) fn is_json_post(parts: &Parts) -> bool {
    parts.method == Method::POST
        && parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
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
        let headers = outgoing(parts.headers, &parts.uri, None, Peer::Untrusted);
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
        let headers = outgoing(parts.headers, &parts.uri, None, Peer::Untrusted);
        assert!(headers.get(header::AUTHORIZATION).is_none());
        assert!(headers.get(header::COOKIE).is_none());
        assert!(!headers.keys().any(|n| n.as_str().starts_with("x-auth-")));
    }

    #[test]
    fn a_trusted_proxys_chain_gets_the_peer_appended() {
        let parts = parts(&[("x-forwarded-for", "203.0.113.7"), ("host", "bridge.test")]);
        let peer = SocketAddr::from(([127, 0, 0, 1], 5555));
        let headers = outgoing(parts.headers, &parts.uri, Some(peer), Peer::TrustedProxy);
        assert_eq!(headers[X_FORWARDED_FOR], "203.0.113.7, 127.0.0.1");
        assert_eq!(headers[X_FORWARDED_PROTO], "http");
        assert_eq!(headers[X_FORWARDED_HOST], "bridge.test");
        assert!(headers.get(header::HOST).is_none());
    }

    #[test]
    fn an_untrusted_peers_forwarding_headers_are_replaced_by_the_bridges_view() {
        let parts = parts(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-host", "evil.test"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-port", "443"),
            ("forwarded", "for=203.0.113.7;proto=https"),
            ("x-real-ip", "203.0.113.7"),
            ("x_forwarded_for", "203.0.113.8"),
            ("host", "bridge.test"),
        ]);
        let peer = SocketAddr::from(([127, 0, 0, 1], 5555));
        let headers = outgoing(parts.headers, &parts.uri, Some(peer), Peer::Untrusted);
        assert_eq!(headers[X_FORWARDED_FOR], "127.0.0.1");
        assert_eq!(headers[X_FORWARDED_PROTO], "http");
        assert_eq!(headers[X_FORWARDED_HOST], "bridge.test");
        for gone in [
            "x-forwarded-port",
            "forwarded",
            "x-real-ip",
            "x_forwarded_for",
        ] {
            assert!(headers.get(gone).is_none(), "{gone}");
        }
    }
}
