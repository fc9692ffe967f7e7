//! `x-request-id`: taken from the client when present and sane, generated otherwise, echoed in
//! the response and put on the request's span so every log line of the request carries it.

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, available to handlers as an extension. Held as the header
/// value itself: the request, the response and the extension share one buffer (a clone is a
/// reference count), so an id costs at most one allocation per request.
#[derive(Clone, Debug)]
pub struct RequestId(HeaderValue);

impl RequestId {
    pub fn as_str(&self) -> &str {
        // Only ever built from visible ASCII (`acceptable`) or a formatted UUID.
        self.0.to_str().unwrap_or("-")
    }
}

/// A client-sent id is kept only if it is short printable ASCII; anything else (oversized,
/// control characters, unicode) is replaced, so logs never carry hostile bytes.
fn acceptable(value: &HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
}

pub async fn layer(mut request: Request, next: Next) -> Response {
    let value = match request.headers().get(&HEADER) {
        Some(sent) if acceptable(sent).is_some() => sent.clone(),
        _ => generated(),
    };
    request.headers_mut().insert(HEADER, value.clone());
    request.extensions_mut().insert(RequestId(value.clone()));
    let mut response = next.run(request).await;
    response.headers_mut().insert(HEADER, value);
    response
}

/// A fresh UUID v4, formatted on the stack and copied once into the header value.
fn generated() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}
