//! Durations written as people write them in TOML: `"300s"`, `"5m"`, `"30d"`.

use std::{fmt, time::Duration};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A [`Duration`] read from a human string (humantime syntax) and printed back the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn get(self) -> Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// As a `chrono` duration, for adding to timestamps that are stored as absolute expiry.
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim())
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration {text:?} ({e}); write it like \"300s\", \"5m\" or \"30d\""
                ))
            })
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> String {
        "HumanDuration".into()
    }

    fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        schema.string().pattern = Some(
            r"^\s*([0-9]+\s*(ns|us|ms|s|sec|secs|m|min|mins|h|hr|hrs|d|days|w|weeks)\s*)+$".into(),
        );
        schema.metadata().description =
            Some("A duration such as \"300s\", \"5m\", \"12h\" or \"30d\".".into());
        schema.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        d: HumanDuration,
    }

    #[test]
    fn human_strings_parse_into_durations() {
        for (text, secs) in [
            ("300s", 300),
            ("5m", 300),
            ("30d", 2_592_000),
            ("1h 30m", 5400),
        ] {
            let h: Holder = toml::from_str(&format!("d = {text:?}")).unwrap();
            assert_eq!(h.d.get(), Duration::from_secs(secs), "{text}");
        }
    }

    #[test]
    fn a_bad_duration_names_the_expected_form() {
        let err = toml::from_str::<Holder>("d = \"five minutes\"")
            .err()
            .unwrap();
        assert!(err.to_string().contains("write it like"), "{err}");
    }

    #[test]
    fn a_number_is_not_a_duration() {
        assert!(toml::from_str::<Holder>("d = 300").is_err());
    }
}
