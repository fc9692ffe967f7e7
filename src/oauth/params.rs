//! Request parameters as RFC 6749 section 3.1 wants them: each at most once, bounded in size.

use std::collections::HashMap;

/// Parsed `application/x-www-form-urlencoded` parameters (query string or body).
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamsError {
    #[error("parameter {0} is repeated")]
    Repeated(String),
    #[error("too many parameters")]
    TooMany,
    #[error("a parameter value is too long")]
    TooLong,
}

const MAX_PARAMS: usize = 32;
const MAX_VALUE: usize = 4096;

impl Params {
    pub fn parse(raw: &[u8]) -> Result<Self, ParamsError> {
        let mut map = HashMap::new();
        for (i, (k, v)) in url::form_urlencoded::parse(raw).enumerate() {
            if i >= MAX_PARAMS {
                return Err(ParamsError::TooMany);
            }
            if v.len() > MAX_VALUE || k.len() > 64 {
                return Err(ParamsError::TooLong);
            }
            if map.insert(k.clone().into_owned(), v.into_owned()).is_some() {
                return Err(ParamsError::Repeated(k.chars().take(64).collect()));
            }
        }
        Ok(Self(map))
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 section 3.1).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_parameter_is_refused() {
        assert_eq!(
            Params::parse(b"a=1&a=2").err(),
            Some(ParamsError::Repeated("a".into()))
        );
    }

    #[test]
    fn empty_values_count_as_absent_and_percent_encoding_is_decoded() {
        let p = Params::parse(b"a=&b=x%20y").unwrap();
        assert_eq!(p.get("a"), None);
        assert_eq!(p.get("b"), Some("x y"));
    }

    #[test]
    fn too_many_or_too_long_parameters_are_refused() {
        let many: String = (0..40).map(|i| format!("k{i}=v&")).collect();
        assert_eq!(
            Params::parse(many.as_bytes()).err(),
            Some(ParamsError::TooMany)
        );
        let long = format!("a={}", "x".repeat(5000));
        assert_eq!(
            Params::parse(long.as_bytes()).err(),
            Some(ParamsError::TooLong)
        );
    }
}
