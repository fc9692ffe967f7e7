//! The admin REST API under `/admin/v1`: operators manage tenants, providers, MCP servers,
//! clients, grants, consents, keys, caches and the sweeper at run time, from scripts or from
//! the docs page at `/admin/docs`.
//!
//! Every route but the OpenAPI document and the docs page sits behind the bearer layer
//! ([`auth`]); every error is an RFC 9457 problem ([`problem`]); every change is audited in its
//! own transaction ([`audit`]). Request bodies are capped at `server.max_body_bytes`.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod clients;
pub mod consents;
pub mod cursor;
pub mod docs;
pub mod extract;
pub mod grants;
pub mod keys;
pub mod policies;
pub mod problem;
pub mod provider_bodies;
pub mod providers;
pub mod remote_connections;
pub mod servers;
pub mod sweeper;
pub mod tenants;
pub mod validate;
pub mod write;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    extract::FromRef,
    middleware,
    routing::{any, delete, get, post},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::services::Services;

/// The admin routes, ready to merge into the service's router.
pub fn routes<S>(state: &Services) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Services: FromRef<S>,
{
    let api = Router::new()
        .merge(configuration_routes())
        .merge(operation_routes())
        .route("/admin/v1/{*rest}", any(problem::not_found))
        .method_not_allowed_fallback(problem::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::layer))
        .layer(DefaultBodyLimit::max(state.config.server.max_body_bytes));
    Router::new()
        .route("/admin/v1/openapi.json", get(docs::openapi_json))
        .route("/admin/docs", get(docs::page))
        .merge(api)
}

/// What tenants are made of: tenants, providers, MCP servers (remote OAuth, policies).
fn configuration_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Services: FromRef<S>,
{
    Router::new()
        .route(
            "/admin/v1/tenants",
            get(tenants::list).post(tenants::create),
        )
        .route(
            "/admin/v1/tenants/{slug}",
            get(tenants::get)
                .patch(tenants::update)
                .delete(tenants::delete),
        )
        .route(
            "/admin/v1/tenants/{slug}/providers",
            get(providers::list).post(providers::create),
        )
        .route(
            "/admin/v1/tenants/{slug}/providers/{name}",
            get(providers::get)
                .patch(providers::update)
                .delete(providers::delete),
        )
        .route(
            "/admin/v1/tenants/{slug}/servers",
            get(servers::list).post(servers::create),
        )
        .route(
            "/admin/v1/tenants/{slug}/servers/{name}",
            get(servers::get)
                .patch(servers::update)
                .delete(servers::delete),
        )
        .route(
            "/admin/v1/tenants/{slug}/servers/{name}/remote-oauth",
            get(remote_connections::get)
                .put(remote_connections::set)
                .delete(remote_connections::delete),
        )
        .route(
            "/admin/v1/tenants/{slug}/remote-connections",
            get(remote_connections::list),
        )
        .route(
            "/admin/v1/tenants/{slug}/remote-connections/{id}",
            delete(remote_connections::disconnect),
        )
        .route(
            "/admin/v1/tenants/{slug}/servers/{name}/policy",
            get(policies::get)
                .put(policies::put)
                .delete(policies::delete),
        )
        .route(
            "/admin/v1/tenants/{slug}/servers/{name}/policy/dry-run",
            post(policies::dry_run),
        )
}

/// What runs on them: grants, clients, consents, keys, caches, the sweeper, the audit log.
fn operation_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Services: FromRef<S>,
{
    Router::new()
        .route("/admin/v1/tenants/{slug}/grants", get(grants::list))
        .route("/admin/v1/tenants/{slug}/grants/{id}", get(grants::get))
        .route(
            "/admin/v1/tenants/{slug}/grants/{id}/revoke",
            post(grants::revoke),
        )
        .route(
            "/admin/v1/tenants/{slug}/users/{subject}/revoke",
            post(grants::revoke_user),
        )
        .route("/admin/v1/tenants/{slug}/clients", get(clients::list))
        .route(
            "/admin/v1/tenants/{slug}/clients/{client_id}",
            get(clients::get).delete(clients::delete),
        )
        .route("/admin/v1/tenants/{slug}/consents", get(consents::list))
        .route(
            "/admin/v1/tenants/{slug}/consents/{id}/revoke",
            post(consents::revoke),
        )
        .route("/admin/v1/tenants/{slug}/keys", get(keys::list))
        .route("/admin/v1/tenants/{slug}/keys/rotate", post(keys::rotate))
        .route("/admin/v1/cache", get(cache::stats))
        .route(
            "/admin/v1/tenants/{slug}/cache/flush",
            post(cache::flush_tenant),
        )
        .route(
            "/admin/v1/tenants/{slug}/grants/{id}/cache/flush",
            post(cache::flush_grant),
        )
        .route("/admin/v1/sweeper", get(sweeper::status))
        .route("/admin/v1/sweeper/run", post(sweeper::run))
        .route("/admin/v1/audit", get(audit::list))
}

/// The OpenAPI document of the admin API (served, and written by `mcp-auth-bridge openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as committed in `openapi/openapi.json`: pretty JSON and a final newline.
pub fn openapi_json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mcp-auth-bridge admin API",
        description = "Manage tenants, upstream providers, MCP servers, OAuth clients, grants, \
            consents, signing keys, caches and the sweeper at run time. Authenticate with an \
            admin token from `admin.tokens` as a bearer token; a tenant-bound token sees only its \
            tenant. Errors are RFC 9457 problem details."
    ),
    paths(
        tenants::list, tenants::create, tenants::get, tenants::update, tenants::delete,
        providers::list, providers::create, providers::get, providers::update, providers::delete,
        servers::list, servers::create, servers::get, servers::update, servers::delete,
        policies::get, policies::put, policies::delete, policies::dry_run,
        grants::list, grants::get, grants::revoke, grants::revoke_user,
        clients::list, clients::get, clients::delete,
        consents::list, consents::revoke,
        keys::list, keys::rotate,
        cache::stats, cache::flush_tenant, cache::flush_grant,
        sweeper::status, sweeper::run,
        audit::list,
        remote_connections::list, remote_connections::disconnect, remote_connections::get,
        remote_connections::set, remote_connections::delete,
    ),
    components(schemas(problem::Problem, problem::FieldError)),
    modifiers(&BearerAuth),
    security(("admin_token" = [])),
    tags(
        (name = "tenants", description = "Tenants: one authorization server each"),
        (name = "providers", description = "Upstream identity providers of a tenant (secrets write-only)"),
        (name = "servers", description = "MCP servers of a tenant"),
        (name = "grants", description = "Users' upstream logins through clients, and their revocation"),
        (name = "clients", description = "OAuth clients of a tenant"),
        (name = "consents", description = "What users approved for which clients"),
        (name = "keys", description = "Tenant JWT signing keys"),
        (name = "cache", description = "The gateway's user-context cache (per replica)"),
        (name = "sweeper", description = "Cleanup of expired and orphaned rows"),
        (name = "audit", description = "Who changed what"),
        (name = "remote", description = "Remote MCP servers with their own OAuth, and users' connections to them (never tokens)"),
    )
)]
struct ApiDoc;

/// The bearer scheme every operation requires.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An admin token from `admin.tokens` (the configuration stores its SHA-256).",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("admin_token", SecurityScheme::Http(scheme));
    }
}
