//! Mounting the connect flow: the link from the elicitation, the remote's redirect back, and the
//! bridge's client ID metadata documents. Browser pages, outside the gateway's bearer layer.

use axum::{Router, extract::FromRef, routing::get};

use super::{connect, connect_callback};
use crate::services::Services;

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Services: FromRef<S>,
{
    Router::new()
        .route("/t/{tenant}/remote/connect", get(connect::start))
        .route(
            "/t/{tenant}/remote/callback",
            get(connect_callback::callback),
        )
        .route(
            "/t/{tenant}/remote/{server}/client-metadata.json",
            get(connect::metadata_document),
        )
}
