//! The configuration's defaults, named in `#[serde(default = "defaults::…")]`.

use super::duration::HumanDuration;

pub fn yes() -> bool {
    true
}
pub fn max_connections() -> u32 {
    10
}
pub fn acquire_timeout() -> HumanDuration {
    HumanDuration::secs(5)
}
pub fn statement_timeout() -> HumanDuration {
    HumanDuration::secs(30)
}
pub fn startup_timeout() -> HumanDuration {
    HumanDuration::secs(60)
}
pub fn tenant_scopes() -> Vec<String> {
    vec!["mcp".into()]
}
