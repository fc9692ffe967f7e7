//! Where a request goes: the MCP server's configured URL, the path below
//! `/t/{t}/mcp/{server}`, and the client's query without `access_token`.
//!
//! RFC 6750 section 2.3 lets a client put its bearer token in the query as `access_token`. The
//! gateway does not authenticate that way, but a client may still send it (alongside the
//! header), and the bridge's token must never reach an MCP server: the parameter is removed
//! (under any percent-encoding of its name) and the rest of the query is forwarded as sent.
//! Removing rather than answering 400 keeps such clients working; nothing is lost, since the
//! MCP server could not use the bridge's token anyway.

use url::Url;

/// Why no upstream URL could be built.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BadTarget {
    /// `rest` has a `.` or `..` segment: it could climb out of the MCP server's path to other
    /// endpoints on the same host, so it is refused rather than normalised.
    DotSegment,
    /// The configured URL is not an `http`/`https` URL with a path (a configuration error).
    Upstream,
}

/// `rest` is the *percent-decoded* path below the server's mount point, as axum's `Path`
/// extractor gives it; each segment is encoded again here. An empty `rest` (or `/`) means
/// the configured URL itself. `query` is the raw query of the client's request.
pub(super) fn target(upstream: &Url, rest: &str, query: Option<&str>) -> Result<Url, BadTarget> {
    if !matches!(upstream.scheme(), "http" | "https") {
        return Err(BadTarget::Upstream);
    }
    let mut url = upstream.clone();
    url.set_fragment(None);
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    if !rest.is_empty() {
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|s| matches!(*s, "." | "..")) {
            return Err(BadTarget::DotSegment);
        }
        let mut path = url.path_segments_mut().map_err(|()| BadTarget::Upstream)?;
        path.pop_if_empty();
        path.extend(segments);
    }
    let query = query.map(without_access_token);
    let query = match (upstream.query(), query.as_deref()) {
        (Some(mine), Some(theirs)) if !theirs.is_empty() => Some(format!("{mine}&{theirs}")),
        (Some(mine), _) => Some(mine.to_owned()),
        (None, Some(theirs)) if !theirs.is_empty() => Some(theirs.to_owned()),
        (None, _) => None,
    };
    url.set_query(query.as_deref());
    Ok(url)
}

/// The query's `&`-separated pairs, except those whose decoded name is `access_token`.
fn without_access_token(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            let decoded = url::form_urlencoded::parse(name.as_bytes())
                .next()
                .map(|(name, _)| name.into_owned())
                .unwrap_or_default();
            !decoded.eq_ignore_ascii_case("access_token")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(url: &str) -> Url {
        Url::parse(url).unwrap_or_else(|_| unreachable!("static test URL"))
    }

    fn built(base: &str, rest: &str, query: Option<&str>) -> String {
        target(&upstream(base), rest, query)
            .map(String::from)
            .unwrap_or_else(|e| format!("{e:?}"))
    }

    #[test]
    fn an_empty_rest_is_the_configured_url() {
        assert_eq!(
            built("http://127.0.0.1:9/mcp", "", None),
            "http://127.0.0.1:9/mcp"
        );
        assert_eq!(
            built("http://127.0.0.1:9/mcp/", "/", None),
            "http://127.0.0.1:9/mcp/"
        );
    }

    #[test]
    fn rest_and_query_are_appended_with_one_slash() {
        assert_eq!(
            built("http://127.0.0.1:9/mcp/", "/a b/c", Some("x=1")),
            "http://127.0.0.1:9/mcp/a%20b/c?x=1"
        );
        assert_eq!(
            built("http://127.0.0.1:9/mcp?k=v", "sub", Some("x=1")),
            "http://127.0.0.1:9/mcp/sub?k=v&x=1"
        );
    }

    #[test]
    fn a_decoded_slash_or_percent_cannot_change_the_path_shape() {
        assert_eq!(
            built("http://127.0.0.1:9/mcp", "a%2Fb?c#d", None),
            "http://127.0.0.1:9/mcp/a%252Fb%3Fc%23d"
        );
    }

    #[test]
    fn dot_segments_are_refused() {
        assert_eq!(
            built("http://127.0.0.1:9/mcp", "../admin", None),
            "DotSegment"
        );
        assert_eq!(built("http://127.0.0.1:9/mcp", "a/./b", None), "DotSegment");
        assert_eq!(built("file:///etc/passwd", "", None), "Upstream");
    }

    #[test]
    fn the_clients_access_token_is_removed_from_the_query() {
        assert_eq!(
            built(
                "http://127.0.0.1:9/mcp",
                "",
                Some("a=1&access_token=secret&ACCESS%5Ftoken=x&b=2")
            ),
            "http://127.0.0.1:9/mcp?a=1&b=2"
        );
        assert_eq!(
            built("http://127.0.0.1:9/mcp", "", Some("access_token=secret")),
            "http://127.0.0.1:9/mcp"
        );
    }
}
