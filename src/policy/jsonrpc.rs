//! Reading a JSON-RPC request body the way the decision needs it: strictly.
//!
//! The decision must be made on what the MCP server will act on. Two readers of one JSON text
//! can disagree when an object repeats a key (`{"name": "read", "name": "delete"}`: some
//! parsers keep the first, serde keeps the last), so any repeated key, at any depth, refuses
//! the body. Strings are compared after JSON decoding and nothing else: `"\u0064elete"` is
//! `delete` here as it is for the server, and no case folding or Unicode normalization happens
//! on either side (a policy that must hold against look-alike names is an allow-list).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// JSON-RPC messages per batch, at most.
pub const MAX_BATCH: usize = 100;

/// One JSON-RPC message of a request body.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The request's id; `None` for a notification or a response.
    pub id: Option<Value>,
    /// `None` for a response (the client answering a server's request).
    pub method: Option<String>,
    /// The tool name, resource URI or prompt name of the methods that have one.
    pub target: Option<String>,
}

/// A request body: one message or a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Single(Message),
    Batch(Vec<Message>),
}

impl Body {
    pub fn messages(&self) -> &[Message] {
        match self {
            Self::Single(message) => std::slice::from_ref(message),
            Self::Batch(messages) => messages,
        }
    }
}

/// Why a body cannot be decided on. Each is answered as a JSON-RPC error, never forwarded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Unreadable {
    /// Not JSON, or an object repeats a key (JSON-RPC -32700).
    #[error("the body is not JSON without repeated keys: {0}")]
    Parse(String),
    /// JSON, but not JSON-RPC messages (-32600).
    #[error("the body is not a JSON-RPC request: {0}")]
    Invalid(&'static str),
    /// A method that has a target came without one (-32602), with the message's id.
    #[error("{method} needs params.{field} as a string")]
    NoTarget {
        id: Option<Value>,
        method: String,
        field: &'static str,
    },
}

impl Unreadable {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i64 {
        match self {
            Self::Parse(_) => -32700,
            Self::Invalid(_) => -32600,
            Self::NoTarget { .. } => -32602,
        }
    }

    pub fn id(&self) -> Option<&Value> {
        match self {
            Self::NoTarget { id, .. } => id.as_ref(),
            _ => None,
        }
    }
}

/// Where the target of a method is: `params.name` or `params.uri`.
pub fn target_field(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => Some("uri"),
        _ => None,
    }
}

/// Reads `bytes` as JSON-RPC, strictly.
pub fn read(bytes: &[u8]) -> Result<Body, Unreadable> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Strict
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|e| Unreadable::Parse(e.to_string()))?;
    match value {
        Value::Array(items) if items.is_empty() => Err(Unreadable::Invalid("an empty batch")),
        Value::Array(items) if items.len() > MAX_BATCH => {
            Err(Unreadable::Invalid("a batch of more than 100 messages"))
        }
        Value::Array(items) => items
            .into_iter()
            .map(message)
            .collect::<Result<_, _>>()
            .map(Body::Batch),
        single => message(single).map(Body::Single),
    }
}

fn message(value: Value) -> Result<Message, Unreadable> {
    let Value::Object(mut object) = value else {
        return Err(Unreadable::Invalid("a message that is not an object"));
    };
    let id = object.remove("id");
    let method = match object.remove("method") {
        None => None,
        Some(Value::String(method)) => Some(method),
        Some(_) => return Err(Unreadable::Invalid("a method that is not a string")),
    };
    let target = match method.as_deref().and_then(target_field) {
        None => None,
        Some(field) => {
            let found = object
                .get("params")
                .and_then(|params| params.get(field))
                .and_then(Value::as_str);
            match found {
                Some(target) => Some(target.to_owned()),
                None => {
                    return Err(Unreadable::NoTarget {
                        id,
                        method: method.unwrap_or_default(),
                        field,
                    });
                }
            }
        }
    };
    Ok(Message { id, method, target })
}

/// A `serde_json::Value` that refuses repeated object keys at any depth.
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("the key {key:?} is repeated")));
            }
            let value = map.next_value_seed(Strict)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_tools_call_is_read_with_its_id_and_tool_name() {
        let body = read(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#).unwrap();
        assert_eq!(
            body,
            Body::Single(Message {
                id: Some(json!(7)),
                method: Some("tools/call".into()),
                target: Some("echo".into())
            })
        );
    }

    #[test]
    fn a_repeated_key_anywhere_refuses_the_body() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","name":"delete"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list","params":{"name":"x"}}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":{"b":1,"b":2}}}]"#,
        ] {
            assert!(
                matches!(read(body.as_bytes()), Err(Unreadable::Parse(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn escapes_decode_to_the_name_the_server_reads() {
        let body = read(br#"{"id":1,"method":"tools/call","params":{"name":"\u0064elete_issue"}}"#)
            .unwrap();
        assert_eq!(body.messages()[0].target.as_deref(), Some("delete_issue"));
    }

    #[test]
    fn a_targeted_method_without_its_target_is_refused_with_its_id() {
        let e = read(br#"{"id":"a","method":"resources/read","params":{}}"#).unwrap_err();
        assert_eq!(e.code(), -32602);
        assert_eq!(e.id(), Some(&json!("a")));
    }

    #[test]
    fn batches_empty_batches_trailing_data_and_non_objects() {
        let batch =
            read(br#"[{"id":1,"method":"ping"},{"method":"notifications/initialized"}]"#).unwrap();
        assert_eq!(batch.messages().len(), 2);
        assert!(matches!(read(b"[]"), Err(Unreadable::Invalid(_))));
        assert!(matches!(read(b"[1]"), Err(Unreadable::Invalid(_))));
        assert!(matches!(
            read(br#"{"id":1,"method":"ping"} {}"#),
            Err(Unreadable::Parse(_))
        ));
    }
}
