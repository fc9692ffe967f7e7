//! The console's one way to read and change anything: a call to the admin REST API, in
//! process, with the operator's admin token. The API's authentication, tenant binding,
//! validation, audit log and cache events apply unchanged: the console holds no second copy of
//! any rule, it only renders the API's answers (its JSON, and its problem details with their
//! field errors).

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::Value;
use tower::ServiceExt;

use crate::{domain::Secret, services::Services, telemetry::request_id::RequestId};

/// Largest API answer the console reads (a page of 200 audit entries fits easily).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// The API's answer: its status and its JSON body (`Null` when it had none).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The problem's `detail`, for an error answer.
    pub fn detail(&self) -> &str {
        self.body
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("The request failed.")
    }

    /// The problem's field errors as `(path, message)`.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        let text =
                            |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                        (text("path"), text("message"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `items` of a list answer.
    pub fn items(&self) -> Vec<Value> {
        self.body
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    pub fn next_cursor(&self) -> Option<&str> {
        self.body.get("next_cursor").and_then(Value::as_str)
    }
}

/// Calls `method path` (path and query, under `/admin/v1`) of the admin API with `token`.
pub async fn call(
    state: &Services,
    token: &Secret<String>,
    method: Method,
    path: &str,
    body: Option<&Value>,
    request_id: Option<&RequestId>,
) -> Answer {
    let failed = |what: &str| {
        tracing::error!(what, "the console could not call the admin API");
        Answer {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: serde_json::json!({"detail": "The console could not reach the admin API."}),
        }
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("/admin/v1{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", token.expose()));
    let payload = match body {
        Some(json) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(json).unwrap_or_default())
        }
        None => Body::empty(),
    };
    let Ok(mut request) = builder.body(payload) else {
        return failed("building the request");
    };
    if let Some(id) = request_id {
        request.extensions_mut().insert(id.clone());
    }
    let api = crate::admin::routes::<Services>(state).with_state(state.clone());
    let response = match api.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let Ok(bytes) = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES).await else {
        return failed("reading the answer");
    };
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Percent-encodes one path segment or query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
