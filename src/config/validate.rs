//! Start-up checks that serde cannot express: ranges, cross-references, production rules.
//!
//! Every problem names its key, so the operator reads `auth.cache_ttl: must be > 0` and not a
//! stack trace.

use std::collections::HashSet;

use super::{
    HumanDuration,
    load::Problem,
    model::{Config, ProviderConfig, TenantConfig},
};
use crate::domain::ProviderKind;

pub fn problems(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    check_public_url(config, &mut out);
    check_server(config, &mut out);
    check_database(config, &mut out);
    check_auth(config, &mut out);
    check_crypto(config, &mut out);
    check_admin(config, &mut out);
    check_tenants(config, &mut out);
    check_traces(config, &mut out);
    super::production::check(config, &mut out);
    out
}

fn check_traces(config: &Config, out: &mut Vec<Problem>) {
    let t = &config.telemetry.traces;
    if !(0.0..=1.0).contains(&t.sample_ratio) {
        out.push(Problem::new(
            "telemetry.traces.sample_ratio",
            "must be between 0.0 and 1.0",
        ));
    }
    if !url::Url::parse(&t.endpoint).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        out.push(Problem::new(
            "telemetry.traces.endpoint",
            "must be an http or https URL",
        ));
    }
    positive(out, "telemetry.traces.export_timeout", t.export_timeout);
    positive(out, "telemetry.traces.scheduled_delay", t.scheduled_delay);
    if t.max_queue_size == 0 || t.max_export_batch_size == 0 {
        out.push(Problem::new(
            "telemetry.traces.max_queue_size",
            "max_queue_size and max_export_batch_size must be > 0",
        ));
    }
}

fn check_public_url(config: &Config, out: &mut Vec<Problem>) {
    let url = &config.public_url;
    if !matches!(url.scheme(), "http" | "https") {
        out.push(Problem::new("public_url", "must be an http or https URL"));
    } else if url.query().is_some() || url.fragment().is_some() {
        out.push(Problem::new(
            "public_url",
            "must not have a query or fragment",
        ));
    } else if url.scheme() == "http" && !config.dev_mode && !is_loopback_url(url) {
        out.push(Problem::new(
            "public_url",
            "must be https outside dev_mode (http is allowed only for loopback hosts)",
        ));
    }
}

/// Issue 11, item 8: a zero timeout or connection limit would make the listener useless.
fn check_server(config: &Config, out: &mut Vec<Problem>) {
    positive(
        out,
        "server.header_read_timeout",
        config.server.header_read_timeout,
    );
    if config.server.max_connections == 0 {
        out.push(Problem::new("server.max_connections", "must be > 0"));
    }
}

fn check_database(config: &Config, out: &mut Vec<Problem>) {
    let url = config.database.url.expose();
    if crate::embedded_postgres::is_embedded(url) {
        if !config.dev_mode {
            out.push(Problem::new(
                "database.url",
                "`embedded` (a private PostgreSQL for a first run) is only for dev_mode = true: \
                 give the postgres:// URL of a managed server",
            ));
        }
    } else if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        out.push(Problem::new(
            "database.url",
            "must be a postgres:// or postgresql:// URL",
        ));
    }
    if config.database.max_connections == 0 {
        out.push(Problem::new("database.max_connections", "must be > 0"));
    }
    positive(
        out,
        "database.acquire_timeout",
        config.database.acquire_timeout,
    );
    positive(
        out,
        "database.statement_timeout",
        config.database.statement_timeout,
    );
}

fn check_auth(config: &Config, out: &mut Vec<Problem>) {
    let a = &config.auth;
    positive(out, "auth.cache_ttl", a.cache_ttl);
    if a.cache_capacity == 0 {
        out.push(Problem::new("auth.cache_capacity", "must be > 0"));
    }
    positive(out, "auth.authorization_code_ttl", a.authorization_code_ttl);
    if a.authorization_code_ttl > HumanDuration::secs(600) {
        out.push(Problem::new(
            "auth.authorization_code_ttl",
            "must be at most 10m (RFC 9700 section 4.5)",
        ));
    }
    positive(
        out,
        "auth.pending_authorization_ttl",
        a.pending_authorization_ttl,
    );
    positive(out, "auth.access_token_ttl", a.access_token_ttl);
    positive(out, "auth.refresh_token_ttl", a.refresh_token_ttl);
    positive(
        out,
        "auth.refresh_family_max_lifetime",
        a.refresh_family_max_lifetime,
    );
    if a.refresh_grace_period > HumanDuration::secs(60) {
        out.push(Problem::new(
            "auth.refresh_grace_period",
            "must be at most 60s",
        ));
    }
    if a.clock_skew > HumanDuration::secs(300) {
        out.push(Problem::new("auth.clock_skew", "must be at most 5m"));
    }
    check_upstream_refresh(a, out);
    if config.gateway.replay_buffer_bytes > config.gateway.max_body_bytes {
        out.push(Problem::new(
            "gateway.replay_buffer_bytes",
            "must not exceed gateway.max_body_bytes",
        ));
    }
    if config.registration.max_redirect_uris == 0 {
        out.push(Problem::new(
            "registration.max_redirect_uris",
            "must be > 0",
        ));
    }
}

/// The upstream refresh coordinator's timings (issue 12).
fn check_upstream_refresh(a: &crate::config::AuthConfig, out: &mut Vec<Problem>) {
    positive(
        out,
        "auth.upstream_refresh_timeout",
        a.upstream_refresh_timeout,
    );
    positive(out, "auth.upstream_refresh_wait", a.upstream_refresh_wait);
    if a.upstream_refresh_lease < HumanDuration::secs(1) {
        out.push(Problem::new(
            "auth.upstream_refresh_lease",
            "must be at least 1s (it is renewed every third of it)",
        ));
    }
    if a.upstream_refresh_max_backoff < a.upstream_refresh_backoff {
        out.push(Problem::new(
            "auth.upstream_refresh_max_backoff",
            "must not be less than auth.upstream_refresh_backoff",
        ));
    }
}

fn check_crypto(config: &Config, out: &mut Vec<Problem>) {
    let c = &config.crypto;
    if c.keys.is_empty() {
        if !config.dev_mode {
            out.push(Problem::new(
                "crypto.keys",
                "no sealing key configured: set crypto.keys.<id> to 32 random bytes in base64 \
                 (e.g. `openssl rand -base64 32`), or dev_mode = true for an ephemeral key",
            ));
        }
        if c.active_key.is_some() {
            out.push(Problem::new(
                "crypto.active_key",
                "names a key but crypto.keys is empty",
            ));
        }
        return;
    }
    for (id, key) in &c.keys {
        if id.is_empty()
            || id.len() > 32
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            out.push(Problem::new(
                format!("crypto.keys.{id}"),
                "key ids are 1-32 characters of a-z, 0-9, '-', '_'",
            ));
        }
        if crate::crypto::seal::decode_key(key.expose()).is_none() {
            out.push(Problem::new(
                format!("crypto.keys.{id}"),
                "must be exactly 32 bytes, base64-encoded",
            ));
        }
    }
    match &c.active_key {
        Some(active) if !c.keys.contains_key(active) => out.push(Problem::new(
            "crypto.active_key",
            format!("names {active:?}, which is not among crypto.keys"),
        )),
        None if c.keys.len() > 1 => out.push(Problem::new(
            "crypto.active_key",
            "must name the key that seals new secrets when several keys are configured",
        )),
        _ => {}
    }
}

fn check_admin(config: &Config, out: &mut Vec<Problem>) {
    // A token may name a tenant that lives only in the database, so `tenant` is not checked here.
    for (i, token) in config.admin.tokens.iter().enumerate() {
        let key = format!("admin.tokens[{i}]");
        let hex = &token.sha256;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            out.push(Problem::new(
                format!("{key}.sha256"),
                "must be 64 lowercase hex digits",
            ));
        }
        if token.name.trim().is_empty() {
            out.push(Problem::new(format!("{key}.name"), "must not be empty"));
        }
    }
}

fn check_tenants(config: &Config, out: &mut Vec<Problem>) {
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
        if !matches!(server.url.scheme(), "http" | "https") {
            out.push(Problem::new(
                format!("{skey}.url"),
                "must be an http or https URL",
            ));
        }
        match &server.provider {
            Some(p) if !names.contains(p) => out.push(Problem::new(
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
        super::policies::check_server(tenant, server, &skey, out);
        if let Some(tx) = &server.token_exchange
            && (tx.client_id.trim().is_empty() || tx.client_secret.expose().len() < 16)
        {
            out.push(Problem::new(
                format!("{skey}.token_exchange"),
                "needs a client_id and a client_secret of at least 16 characters",
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

fn positive(out: &mut Vec<Problem>, key: &str, value: HumanDuration) {
    if value.is_zero() {
        out.push(Problem::new(key, "must be > 0"));
    }
}

/// RFC 6749 section 3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

pub(super) fn is_loopback_url(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
