//! `/admin/v1/tenants/{slug}/servers/{name}/policy`: an MCP server's per-tool policy and its
//! claim-header opt-in, and a dry run ("would this call be allowed, and by which rule?").
//!
//! A policy is compiled before it is stored (an invalid rule is a 400 naming it). A change is
//! announced as `TenantChanged` in the writing transaction, so every replica reloads the
//! server's target, policy included, when it commits. A policy the configuration file sets
//! wins: it cannot be changed here (409), since start-up would write it back.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    auth::Admin,
    extract::{AdminJson, AdminPath},
    problem::{AdminError, BodyReadErrors, ReadErrors, WriteErrors},
    tenants::Owner,
    write::{Action, Entry},
};
use crate::{
    coherence::CacheEvent,
    domain::{
        MappedClaims, McpServer,
        tenant::{Source, Tenant},
    },
    policy::{Call, Decision, Evaluation, Policy, PolicyDocument, Subject},
    services::Services,
    store::{
        mcp_servers,
        policies::{self, PolicyRow},
    },
};

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// Absent: every call is allowed.
    pub policy: Option<PolicyDocument>,
    /// Whether `X-Auth-Groups` / `X-Auth-Roles` are sent.
    pub claim_headers: bool,
    pub source: Owner,
    pub updated_at: DateTime<Utc>,
}

impl PolicyView {
    fn new(row: &PolicyRow) -> Self {
        Self {
            policy: row
                .document
                .clone()
                .and_then(|d| serde_json::from_value(d).ok()),
            claim_headers: row.claim_headers,
            source: row.source.into(),
            updated_at: row.updated_at,
        }
    }
}

/// The whole setting: what is absent is cleared.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPolicy {
    pub policy: Option<PolicyDocument>,
    #[serde(default)]
    pub claim_headers: bool,
}

/// A user, a token and a call to decide with a policy: the stored one, or `policy` if given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    /// Try this policy instead of the stored one.
    pub policy: Option<PolicyDocument>,
    pub user: DryRunUser,
    #[serde(default)]
    pub token: DryRunToken,
    pub request: DryRunRequest,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunUser {
    #[schema(example = "user-1")]
    pub sub: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Mapped claims as the gateway would have them: `{"groups": ["eng"], "hd": "example.com"}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub claims: MappedClaims,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunToken {
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub client_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    #[schema(example = "tools/call")]
    pub method: String,
    /// Tool name, resource URI or prompt name.
    #[schema(example = "delete_issue")]
    pub target: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunResult {
    /// `allow`, `deny` or `step_up` (allowed once the token has `scopes`).
    #[schema(example = "deny")]
    pub decision: &'static str,
    /// The rule that decided; `default` when none matched.
    pub rule: String,
    /// For `step_up`: the scopes the rule needs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

fn no_policy(name: &str) -> AdminError {
    AdminError::not_found(format!("the MCP server {name:?} has no policy"))
}

async fn server(
    state: &Services,
    admin: &Admin,
    slug: &str,
    name: &str,
) -> Result<(Tenant, McpServer), AdminError> {
    let tenant = admin.tenant(state, slug).await?;
    let server = mcp_servers::list(&state.pool, tenant.id)
        .await?
        .into_iter()
        .find(|s| s.name.as_str() == name)
        .ok_or_else(|| AdminError::not_found(format!("no MCP server {name:?} in this tenant")))?;
    Ok((tenant, server))
}

/// Compiles `document`; a refusal names the rule.
fn compile(document: &PolicyDocument, offered: &[String]) -> Result<Policy, AdminError> {
    let policy = Policy::compile(document)
        .map_err(|e| AdminError::invalid_field("/policy/rules", e.to_string()))?;
    if let Some(scope) = policy
        .step_up_scopes()
        .find(|s| !offered.iter().any(|o| o == s))
    {
        return Err(AdminError::invalid_field(
            "/policy/rules",
            format!("step-up scope {scope:?} is not offered by this server"),
        ));
    }
    Ok(policy)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/servers/{name}/policy", operation_id = "get_policy", tag = "servers",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Server name")),
    responses((status = 200, description = "The server's policy", body = PolicyView), ReadErrors))]
pub async fn get(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
) -> Result<Json<PolicyView>, AdminError> {
    let (_, server) = server(&state, &admin, &slug, &name).await?;
    let row = policies::find(&state.pool, server.id)
        .await?
        .ok_or_else(|| no_policy(&name))?;
    Ok(Json(PolicyView::new(&row)))
}

#[utoipa::path(put, path = "/admin/v1/tenants/{slug}/servers/{name}/policy", operation_id = "put_policy", tag = "servers",
    request_body = PutPolicy,
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Server name")),
    responses((status = 200, description = "Stored; every replica applies it", body = PolicyView), WriteErrors))]
pub async fn put(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
    AdminJson(body): AdminJson<PutPolicy>,
) -> Result<Json<PolicyView>, AdminError> {
    let (tenant, server) = server(&state, &admin, &slug, &name).await?;
    if let Some(document) = &body.policy {
        let offered = server.scopes.as_ref().unwrap_or(&tenant.scopes);
        compile(document, offered)?;
    }
    let before = policies::find(&state.pool, server.id).await?;
    if before.as_ref().is_some_and(|b| b.source == Source::Config) {
        return Err(AdminError::conflict(
            "this server's policy is set in the configuration file",
        ));
    }
    let row = PolicyRow {
        server_id: server.id,
        tenant_id: tenant.id,
        document: body
            .policy
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| AdminError::internal("policy", &e))?,
        claim_headers: body.claim_headers,
        source: Source::Api,
        updated_at: Utc::now(),
    };
    let mut w = admin.begin(&state, Some(tenant.id)).await?;
    let stored = policies::put(&mut w, &row).await?;
    let view = PolicyView::new(&stored);
    let mut entry = Entry::new(Action::PolicyPut, server.id).after(&view);
    if let Some(before) = &before {
        entry = entry.before(&PolicyView::new(before));
    }
    w.finish(entry, [CacheEvent::TenantChanged { tenant: tenant.id }])
        .await?;
    Ok(Json(view))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{slug}/servers/{name}/policy", operation_id = "delete_policy", tag = "servers",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Server name")),
    responses((status = 204, description = "Deleted: every call is allowed again"), WriteErrors))]
pub async fn delete(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
) -> Result<StatusCode, AdminError> {
    let (_, server) = server(&state, &admin, &slug, &name).await?;
    let before = policies::find(&state.pool, server.id)
        .await?
        .ok_or_else(|| no_policy(&name))?;
    if before.source == Source::Config {
        return Err(AdminError::conflict(
            "this server's policy is set in the configuration file",
        ));
    }
    let mut w = admin.begin(&state, Some(before.tenant_id)).await?;
    if !policies::delete(&mut w, server.id).await? {
        return Err(no_policy(&name));
    }
    let entry = Entry::new(Action::PolicyDelete, server.id).before(&PolicyView::new(&before));
    w.finish(
        entry,
        [CacheEvent::TenantChanged {
            tenant: before.tenant_id,
        }],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/admin/v1/tenants/{slug}/servers/{name}/policy/dry-run", operation_id = "dry_run_policy", tag = "servers",
    request_body = DryRun,
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Server name")),
    responses((status = 200, description = "What the policy decides", body = DryRunResult), BodyReadErrors))]
pub async fn dry_run(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
    AdminJson(body): AdminJson<DryRun>,
) -> Result<Json<DryRunResult>, AdminError> {
    let (_, server) = server(&state, &admin, &slug, &name).await?;
    let document = match body.policy {
        Some(document) => document,
        None => policies::find(&state.pool, server.id)
            .await?
            .and_then(|row| row.document)
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| AdminError::internal("stored policy", &e))?
            .unwrap_or_default(),
    };
    let policy = Policy::compile(&document)
        .map_err(|e| AdminError::invalid_field("/policy/rules", e.to_string()))?;
    let scopes = body.token.scopes.join(" ");
    let subject = Subject {
        subject: &body.user.sub,
        email: body.user.email.as_deref(),
        name: body.user.name.as_deref(),
        claims: &body.user.claims,
        scopes: &scopes,
        client_id: &body.token.client_id,
        tenant: &slug,
    };
    let call = Call {
        method: &body.request.method,
        target: body.request.target.as_deref(),
    };
    let decision = Evaluation::new(&policy, &subject).decide(&call);
    let (verdict, needed) = match &decision {
        Decision::Allow { .. } => ("allow", Vec::new()),
        Decision::Deny { .. } => ("deny", Vec::new()),
        Decision::StepUp { scopes, .. } => ("step_up", scopes.clone()),
    };
    Ok(Json(DryRunResult {
        decision: verdict,
        rule: decision.rule().to_owned(),
        scopes: needed.into_iter().map(str::to_owned).collect(),
    }))
}
