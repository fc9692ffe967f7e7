//! RFC 9457 problem details: the one shape every admin error takes, and the one place admin
//! errors become responses. Extractor rejections (bad JSON, wrong types, oversized bodies,
//! malformed query strings) are turned into problems here too, so a script never has to parse
//! two error formats, and bad input never surfaces as a 500.

use std::borrow::Cow;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{StoreError, unavailable};

/// One invalid field: a JSON Pointer (RFC 6901) into the request body, or the name of the
/// query parameter, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON Pointer into the body (`/scopes/0`), or the query parameter's name; empty for the
    /// whole body.
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem details document (`application/problem+json`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:mcp-auth-bridge:problem:conflict`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem; the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong this time, for a human.
    pub detail: String,
    /// Each invalid field (400 and 422 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An admin API error. Build it with a constructor; internal errors are logged here and reach
/// the caller only as a generic message.
#[derive(Debug, Clone)]
pub struct AdminError {
    status: StatusCode,
    slug: &'static str,
    detail: Cow<'static, str>,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
}

impl AdminError {
    fn new(status: StatusCode, slug: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            slug,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 400: the request cannot be read at all (malformed JSON, a bad cursor).
    pub fn bad_request(detail: impl Into<Cow<'static, str>>, errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "bad-request", detail);
        e.errors = errors;
        e
    }

    /// 422: well-formed, but some fields are invalid; each one is listed.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "some fields are invalid; see `errors`",
        );
        e.errors = errors;
        e
    }

    /// 422 for one field.
    pub fn invalid_field(path: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(path, message)])
    }

    pub fn unauthorized(detail: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn conflict(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "this resource does not support that method",
        )
    }

    /// Logs `error` with its context; the caller sees only that something failed inside.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, context, "admin API internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    /// A database failure: 503 `database-unavailable` with `Retry-After` when the database is
    /// unavailable, else a logged 500.
    pub fn database(context: &str, e: impl Into<StoreError>) -> Self {
        let e = e.into();
        if !e.is_unavailable() {
            return Self::internal(context, &e);
        }
        unavailable::record("admin", context, &e);
        let mut problem = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database-unavailable",
            unavailable::MESSAGE,
        );
        problem.retry_after = Some(unavailable::RETRY_AFTER_SECS);
        problem
    }

    /// What went wrong, for a human (the problem's `detail`).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:mcp-auth-bridge:problem:{}", self.slug),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.to_string(),
            errors: self.errors.clone(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mcp-auth-bridge-admin\""),
            );
        }
        response
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::database("store", e)
    }
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        Self::database("database", e)
    }
}

/// A rejection of axum's body reader: too large (413), unreadable (400).
impl From<axum::extract::rejection::BytesRejection> for AdminError {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the request body exceeds server.max_body_bytes",
            )
        } else {
            Self::bad_request("the request body could not be read", Vec::new())
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for AdminError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        // The query deserializer names the parameter in its message; it holds no secrets.
        Self::bad_request(
            "the query string is invalid",
            vec![FieldError::new("query", r.body_text())],
        )
    }
}

pub fn unsupported_media_type() -> AdminError {
    AdminError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "send the body as application/json",
    )
}

/// The fallback for unknown paths under `/admin/`.
pub async fn not_found() -> AdminError {
    AdminError::not_found("no such admin resource")
}

pub async fn method_not_allowed() -> AdminError {
    AdminError::method_not_allowed()
}

/// The errors every authenticated read can answer with, for the OpenAPI document.
#[allow(dead_code)] // Only its derived `IntoResponses` is used.
#[derive(utoipa::IntoResponses)]
pub enum ReadErrors {
    /// A malformed query parameter or cursor.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No admin token, or not a valid one.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token is bound to another tenant, or the operation needs a global token.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such tenant or resource.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The database is unavailable; retry after `Retry-After` seconds.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// The errors of a read that takes a JSON body (a dry run), for the OpenAPI document: a read's,
/// plus the body's own (too large, not JSON, invalid fields).
#[allow(dead_code)] // Only its derived `IntoResponses` is used.
#[derive(utoipa::IntoResponses)]
pub enum BodyReadErrors {
    /// A malformed body, query parameter or cursor.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No admin token, or not a valid one.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token is bound to another tenant, or the operation needs a global token.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such tenant or resource.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The body exceeds `server.max_body_bytes`.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// Well-formed JSON with invalid or missing fields; each is listed in `errors`.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// The database is unavailable; retry after `Retry-After` seconds.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// The errors every change can answer with, for the OpenAPI document.
#[allow(dead_code)] // Only its derived `IntoResponses` is used.
#[derive(utoipa::IntoResponses)]
pub enum WriteErrors {
    /// Malformed JSON, query parameter or cursor.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No admin token, or not a valid one.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token is bound to another tenant, or the operation needs a global token.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such tenant or resource.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The name is taken, or the row is managed by the configuration file.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// The body exceeds `server.max_body_bytes`.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// Well-formed JSON with invalid or missing fields; each is listed in `errors`.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// The database is unavailable; retry after `Retry-After` seconds.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_problem_json_with_type_title_status_and_detail() {
        let response =
            AdminError::conflict("tenant is managed by the configuration file").into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let p = AdminError::conflict("x").problem();
        assert_eq!(p.kind, "urn:mcp-auth-bridge:problem:conflict");
        assert_eq!(p.title, "Conflict");
        assert_eq!(p.status, 409);
    }

    #[test]
    fn a_database_outage_is_a_503_problem_with_retry_after() {
        let response = AdminError::from(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }

    #[test]
    fn an_unauthorized_problem_carries_a_bearer_challenge() {
        let response = AdminError::unauthorized("no token").into_response();
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
