//! How an upstream call can fail, in the terms callers act on.

/// Only [`UpstreamError::Rejected`] ends a grant; every other failure is worth retrying later
/// and must never log a user out.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The IdP refused the credentials for good (`invalid_grant`, a 401 on userinfo).
    #[error("the upstream rejected the request: {0}")]
    Rejected(String),
    /// Timeout, connection error, 5xx, 429: try again later.
    #[error("the upstream is unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after: Option<u64>,
    },
    /// The upstream answered something we cannot use.
    #[error("the upstream answered unexpectedly: {0}")]
    Protocol(String),
    /// The provider is misconfigured (no endpoint, no secret).
    #[error("provider configuration: {0}")]
    Config(String),
}

impl UpstreamError {
    /// Classifies a transport error; error texts from reqwest carry no secrets (no bodies).
    pub fn from_transport(e: &reqwest::Error) -> Self {
        let reason = if e.is_timeout() {
            "timeout".to_string()
        } else if e.is_connect() {
            "connection failed".to_string()
        } else {
            "transport error".to_string()
        };
        Self::Unavailable {
            reason,
            retry_after: None,
        }
    }

    /// Classifies an HTTP status that is not a success; `body_error` is the OAuth `error` code
    /// if the body carried one (the description is never kept: IdPs echo inputs in it).
    pub fn from_status(
        status: reqwest::StatusCode,
        retry_after: Option<u64>,
        body_error: Option<&str>,
    ) -> Self {
        match (status.as_u16(), body_error) {
            (_, Some("invalid_grant")) => Self::Rejected("invalid_grant".into()),
            (401, _) => Self::Rejected("401 unauthorized".into()),
            (429, _) => Self::Unavailable {
                reason: "429 too many requests".into(),
                retry_after,
            },
            (500..=599, _) => Self::Unavailable {
                reason: format!("status {}", status.as_u16()),
                retry_after,
            },
            (code, Some(err)) => Self::Protocol(format!("status {code}, error {}", sanitize(err))),
            (code, None) => Self::Protocol(format!("status {code}")),
        }
    }
}

/// Whether a failed request may have been processed by the upstream. For a refresh with a
/// rotating refresh token this decides everything: a request the IdP processed has spent the
/// token (RFC 9700 section 4.14.2), and sending it again looks like theft to an IdP with reuse
/// detection, which then revokes the whole grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Provably not processed: no connection was made, or the upstream said it did not process
    /// the request (429, 503). Safe to send again.
    NotProcessed,
    /// The upstream answered with an error it reports (4xx): processed, nothing issued.
    Answered,
    /// Perhaps processed, answer lost: a timeout, a connection lost mid-request, a 5xx other
    /// than 503, a success we cannot read.
    Ambiguous,
}

impl Delivery {
    /// Only a failed connect proves the request never left.
    pub fn of_transport(e: &reqwest::Error) -> Self {
        if e.is_connect() {
            Self::NotProcessed
        } else {
            Self::Ambiguous
        }
    }

    /// 429 and 503 say "not processed, come back later" (RFC 6585 section 4, RFC 9110 section
    /// 15.6.4); any other 5xx may come after the work was done.
    pub fn of_status(status: reqwest::StatusCode) -> Self {
        match status.as_u16() {
            429 | 503 => Self::NotProcessed,
            500..=599 => Self::Ambiguous,
            _ => Self::Answered,
        }
    }
}

/// Keeps an error code loggable: short, plain ASCII.
pub fn sanitize(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::*;

    #[test]
    fn only_429_and_503_say_the_request_was_not_processed() {
        assert_eq!(
            Delivery::of_status(StatusCode::TOO_MANY_REQUESTS),
            Delivery::NotProcessed
        );
        assert_eq!(
            Delivery::of_status(StatusCode::SERVICE_UNAVAILABLE),
            Delivery::NotProcessed
        );
        for status in [500, 502, 504] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(Delivery::of_status(status), Delivery::Ambiguous, "{status}");
        }
        assert_eq!(
            Delivery::of_status(StatusCode::BAD_REQUEST),
            Delivery::Answered
        );
    }
}
