//! Rows for the sweeper tests, inserted with plain SQL at chosen instants around a fixed `now`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use mcp_auth_bridge::{config::Config, sweeper::Sweeper};
use sqlx::PgPool;
use uuid::Uuid;

use crate::app_support::test_config;

/// The retention and unused-client TTL the tests configure.
pub const RETENTION: Duration = Duration::days(1);
pub const UNUSED_CLIENT_TTL: Duration = Duration::days(7);
pub const SECOND: Duration = Duration::seconds(1);

pub fn config() -> Config {
    test_config("[auth]\nretention = \"1d\"\n[registration]\nunused_client_ttl = \"7d\"\n")
}

/// The instant every test sweeps at.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

pub fn sweeper(pool: &PgPool) -> Sweeper {
    Sweeper::new(pool.clone(), &config())
}

/// A tenant with one provider, one MCP server and one (used, static) client.
pub struct Fixture {
    pub pool: PgPool,
    pub tenant: Uuid,
    pub provider: Uuid,
    pub server: Uuid,
    pub client: Uuid,
}

fn hash() -> Vec<u8> {
    Uuid::new_v4().as_bytes().to_vec()
}

impl Fixture {
    pub async fn new(pool: &PgPool) -> Self {
        let (tenant, provider, server) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        sqlx::query("INSERT INTO tenants (id, slug, display_name) VALUES ($1, 'sweep', 'Sweep')")
            .bind(tenant)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO upstream_providers (id, tenant_id, name, kind) VALUES ($1, $2, 'dev', 'dev')",
        )
        .bind(provider)
        .bind(tenant)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO mcp_servers (id, tenant_id, name, upstream_url)
             VALUES ($1, $2, 'demo', 'http://127.0.0.1:9/mcp')",
        )
        .bind(server)
        .bind(tenant)
        .execute(pool)
        .await
        .unwrap();
        let mut f = Fixture {
            pool: pool.clone(),
            tenant,
            provider,
            server,
            client: Uuid::nil(),
        };
        f.client = f
            .client_row("static", now() - Duration::days(365), None)
            .await;
        f
    }

    pub async fn client_row(
        &self,
        kind: &str,
        created_at: DateTime<Utc>,
        last_used_at: Option<DateTime<Utc>>,
    ) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO oauth_clients (id, tenant_id, client_id, kind, token_endpoint_auth_method,
                 redirect_uris, created_at, last_used_at)
             VALUES ($1, $2, $3, $4, 'none', '{http://127.0.0.1/cb}', $5, $6)",
        )
        .bind(id)
        .bind(self.tenant)
        .bind(id.to_string())
        .bind(kind)
        .bind(created_at)
        .bind(last_used_at)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    /// An active grant last touched at `updated_at`, for `client`.
    pub async fn grant_for(&self, client: Uuid, updated_at: DateTime<Utc>) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO grants (id, tenant_id, provider_id, client_pk, subject,
                 upstream_access_token, upstream_access_key_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'alice', '\\x00', 'test', $5, $5)",
        )
        .bind(id)
        .bind(self.tenant)
        .bind(self.provider)
        .bind(client)
        .bind(updated_at)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    pub async fn grant(&self, updated_at: DateTime<Utc>) -> Uuid {
        self.grant_for(self.client, updated_at).await
    }

    pub async fn revoked_grant(&self, revoked_at: DateTime<Utc>) -> Uuid {
        let id = self.grant(revoked_at).await;
        sqlx::query("UPDATE grants SET status = 'revoked', revoked_at = $2 WHERE id = $1")
            .bind(id)
            .bind(revoked_at)
            .execute(&self.pool)
            .await
            .unwrap();
        id
    }

    /// `n` authorization codes of `grant` expiring at `expires_at`; returns their hashes.
    pub async fn codes(&self, grant: Uuid, n: usize, expires_at: DateTime<Utc>) -> Vec<Vec<u8>> {
        let hashes: Vec<Vec<u8>> = (0..n).map(|_| hash()).collect();
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, tenant_id, client_pk, grant_id,
                 mcp_server_id, redirect_uri, code_challenge, scopes, resource, created_at, expires_at)
             SELECT h, $2, $3, $4, $5, 'http://127.0.0.1/cb', 'x', '{mcp}', 'r', $6, $6
             FROM unnest($1::bytea[]) AS h",
        )
        .bind(&hashes)
        .bind(self.tenant)
        .bind(self.client)
        .bind(grant)
        .bind(self.server)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .unwrap();
        hashes
    }

    pub async fn code(&self, grant: Uuid, expires_at: DateTime<Utc>, used: bool) -> Vec<u8> {
        let h = self.codes(grant, 1, expires_at).await.remove(0);
        if used {
            sqlx::query("UPDATE authorization_codes SET used_at = expires_at WHERE code_hash = $1")
                .bind(&h)
                .execute(&self.pool)
                .await
                .unwrap();
        }
        h
    }

    pub async fn pending(&self, client: Uuid, expires_at: DateTime<Utc>) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO pending_authorizations (id, tenant_id, client_pk, provider_id, mcp_server_id,
                 redirect_uri, code_challenge, scopes, resource, expires_at)
             VALUES ($1, $2, $3, $4, $5, 'http://127.0.0.1/cb', 'x', '{mcp}', 'r', $6)",
        )
        .bind(id)
        .bind(self.tenant)
        .bind(client)
        .bind(self.provider)
        .bind(self.server)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    pub async fn access_token(
        &self,
        grant: Uuid,
        family: Option<Uuid>,
        expires_at: DateTime<Utc>,
        revoked_at: Option<DateTime<Utc>>,
    ) -> Uuid {
        let jti = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO access_tokens (jti, tenant_id, grant_id, client_pk, family_id, mcp_server_id,
                 subject, audience, scopes, issued_at, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'alice', 'r', '{mcp}', $7 - interval '1 hour', $7, $8)",
        )
        .bind(jti)
        .bind(self.tenant)
        .bind(grant)
        .bind(self.client)
        .bind(family)
        .bind(self.server)
        .bind(expires_at)
        .bind(revoked_at)
        .execute(&self.pool)
        .await
        .unwrap();
        jti
    }

    pub async fn family(
        &self,
        grant: Uuid,
        absolute_expires_at: DateTime<Utc>,
        revoked_at: Option<DateTime<Utc>>,
    ) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO refresh_token_families (id, tenant_id, grant_id, client_pk, mcp_server_id,
                 scopes, resource, created_at, absolute_expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, '{mcp}', 'r', $6 - interval '400 days', $6, $7)",
        )
        .bind(id)
        .bind(self.tenant)
        .bind(grant)
        .bind(self.client)
        .bind(self.server)
        .bind(absolute_expires_at)
        .bind(revoked_at)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    pub async fn refresh_token(
        &self,
        family: Uuid,
        generation: i32,
        status: &str,
        expires_at: DateTime<Utc>,
    ) -> Vec<u8> {
        let h = hash();
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, generation, status, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&h)
        .bind(family)
        .bind(self.tenant)
        .bind(generation)
        .bind(status)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .unwrap();
        h
    }

    /// Whether the row of `table` whose primary key `pk` equals `id` still exists.
    pub async fn exists<T>(&self, table: &str, pk: &str, id: T) -> bool
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    {
        sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM {table} WHERE {pk} = $1)"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}
