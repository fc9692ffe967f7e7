//! Checks of the per-tool authorization settings: a provider's claim mapping and a server's
//! policy (compiled here once, so that an invalid rule stops start-up with its name).

use super::{McpServerConfig, Problem, ProviderConfig, TenantConfig};
use crate::{domain::ClaimMapping, policy::Policy};

pub(super) fn check_claims(p: &ProviderConfig, key: &str, out: &mut Vec<Problem>) {
    if let Err(e) = ClaimMapping::parse(&p.claims) {
        out.push(Problem::new(format!("{key}.claims"), e.to_string()));
    }
}

pub(super) fn check_server(
    tenant: &TenantConfig,
    server: &McpServerConfig,
    key: &str,
    out: &mut Vec<Problem>,
) {
    let Some(document) = &server.policy else {
        return;
    };
    let policy = match Policy::compile(document) {
        Ok(policy) => policy,
        Err(e) => {
            out.push(Problem::new(format!("{key}.policy"), e.to_string()));
            return;
        }
    };
    let offered = server.scopes.as_ref().unwrap_or(&tenant.scopes);
    for scope in policy.step_up_scopes() {
        if !offered.iter().any(|s| s == scope) {
            out.push(Problem::new(
                format!("{key}.policy"),
                format!(
                    "step-up scope {scope:?} is not offered by this server (its `scopes`), \
                     so no client could obtain it"
                ),
            ));
        }
    }
}
