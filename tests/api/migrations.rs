//! Migrations apply to a fresh database, and a second run is a no-op.

use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn migrations_apply_to_a_fresh_database_and_a_second_run_changes_nothing(pool: PgPool) {
    mcp_auth_bridge::store::migrate(&pool).await.unwrap();
    let first: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    mcp_auth_bridge::store::migrate(&pool).await.unwrap();
    let second: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(!first.is_empty() && first.iter().all(|(_, ok)| *ok));
    assert_eq!(first, second);
}

#[sqlx::test(migrations = false)]
async fn the_schema_holds_every_table_of_the_design(pool: PgPool) {
    mcp_auth_bridge::store::migrate(&pool).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for t in [
        "tenants",
        "upstream_providers",
        "mcp_servers",
        "oauth_clients",
        "consents",
        "pending_authorizations",
        "authorization_codes",
        "grants",
        "access_tokens",
        "refresh_token_families",
        "refresh_tokens",
        "signing_keys",
        "audit_log",
        "sweeper_runs",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "missing table {t}: {tables:?}"
        );
    }
}

#[sqlx::test]
async fn deleting_a_tenant_deletes_everything_that_cannot_outlive_it(pool: PgPool) {
    let tenant = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO tenants (id, slug, display_name) VALUES ($1, 'gone', 'Gone')")
        .bind(tenant)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO upstream_providers (id, tenant_id, name, kind) VALUES ($1, $2, 'p', 'oidc')",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor, action) VALUES ($1, 'test', 'tenant.create')",
    )
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(tenant)
        .execute(&pool)
        .await
        .unwrap();
    let providers: i64 = sqlx::query_scalar("SELECT count(*) FROM upstream_providers")
        .fetch_one(&pool)
        .await
        .unwrap();
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(providers, 0, "providers cascade with their tenant");
    assert_eq!(audit, 1, "the audit log outlives what it describes");
}

#[sqlx::test(migrations = false)]
async fn two_processes_migrating_one_fresh_database_at_once_both_succeed(pool: PgPool) {
    // Two pools stand for two processes: sqlx's migrator serialises them with a session-level
    // advisory lock taken before `_sqlx_migrations` is even created.
    let other = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        mcp_auth_bridge::store::migrate(&pool),
        mcp_auth_bridge::store::migrate(&other)
    );
    a.unwrap();
    b.unwrap();
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE NOT success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(failed, 0);
}
