//! The operators' web console at `/admin/console`: every page and form is a call to the admin
//! REST API made with the operator's admin token ([`api`]), rendered as plain HTML that works
//! without JavaScript. Sign-in is a form taking an admin token once; the session is a sealed,
//! short-lived, `HttpOnly`, `SameSite=Strict` cookie ([`session`]); every form carries a CSRF
//! token; destructive actions need a ticked confirmation. A tenant-bound token sees only its
//! tenant because the API says so.

pub mod actions;
pub mod api;
pub mod render;
mod section_views;
pub mod sections;
pub mod session;
pub mod status;
mod views;

use axum::{
    Router,
    extract::FromRef,
    http::{HeaderMap, StatusCode, header},
    response::Response,
    routing::{get, post},
};

use crate::{domain::Secret, services::Services, telemetry::request_id::RequestId};
use session::ConsoleSession;

pub fn routes<S>(state: &Services) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Services: FromRef<S>,
{
    Router::new()
        .route("/admin/console", get(views::home))
        .route("/admin/console/login", post(actions::login))
        .route("/admin/console/logout", post(actions::logout))
        .route("/admin/console/tenants", post(actions::create_tenant))
        .route("/admin/console/audit", get(views::audit))
        .route("/admin/console/cache", get(views::cache))
        .route("/admin/console/sweeper", get(views::sweeper))
        .route("/admin/console/sweeper/run", post(actions::run_sweeper))
        .route("/admin/console/status", get(status::page))
        .route("/admin/console/t/{slug}", get(views::tenant))
        .route(
            "/admin/console/t/{slug}/{section}",
            get(section_views::section).post(actions::create),
        )
        .route(
            "/admin/console/t/{slug}/{section}/{verb}",
            post(actions::section_action),
        )
        .route(
            "/admin/console/t/{slug}/{section}/{id}/{verb}",
            post(actions::row_action),
        )
        .layer(axum::Extension(status::History::sampled(
            state.metrics.clone(),
        )))
}

/// A signed-in operator: their token (to call the API with), the session's CSRF token and the
/// request id (the audit entries carry it).
pub struct Operator {
    pub token: Secret<String>,
    pub csrf: String,
    pub request_id: Option<RequestId>,
}

/// The signed-in operator of this request, or a redirect to the sign-in page.
pub fn operator(
    state: &Services,
    headers: &HeaderMap,
    request_id: Option<RequestId>,
) -> Result<Operator, Refused> {
    let signed_in = ConsoleSession::current(state, headers)
        .and_then(|s| s.token.clone().map(|token| (s.csrf_token(state), token)));
    match signed_in {
        Some((csrf, token)) => Ok(Operator {
            token,
            csrf,
            request_id,
        }),
        None => Err(Refused::SignedOut),
    }
}

/// Why a console request goes no further.
#[derive(Debug)]
pub enum Refused {
    /// No live signed-in session: to the sign-in page.
    SignedOut,
    /// The form's CSRF token is not this session's.
    Forged,
}

impl axum::response::IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::SignedOut => see_other("/admin/console"),
            Self::Forged => crate::error::ErrorPage::new(
                StatusCode::FORBIDDEN,
                "Request not accepted",
                "This form was not submitted from a page of this console session. Reload the page and try again.",
            )
            .into_response(),
        }
    }
}

/// A `303 See Other` to `location`.
pub fn see_other(location: &str) -> Response {
    let mut response = axum::response::IntoResponse::into_response(StatusCode::SEE_OTHER);
    if let Ok(value) = axum::http::HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    crate::pages::harden(response.headers_mut());
    response
}
