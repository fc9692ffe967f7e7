//! What every benchmark does to get a bridge under test: serve it on a runtime of its own (as it
//! would run in its own process) and register a public client for the real login flow.

use mcp_auth_bridge::{
    config::Config,
    domain::{ApplicationType, AuthMethod, ClientKind},
    startup::{Application, DatabaseSetup},
    state::AppState,
    store::{
        self,
        clients::{self, NewClient},
    },
};
use sqlx::PgPool;
use tokio::{net::TcpListener, runtime::Handle};
use uuid::Uuid;

/// Builds the application on `listener` (migrating its database and applying the configured
/// tenants) and serves it on `bridge` until the process ends.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    bridge: &Handle,
) -> anyhow::Result<AppState> {
    bridge
        .spawn(async move {
            let listener = TcpListener::from_std(listener.into_std()?)?;
            let pool = store::connect(&config.database).await?;
            let app = Application::build_with(config, pool, DatabaseSetup::Prepare, Some(listener))
                .await?;
            let state = app.state().clone();
            tokio::spawn(app.run_until(std::future::pending()));
            anyhow::Ok(state)
        })
        .await?
}

/// Registers a public (PKCE-only) client of `tenant` that redirects to `redirect_uri`; returns
/// the tenant's id and the client id.
pub async fn register_public_client(
    pool: &PgPool,
    tenant: &str,
    redirect_uri: &str,
    name: &str,
) -> anyhow::Result<(Uuid, String)> {
    let tenant_id: Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(tenant)
        .fetch_one(pool)
        .await?;
    let client_id = format!("bench-{}", Uuid::new_v4().simple());
    clients::upsert(
        pool,
        &NewClient {
            tenant_id,
            client_id: &client_id,
            kind: ClientKind::Dynamic,
            secret_hash: None,
            auth_method: AuthMethod::None,
            application_type: ApplicationType::Native,
            client_name: Some(name),
            redirect_uris: vec![redirect_uri.to_owned()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scope: None,
            metadata: serde_json::json!({}),
            registration_token_hash: None,
            metadata_expires_at: None,
            registered_from: None,
        },
    )
    .await?;
    Ok((tenant_id, client_id))
}
