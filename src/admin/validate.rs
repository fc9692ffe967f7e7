//! Checks on request fields that types alone cannot express; each failure names its JSON
//! Pointer, and all failures of a request are reported together.

use super::problem::{AdminError, FieldError};
use crate::{domain::Scopes, net_guard::UpstreamGuard};

/// Collects field errors; `finish` turns any into one 422.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    /// A human-readable name: 1 to 200 characters, not blank.
    pub fn name(&mut self, path: &str, value: &str) {
        if value.trim().is_empty() || value.chars().count() > 200 {
            self.fail(path, "must be 1 to 200 characters and not blank");
        }
    }

    /// RFC 6749 section 3.3 scope tokens, at most 50.
    pub fn scopes(&mut self, path: &str, scopes: &[String]) {
        if scopes.len() > 50 {
            self.fail(path, "at most 50 scopes");
        }
        for (i, scope) in scopes.iter().enumerate() {
            let one = Scopes::parse(scope).is_ok_and(|s| s.to_vec() == [scope.clone()]);
            if !one {
                self.fail(&format!("{path}/{i}"), "is not a valid scope token");
            }
        }
    }

    /// A lifetime in seconds: 1 second to 10 years.
    pub fn seconds(&mut self, path: &str, value: i64) {
        if !(1..=315_360_000).contains(&value) {
            self.fail(path, "must be between 1 and 315360000 seconds");
        }
    }

    /// An absolute `http`/`https` URL the bridge will connect to (an MCP server, an upstream
    /// provider endpoint): its host must be public unless `admin.allowed_upstream_hosts` allows
    /// it, and never link-local (see [`crate::net_guard`]). Otherwise an admin token bound to
    /// one tenant could aim the bridge at the cloud metadata service or the internal network
    /// and read the answers through the gateway (SSRF). Names are checked again at connect time.
    pub fn upstream_url(&mut self, path: &str, value: &str, guard: &UpstreamGuard) {
        match url::Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => match u.host() {
                Some(host) => {
                    if let Err(refused) = guard.check_host(&host) {
                        self.fail(path, refused.to_string());
                    }
                }
                None => self.fail(path, "must be an absolute http or https URL"),
            },
            _ => self.fail(path, "must be an absolute http or https URL"),
        }
    }

    pub fn finish(self) -> Result<(), AdminError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AdminError::invalid(self.0))
        }
    }
}

/// Deserializes a field that distinguishes "absent" (outer `None`: leave unchanged) from
/// `null` (`Some(None)`: clear it), for PATCH bodies.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
