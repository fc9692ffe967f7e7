//! Extractors whose rejections are problems: the JSON body (every missing required field and the
//! JSON Pointer of a wrongly typed one), the query string, the path.

use axum::{
    extract::{FromRequest, FromRequestParts, Path, Query, Request},
    http::{HeaderMap, header, request::Parts},
};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::{
    PartialSchema,
    openapi::{RefOr, Schema},
};

use super::problem::{AdminError, FieldError, unsupported_media_type};

/// A JSON request body, read within `server.max_body_bytes`.
///
/// Parsing happens in three steps so the caller learns as much as possible at once: the body
/// must be JSON (else 400), every field the OpenAPI schema marks required must be present (each
/// missing one is listed, 422), then the typed parse (422 with the JSON Pointer of the field
/// that failed, e.g. a slug that breaks the rules).
pub struct AdminJson<T>(pub T);

impl<S, T> FromRequest<S> for AdminJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + PartialSchema,
{
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(unsupported_media_type());
        }
        let bytes = Bytes::from_request(req, state).await?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            AdminError::bad_request(
                "the body is not valid JSON",
                vec![FieldError::new("", e.to_string())],
            )
        })?;
        let missing = missing_required::<T>(&value);
        if !missing.is_empty() {
            return Err(AdminError::invalid(missing));
        }
        serde_path_to_error::deserialize(value)
            .map(AdminJson)
            .map_err(|e| {
                let path = pointer(e.path());
                AdminError::invalid_field(&path, e.into_inner().to_string())
            })
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// The top-level fields `T`'s schema requires that `value` lacks (or `value` is not an object).
fn missing_required<T: PartialSchema>(value: &Value) -> Vec<FieldError> {
    let RefOr::T(Schema::Object(schema)) = T::schema() else {
        return Vec::new();
    };
    let Some(object) = value.as_object() else {
        return vec![FieldError::new("", "must be a JSON object")];
    };
    schema
        .required
        .iter()
        .filter(|name| !object.contains_key(name.as_str()))
        .map(|name| FieldError::new(format!("/{name}"), "is required"))
        .collect()
}

/// A serde path as an RFC 6901 JSON Pointer (`/scopes/0`).
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        match segment {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } => out.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => out.push_str(variant),
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

/// Query parameters; a malformed one is a 400 problem naming it.
pub struct AdminQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AdminQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Query::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// Path parameters, all strings: an id that is not even well-formed names nothing, so it is a
/// 404 like any other unknown id.
pub struct AdminPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AdminPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|_| AdminError::not_found("no such resource"))
    }
}

/// Parses a UUID path segment; anything else is an unknown `what`.
pub fn uuid(raw: &str, what: &str) -> Result<uuid::Uuid, AdminError> {
    uuid::Uuid::parse_str(raw)
        .map_err(|_| AdminError::not_found(format!("no {what} with id {raw:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_serde_path_becomes_a_json_pointer() {
        let r: Result<Vec<Vec<u8>>, _> =
            serde_path_to_error::deserialize(serde_json::json!([[1], ["x"]]));
        let e = r.unwrap_err();
        assert_eq!(pointer(e.path()), "/1/0");
    }

    #[test]
    fn json_and_json_suffix_media_types_are_accepted_and_others_are_not() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            "application/merge-patch+json".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&h));
    }
}
