//! Start-up checks of the configuration file's tenants: their scopes, providers and MCP
//! servers, and the references between them.

use std::collections::HashSet;

use super::{
    model::Config,
    problem::{Problem, positive},
    tenants_model::{McpServerConfig, ProviderConfig, TenantConfig},
};
use crate::domain::{ProviderKind, ResourceName};

pub(super) fn check_tenants(config: &Config, out: &mut Vec<Problem>) {
    let mut seen = HashSet::new();
    for (i, tenant) in config.tenants.iter().enumerate() {
        let key = format!("tenants[{i}]");
        if !seen.insert(&tenant.slug) {
            out.push(Problem::new(
                format!("{key}.slug"),
                format!("{:?} is declared twice", tenant.slug.as_str()),
            ));
        }
        check_tenant(config, tenant, &key, out);
    }
}

fn check_tenant(config: &Config, tenant: &TenantConfig, key: &str, out: &mut Vec<Problem>) {
    if tenant.scopes.is_empty() {
        out.push(Problem::new(
            format!("{key}.scopes"),
            "must list at least one scope",
        ));
    }
    for scope in &tenant.scopes {
        if !is_scope_token(scope) {
            out.push(Problem::new(
                format!("{key}.scopes"),
                format!("{scope:?} is not a valid scope token"),
            ));
        }
    }
    if let Some(ttl) = tenant.access_token_ttl {
        positive(out, &format!("{key}.access_token_ttl"), ttl);
    }
    let mut names = HashSet::new();
    for (j, provider) in tenant.providers.iter().enumerate() {
        let pkey = format!("{key}.providers[{j}]");
        if !names.insert(&provider.name) {
            out.push(Problem::new(
                format!("{pkey}.name"),
                "is declared twice in this tenant",
            ));
        }
        check_provider(config, provider, &pkey, out);
    }
    let mut servers = HashSet::new();
    for (j, server) in tenant.mcp_servers.iter().enumerate() {
        let skey = format!("{key}.mcp_servers[{j}]");
        if !servers.insert(&server.name) {
            out.push(Problem::new(
                format!("{skey}.name"),
                "is declared twice in this tenant",
            ));
        }
        check_mcp_server(tenant, &names, server, &skey, out);
    }
}

/// One MCP server of a tenant: its URL, its provider (one of `providers`, the tenant's
/// provider names), its scopes (the tenant's) and its token-exchange credentials.
fn check_mcp_server(
    tenant: &TenantConfig,
    providers: &HashSet<&ResourceName>,
    server: &McpServerConfig,
    skey: &str,
    out: &mut Vec<Problem>,
) {
    if !matches!(server.url.scheme(), "http" | "https") {
        out.push(Problem::new(
            format!("{skey}.url"),
            "must be an http or https URL",
        ));
    }
    match &server.provider {
        Some(p) if !providers.contains(p) => out.push(Problem::new(
            format!("{skey}.provider"),
            format!(
                "names {:?}, which is not a provider of this tenant",
                p.as_str()
            ),
        )),
        None if tenant.providers.is_empty() => out.push(Problem::new(
            format!("{skey}.provider"),
            "the tenant has no provider for its users to log in with",
        )),
        _ => {}
    }
    for scope in server
        .scopes
        .iter()
        .flatten()
        .chain(&server.required_scopes)
    {
        if !tenant.scopes.contains(scope) {
            out.push(Problem::new(
                format!("{skey}.scopes"),
                format!("{scope:?} is not among the tenant's scopes"),
            ));
        }
    }
    super::policies::check_server(tenant, server, skey, out);
    if let Some(tx) = &server.token_exchange
        && (tx.client_id.trim().is_empty() || tx.client_secret.expose().len() < 16)
    {
        out.push(Problem::new(
            format!("{skey}.token_exchange"),
            "needs a client_id and a client_secret of at least 16 characters",
        ));
    }
    if let Some(remote) = &server.remote_oauth {
        if server.forward_upstream_token {
            out.push(Problem::new(
                format!("{skey}.remote_oauth"),
                "a remote-OAuth server gets the user's token from its own authorization \
                 server: forward_upstream_token cannot be set with it",
            ));
        }
        if remote.client_secret.is_some() && remote.client_id.is_none() {
            out.push(Problem::new(
                format!("{skey}.remote_oauth.client_secret"),
                "a client_secret needs its client_id",
            ));
        }
    }
}

fn check_provider(config: &Config, p: &ProviderConfig, key: &str, out: &mut Vec<Problem>) {
    match p.kind {
        ProviderKind::Dev => {
            if !config.dev_mode {
                out.push(Problem::new(
                    format!("{key}.kind"),
                    "the dev provider needs dev_mode = true",
                ));
            }
            return;
        }
        ProviderKind::Oidc
        | ProviderKind::Keycloak
        | ProviderKind::Entra
        | ProviderKind::Okta
        | ProviderKind::Auth0 => {
            let has_endpoints = p.authorization_url.is_some() && p.token_url.is_some();
            if p.issuer.is_none() && !has_endpoints {
                out.push(Problem::new(
                    format!("{key}.issuer"),
                    "is required (or both authorization_url and token_url)",
                ));
            }
        }
        _ => {}
    }
    if p.client_id.as_deref().is_none_or(|c| c.trim().is_empty()) {
        out.push(Problem::new(
            format!("{key}.client_id"),
            "is required for this provider kind",
        ));
    }
    if p.client_secret.is_none() {
        out.push(Problem::new(
            format!("{key}.client_secret"),
            "is required for this provider kind",
        ));
    }
    if p.audience.as_deref().is_some_and(|a| a.trim().is_empty()) {
        out.push(Problem::new(
            format!("{key}.audience"),
            "must not be empty (leave it out instead)",
        ));
    }
    super::policies::check_claims(p, key, out);
    for scope in p.scopes.iter().flatten() {
        if !is_scope_token(scope) {
            out.push(Problem::new(
                format!("{key}.scopes"),
                format!("{scope:?} is not a valid scope token"),
            ));
        }
    }
}

/// RFC 6749 section 3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}
