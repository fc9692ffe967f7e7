//! The proxy's HTTP/1.1 client to MCP servers, driven in the request's own task.
//!
//! hyper-util's pooled client spawns a task per connection: the request crossed to it over a
//! channel, the response head came back over another, and so did every body frame, each
//! crossing a task wake-up that tokio may hand to the other worker thread (a futex). A profile
//! of the gateway benchmark put a quarter of the proxy's CPU there (issue 13). Here the task
//! that handles the request drives the connection itself (`http1::handshake` over the same
//! connector, [`upstream_pool`](super::upstream_pool) for the idle ones), as nginx does in
//! its one event loop.

use std::{
    future::{Future, poll_fn},
    pin::pin,
    sync::Arc,
    task::Poll,
};

use axum::body::{Body, Bytes};
use http::{
    HeaderValue, Request, Response, Uri,
    uri::{Authority, PathAndQuery, Scheme},
};
use hyper::{body::Incoming, client::conn::TrySendError};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{HttpConnector, dns::Name};
use tower::ServiceExt as _;
use url::{Position, Url};

use crate::self_wake::SelfWakes;

use super::{
    upstream_body::UpstreamBody,
    upstream_pool::{Conn, Key, Pool},
};

/// Why a request got no response head.
#[derive(Debug)]
pub(super) enum SendError {
    /// No connection: refused, unreachable, timed out (`connect_timeout`), TLS failed, or the
    /// resolver refused the name (the SSRF guard).
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The connection broke, or the MCP server spoke broken HTTP.
    Http(hyper::Error),
}

/// One connector (which decides how, and which addresses may be reached) and its pool.
#[derive(Clone, Debug)]
pub(super) struct UpstreamClient<R> {
    connector: HttpsConnector<HttpConnector<R>>,
    pool: Arc<Pool>,
}

impl<R> UpstreamClient<R>
where
    R: tower::Service<Name> + Clone + Send + Sync + 'static,
    R::Response: Iterator<Item = std::net::SocketAddr>,
    R::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    R::Future: Send,
{
    pub(super) fn new(connector: HttpsConnector<HttpConnector<R>>, pool: Arc<Pool>) -> Self {
        Self { connector, pool }
    }

    /// Sends `request` (origin-form URI, `Host` set) to `key` on an idle connection or a new
    /// one, and returns the response head with a body that drives the connection.
    ///
    /// A pooled connection can turn out closed by the MCP server before the request was
    /// written (hyper then hands the request back untouched): it is sent once more, on a new
    /// connection. Nothing that may have reached the MCP server is ever sent twice.
    pub(super) async fn send(
        &self,
        key: Key,
        request: Request<Body>,
    ) -> Result<Response<UpstreamBody>, SendError> {
        let driving = SelfWakes::new();
        let pooled =
            poll_fn(|cx| driving.poll(cx, |cx| Poll::Ready(self.pool.take(&key, cx)))).await;
        let reused = pooled.is_some();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.connect(&key).await?,
        };
        let (response, conn) = match exchange(conn, request, &driving).await {
            Ok(answered) => answered,
            Err(mut failed) => match failed.take_message() {
                Some(request) if reused => {
                    tracing::debug!(error = %failed.error(), "pooled connection closed; retrying");
                    let conn = self.connect(&key).await?;
                    exchange(conn, request, &driving)
                        .await
                        .map_err(|failed| SendError::Http(failed.into_error()))?
                }
                _ => return Err(SendError::Http(failed.into_error())),
            },
        };
        let pool = Arc::clone(&self.pool);
        Ok(response.map(|incoming| UpstreamBody::new(incoming, conn, driving, pool, key)))
    }

    /// A new connection to `key` (TCP, TLS for `https`) and its HTTP/1.1 handshake.
    async fn connect(&self, key: &Key) -> Result<Conn, SendError> {
        let scheme = if key.https {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(key.authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|error| SendError::Connect(error.into()))?;
        let io = self
            .connector
            .clone()
            .oneshot(uri)
            .await
            .map_err(SendError::Connect)?;
        let (sender, driver) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .map_err(SendError::Http)?;
        Ok(Conn::new(sender, driver))
    }
}

/// The pool key, the origin-form target (what HTTP/1.1 sends in the request line) and the
/// `Host` header of `url` (its port only when not the scheme's default), taken from `url`'s
/// serialization rather than parsing it all again as a `Uri`.
pub(super) fn addressed(url: &Url) -> Option<(Key, Uri, HeaderValue)> {
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let authority =
        Bytes::copy_from_slice(url[Position::BeforeHost..Position::AfterPort].as_bytes());
    let host = HeaderValue::from_maybe_shared(authority.clone()).ok()?;
    let authority = Authority::from_maybe_shared(authority).ok()?;
    let target = url[Position::BeforePath..Position::AfterQuery].as_bytes();
    let target = PathAndQuery::from_maybe_shared(Bytes::copy_from_slice(target)).ok()?;
    Some((Key { https, authority }, Uri::from(target), host))
}

/// Writes `request` on `conn` and reads the response head, driving the connection meanwhile.
async fn exchange(
    mut conn: Conn,
    request: Request<Body>,
    driving: &SelfWakes,
) -> Result<(Response<Incoming>, Conn), TrySendError<Request<Body>>> {
    let mut answer = pin!(conn.sender.try_send_request(request));
    let response = poll_fn(|cx| {
        driving.poll(cx, |cx| {
            // `Ready` (closed) fails the request, which `answer` then reports.
            let _ = conn.drive(cx);
            answer.as_mut().poll(cx)
        })
    })
    .await?;
    Ok((response, conn))
}
