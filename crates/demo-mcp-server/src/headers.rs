//! The transport's request headers: session id, protocol version, `Accept`, `Last-Event-ID`.

use http::{HeaderMap, header};

use super::{error::TransportError, sessions::Sessions};

pub(super) const SESSION_ID: &str = "mcp-session-id";
pub(super) const PROTOCOL_VERSION: &str = "mcp-protocol-version";
pub(super) const LAST_EVENT_ID: &str = "last-event-id";

/// Revisions this server speaks, newest first. The transport is the same in all three.
pub(super) const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
pub(super) const LATEST_VERSION: &str = SUPPORTED_VERSIONS[0];

/// An absent header is fine (the spec says to assume 2025-03-26); an unsupported one is a 400,
/// and so is a repeated header with any unsupported value.
pub(super) fn check_protocol_version(headers: &HeaderMap) -> Result<(), TransportError> {
    let supported = |v: &http::HeaderValue| {
        v.to_str()
            .is_ok_and(|v| SUPPORTED_VERSIONS.contains(&v.trim()))
    };
    if headers.get_all(PROTOCOL_VERSION).iter().all(supported) {
        Ok(())
    } else {
        Err(TransportError::UnsupportedProtocolVersion)
    }
}

/// The request's session id, if it names a live session: missing → 400, unknown → 404.
pub(super) fn live_session(
    headers: &HeaderMap,
    sessions: &Sessions,
) -> Result<String, TransportError> {
    let value = headers
        .get(SESSION_ID)
        .ok_or(TransportError::MissingSession)?;
    let id = value.to_str().map_err(|_| TransportError::UnknownSession)?;
    if sessions.contains(id) {
        Ok(id.to_owned())
    } else {
        Err(TransportError::UnknownSession)
    }
}

/// Whether any `Accept` header lists `text/event-stream`.
pub(super) fn accepts_sse(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|item| {
                item.split(';')
                    .next()
                    .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
            })
        })
    })
}

/// The numeric event id a reconnecting client last saw; anything else is ignored.
pub(super) fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(LAST_EVENT_ID)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn sse_is_accepted_among_other_media_types() {
        assert!(accepts_sse(&with(
            "accept",
            "application/json, text/event-stream;q=0.9"
        )));
        assert!(!accepts_sse(&with("accept", "application/json")));
        assert!(!accepts_sse(&HeaderMap::new()));
    }

    #[test]
    fn an_unsupported_protocol_version_is_refused() {
        assert!(check_protocol_version(&with(PROTOCOL_VERSION, "2025-06-18")).is_ok());
        assert!(check_protocol_version(&HeaderMap::new()).is_ok());
        assert!(check_protocol_version(&with(PROTOCOL_VERSION, "2024-11-05")).is_err());
    }

    #[test]
    fn a_non_numeric_last_event_id_is_ignored() {
        assert_eq!(last_event_id(&with(LAST_EVENT_ID, "41")), Some(41));
        assert_eq!(last_event_id(&with(LAST_EVENT_ID, "abc")), None);
    }
}
