//! Applies the tenants declared in the configuration to Postgres at start-up.
//!
//! Idempotent: a second start with the same file changes no row (and writes no audit entry);
//! a changed file updates exactly what changed. Providers and servers the file no longer
//! declares are deleted when the file owned them. Tenants removed from the file are kept,
//! since deleting a tenant's users and grants because a line went missing would be worse.

use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    config::{Config, McpServerConfig, ProviderConfig, TenantConfig},
    crypto::{Sealed, Sealer, hash},
    domain::{ResourceName, tenant::Source},
    store::{
        StoreError,
        audit::{self, AuditEntry},
        mcp_servers::{self, ServerRow},
        providers::{self, ProviderRow},
        tenants::{self, TenantInput},
        upsert::Upserted,
    },
};

/// What the bootstrap did, per kind of row.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub pruned: u64,
    pub keys_created: usize,
}

impl Report {
    fn count(&mut self, outcome: Upserted) {
        match outcome {
            Upserted::Inserted(_) => self.inserted += 1,
            Upserted::Updated(_) => self.updated += 1,
            Upserted::Unchanged(_) => self.unchanged += 1,
        }
    }
}

/// Upserts every configured tenant, each in its own transaction.
pub async fn apply_config_tenants(
    pool: &PgPool,
    config: &Config,
    sealer: &Sealer,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for tenant in &config.tenants {
        let mut tx = pool.begin().await?;
        apply_tenant(&mut tx, tenant, sealer, &mut report).await?;
        tx.commit().await?;
    }
    Ok(report)
}

async fn apply_tenant(
    conn: &mut PgConnection,
    t: &TenantConfig,
    sealer: &Sealer,
    report: &mut Report,
) -> Result<(), StoreError> {
    let display_name = t.display_name.clone().unwrap_or_else(|| t.slug.to_string());
    let input = TenantInput {
        slug: &t.slug,
        display_name: &display_name,
        scopes: &t.scopes,
        access_token_ttl_seconds: t.access_token_ttl.map(|d| d.get().as_secs() as i64),
    };
    let outcome = tenants::upsert_config_tenant(conn, &input).await?;
    report.count(outcome);
    let tenant_id = outcome.id();
    if !matches!(outcome, Upserted::Unchanged(_)) {
        let after =
            serde_json::json!({"slug": t.slug, "display_name": display_name, "scopes": t.scopes});
        audit_config_change(
            conn,
            tenant_id,
            "tenant.upsert",
            "tenant",
            tenant_id.to_string(),
            after,
        )
        .await?;
    }
    let mut provider_ids = Vec::new();
    for (position, p) in t.providers.iter().enumerate() {
        let id = apply_provider(conn, tenant_id, position as i32, p, sealer, report).await?;
        provider_ids.push((p.name.clone(), id));
    }
    for s in &t.mcp_servers {
        let provider = s.provider.as_ref().or(t.providers.first().map(|p| &p.name));
        let provider_id = provider.and_then(|name| {
            provider_ids
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, id)| *id)
        });
        let outcome = apply_server(conn, tenant_id, s, provider, provider_id).await?;
        report.count(outcome);
        apply_remote_oauth(conn, sealer, outcome.id(), s).await?;
    }
    let provider_names: Vec<String> = t.providers.iter().map(|p| p.name.to_string()).collect();
    let server_names: Vec<String> = t.mcp_servers.iter().map(|s| s.name.to_string()).collect();
    // Servers first: they name providers.
    report.pruned += mcp_servers::prune_config(conn, tenant_id, &server_names).await?;
    report.pruned += providers::prune_config(conn, tenant_id, &provider_names).await?;
    if crate::tokens::keys::ensure_key(conn, tenant_id, sealer).await? {
        report.keys_created += 1;
    }
    Ok(())
}

async fn apply_server(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    s: &McpServerConfig,
    provider: Option<&ResourceName>,
    provider_id: Option<Uuid>,
) -> Result<Upserted, StoreError> {
    let now = Utc::now();
    let row = ServerRow {
        id: Uuid::new_v4(),
        name: s.name.to_string(),
        upstream_url: s.url.to_string(),
        provider_id,
        provider: None,
        scopes: s.scopes.clone(),
        required_scopes: s.required_scopes.clone(),
        forward_upstream_token: s.forward_upstream_token,
        exchange_client_id: s.token_exchange.as_ref().map(|x| x.client_id.clone()),
        exchange_secret_hash: s
            .token_exchange
            .as_ref()
            .map(|x| hash::sha256(x.client_secret.expose().as_bytes()).to_vec()),
        remote_oauth: s.remote_oauth.is_some(),
        source: Source::Config,
        created_at: now,
        updated_at: now,
    };
    let outcome = mcp_servers::upsert_config(conn, tenant_id, &row).await?;
    if !matches!(outcome, Upserted::Unchanged(_)) {
        let after = serde_json::json!({"name": s.name, "url": s.url, "provider": provider});
        audit_config_change(
            conn,
            tenant_id,
            "mcp_server.upsert",
            "mcp_server",
            outcome.id().to_string(),
            after,
        )
        .await?;
    }
    apply_server_policy(conn, tenant_id, outcome.id(), s).await?;
    Ok(outcome)
}

/// The server's remote-OAuth settings (issue 18): written when they changed, removed when the
/// file no longer declares them (its users' connections go with them).
async fn apply_remote_oauth(
    conn: &mut PgConnection,
    sealer: &Sealer,
    server_id: Uuid,
    s: &McpServerConfig,
) -> Result<(), StoreError> {
    use crate::store::remote_registrations::{self, RemoteSettings};
    match &s.remote_oauth {
        Some(remote) => {
            let settings = RemoteSettings {
                mcp_server_id: server_id,
                scopes: remote.scopes.clone(),
                client_id: remote.client_id.clone(),
                client_secret: remote.client_secret.as_ref().map(|x| x.expose().clone()),
            };
            remote_registrations::upsert_settings(conn, sealer, &settings).await?;
        }
        None => {
            remote_registrations::delete_settings(conn, server_id).await?;
        }
    }
    Ok(())
}

/// The file's policy and claim-header opt-in of a server: written as the file says (the file
/// wins over the admin API); without either, a row the file wrote before is removed and one
/// the admin API wrote is kept.
async fn apply_server_policy(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    server_id: Uuid,
    s: &McpServerConfig,
) -> Result<(), StoreError> {
    if s.policy.is_none() && !s.claim_headers {
        crate::store::policies::delete_config(conn, server_id).await?;
        return Ok(());
    }
    let document = s
        .policy
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("policy of {}: {e}", s.name)))?;
    let row = crate::store::policies::PolicyRow {
        server_id,
        tenant_id,
        document,
        claim_headers: s.claim_headers,
        source: Source::Config,
        updated_at: Utc::now(),
    };
    crate::store::policies::put(conn, &row).await?;
    Ok(())
}

async fn apply_provider(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    position: i32,
    p: &ProviderConfig,
    sealer: &Sealer,
    report: &mut Report,
) -> Result<Uuid, StoreError> {
    let aad = format!("provider:{tenant_id}:{}:client_secret", p.name);
    let client_secret = match &p.client_secret {
        None => None,
        Some(secret) => {
            Some(reuse_or_seal(conn, tenant_id, p, secret.expose(), &aad, sealer).await?)
        }
    };
    let mut settings = serde_json::json!({ "dev_user": p.dev_user.as_ref().map(|u| serde_json::json!({
        "subject": u.subject, "email": u.email, "name": u.name,
    })) });
    // Only when set, so that providers without one keep their stored settings unchanged.
    if let (Some(audience), Some(map)) = (&p.audience, settings.as_object_mut()) {
        map.insert("audience".into(), audience.clone().into());
    }
    if let (false, Some(map)) = (p.claims.is_empty(), settings.as_object_mut()) {
        map.insert("claims".into(), serde_json::json!(p.claims));
    }
    let now = Utc::now();
    let row = ProviderRow {
        id: Uuid::new_v4(),
        name: p.name.to_string(),
        kind: p.kind.as_str().to_owned(),
        position,
        issuer: p
            .issuer
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned()),
        client_id: p.client_id.clone(),
        client_secret,
        scopes: p.scopes.clone(),
        authorization_url: p.authorization_url.as_ref().map(|u| u.to_string()),
        token_url: p.token_url.as_ref().map(|u| u.to_string()),
        userinfo_url: p.userinfo_url.as_ref().map(|u| u.to_string()),
        jwks_url: p.jwks_url.as_ref().map(|u| u.to_string()),
        revocation_url: p.revocation_url.as_ref().map(|u| u.to_string()),
        default_token_lifetime_seconds: p.default_token_lifetime.map(|d| d.get().as_secs() as i64),
        settings,
        source: Source::Config,
        created_at: now,
        updated_at: now,
    };
    let outcome = providers::upsert_config(conn, tenant_id, &row).await?;
    if !matches!(outcome, Upserted::Unchanged(_)) {
        // The secret itself is never audited; only whether one is set.
        let after = serde_json::json!({"name": p.name, "kind": p.kind, "issuer": p.issuer,
            "client_id": p.client_id, "client_secret_set": p.client_secret.is_some()});
        audit_config_change(
            conn,
            tenant_id,
            "provider.upsert",
            "provider",
            outcome.id().to_string(),
            after,
        )
        .await?;
    }
    report.count(outcome);
    Ok(outcome.id())
}

/// Keeps the stored ciphertext when it still opens to the configured secret.
async fn reuse_or_seal(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    p: &ProviderConfig,
    secret: &str,
    aad: &str,
    sealer: &Sealer,
) -> Result<Sealed, StoreError> {
    if let Some(existing) = providers::sealed_secret(conn, tenant_id, p.name.as_str()).await?
        && existing.key_id == sealer.active_key_id()
        && sealer
            .open(&existing, aad)
            .is_ok_and(|plain| hash::constant_time_eq(&plain, secret.as_bytes()))
    {
        return Ok(existing);
    }
    Ok(sealer.seal_str(secret, aad))
}

async fn audit_config_change(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    action: &str,
    target_type: &str,
    target_id: String,
    after: serde_json::Value,
) -> Result<(), StoreError> {
    audit::record(
        conn,
        &AuditEntry {
            tenant_id: Some(tenant_id),
            actor: "config",
            action,
            target_type: Some(target_type),
            target_id: Some(target_id),
            before: None,
            after: Some(after),
            request_id: None,
        },
    )
    .await
}
