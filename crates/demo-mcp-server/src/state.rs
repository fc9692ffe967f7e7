//! What the handlers share.

use std::time::Duration;

use super::{DemoMcpHandle, DemoMcpOptions, sessions::Sessions};

/// Bounds the upstream check so a hung upstream cannot hold a request forever.
const UPSTREAM_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// Sessions kept before the oldest is evicted.
const MAX_SESSIONS: usize = 10_000;

pub(super) struct Shared {
    pub options: DemoMcpOptions,
    pub sessions: Sessions,
    pub handle: DemoMcpHandle,
    pub http: reqwest::Client,
}

impl Shared {
    pub fn new(mut options: DemoMcpOptions, handle: DemoMcpHandle) -> Self {
        // `tokio::time::interval` refuses a zero period.
        options.tick = options.tick.max(Duration::from_millis(1));
        let http = reqwest::Client::builder()
            .timeout(UPSTREAM_CHECK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            options,
            sessions: Sessions::new(MAX_SESSIONS),
            handle,
            http,
        }
    }
}
