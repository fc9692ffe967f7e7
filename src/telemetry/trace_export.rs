//! The OTLP exporter's HTTP client: the bridge's own reqwest, run on the bridge's Tokio runtime.
//!
//! The SDK's batch processor exports from a plain thread; reqwest's async client needs a Tokio
//! reactor, so each export is spawned onto the runtime and awaited from that thread. Using our
//! reqwest (0.12) also keeps the exporter's own HTTP stack (reqwest 0.13 or tonic) out of the
//! build.

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// Largest collector response read (collectors answer with a small status message).
const MAX_RESPONSE: usize = 64 * 1024;

#[derive(Debug)]
pub(super) struct RuntimeHttpClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl RuntimeHttpClient {
    pub(super) fn new(runtime: tokio::runtime::Handle, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self {
            http,
            runtime,
            timeout,
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for RuntimeHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let timeout = self.timeout;
        let task = self.runtime.spawn(async move {
            let (parts, body) = request.into_parts();
            let mut response = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .timeout(timeout)
                .send()
                .await?;
            let mut answer = Response::builder().status(response.status());
            let mut read = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if read.len() + chunk.len() > MAX_RESPONSE {
                    break;
                }
                read.extend_from_slice(&chunk);
            }
            if let Some(headers) = answer.headers_mut() {
                *headers = response.headers().clone();
            }
            Ok::<_, HttpError>(answer.body(Bytes::from(read))?)
        });
        task.await?
    }
}
