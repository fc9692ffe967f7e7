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

/// Keeps an error code loggable: short, plain ASCII.
pub fn sanitize(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}
