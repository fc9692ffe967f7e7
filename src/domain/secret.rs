//! A value that must never reach a log line, a debug dump or an error message.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Wraps a secret so that `Debug`, `Display` and `Serialize` print `[redacted]`.
///
/// The only way to read the value is [`Secret::expose`], which makes every use greppable.
/// Serialization redacts on purpose: `check-config` prints the effective configuration by
/// serializing it, and a secret must not appear there; it says where the secret came from
/// instead (`<redacted: file /run/secrets/db-url>`), which is what an operator checks.
#[derive(Clone, Default)]
pub struct Secret<T> {
    value: T,
    source: SecretSource,
}

/// Where a secret was read from. Not secret itself: a path or a variable name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SecretSource {
    /// Made in code (a token the bridge minted, a value read from the database).
    #[default]
    Unstated,
    /// Written as the value itself (in a configuration file, an environment override, a request).
    Inline,
    /// Read from this file (`…_file`, as Kubernetes and Docker mount secrets).
    File(String),
    /// Read from this environment variable (`…_env`).
    Env(String),
}

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self {
            value,
            source: SecretSource::Unstated,
        }
    }

    /// Reads the secret. Call sites are where secrets leave the type system: keep them few.
    pub fn expose(&self) -> &T {
        &self.value
    }

    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// Records where the value came from (the configuration loader does, once).
    pub fn set_source(&mut self, source: SecretSource) {
        self.source = source;
    }
}

/// Two secrets are equal when their values are, wherever they came from.
impl<T: PartialEq> PartialEq for Secret<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Secret<T> {}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.source {
            SecretSource::Unstated => serializer.serialize_str("[redacted]"),
            SecretSource::Inline => serializer.serialize_str("<redacted: inline>"),
            SecretSource::File(path) => {
                serializer.serialize_str(&format!("<redacted: file {path}>"))
            }
            SecretSource::Env(name) => serializer.serialize_str(&format!("<redacted: env {name}>")),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(|value| Secret {
            value,
            source: SecretSource::Inline,
        })
    }
}

impl<T: JsonSchema> JsonSchema for Secret<T> {
    fn schema_name() -> String {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        T::json_schema(generator)
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_display_and_serialize_never_show_the_value() {
        let secret = Secret::new("canary-s3cr3t".to_string());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[redacted]\"");
        assert_eq!(secret.expose(), "canary-s3cr3t");
    }

    #[test]
    fn a_secret_deserializes_from_its_plain_value() {
        let secret: Secret<String> = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(secret.expose(), "abc");
        assert_eq!(secret.source(), &SecretSource::Inline);
    }

    #[test]
    fn serialize_names_the_source_and_never_the_value() {
        let mut secret = Secret::new("canary-s3cr3t".to_string());
        secret.set_source(SecretSource::File("/run/secrets/k1".into()));
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            "\"<redacted: file /run/secrets/k1>\""
        );
        secret.set_source(SecretSource::Env("K1".into()));
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            "\"<redacted: env K1>\""
        );
    }
}
