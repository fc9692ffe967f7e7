//! Many users at once: `n` more grants and access tokens, cloned in SQL from the one the login
//! produced (same tenant, provider, client, MCP server, scopes, expiry), each grant with its own
//! id and its upstream access token sealed under that id (the AAD binds a sealed token to its
//! grant), and each access token a JWT signed with the tenant's key, as `/token` would sign it.

use anyhow::Context;
use chrono::Utc;
use mcp_auth_bridge::{
    store,
    tokens::{AccessClaims, access},
};
use uuid::Uuid;

use crate::setup::World;

/// Rows per `INSERT … SELECT … FROM unnest(…)`.
const BATCH: usize = 5_000;

/// The claims of `token` (verified as the gateway would) and its grant.
pub async fn claims_of(world: &World, token: &str) -> anyhow::Result<(AccessClaims, Uuid)> {
    let issuer = world.state.issuer(crate::setup::TENANT);
    let claims = access::verify(
        &world.state.keys,
        world.tenant_id,
        &issuer,
        token,
        Utc::now(),
        60,
    )
    .await?;
    let grant: Uuid = sqlx::query_scalar("SELECT grant_id FROM access_tokens WHERE jti = $1")
        .bind(claims.jti)
        .fetch_one(&world.pool)
        .await?;
    Ok((claims, grant))
}

/// Inserts `n` grants with one access token each; returns the tokens (signed JWTs).
pub async fn populate(
    world: &World,
    template: &AccessClaims,
    template_grant: Uuid,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let sealer = &world.state.sealer;
    let (upstream_token, _) =
        store::grants::upstream_access_token(&world.pool, sealer, template_grant)
            .await?
            .context("the login's grant has no upstream token")?;
    let signer = world.state.keys.signer(world.tenant_id).await?;
    let mut tokens = Vec::with_capacity(n);
    let mut done = 0;
    while done < n {
        let size = BATCH.min(n - done);
        let grants: Vec<Uuid> = (0..size).map(|_| Uuid::new_v4()).collect();
        let jtis: Vec<Uuid> = (0..size).map(|_| Uuid::new_v4()).collect();
        let mut blobs = Vec::with_capacity(size);
        let mut key_id = String::new();
        for g in &grants {
            let sealed = sealer.seal_str(&upstream_token, &store::grants::aad(*g, "access"));
            key_id = sealed.key_id;
            blobs.push(sealed.blob);
        }
        let mut tx = world.pool.begin().await?;
        sqlx::query(
            "INSERT INTO grants (id, tenant_id, provider_id, client_pk, subject, user_context,
                 upstream_access_token, upstream_access_key_id, upstream_access_expires_at,
                 upstream_scopes, upstream_extra)
             SELECT u.id, g.tenant_id, g.provider_id, g.client_pk, g.subject || '-' || u.n,
                 g.user_context, u.blob, $3, g.upstream_access_expires_at, g.upstream_scopes,
                 g.upstream_extra
             FROM grants g, unnest($1::uuid[], $2::bytea[]) WITH ORDINALITY AS u(id, blob, n)
             WHERE g.id = $4",
        )
        .bind(&grants)
        .bind(&blobs)
        .bind(&key_id)
        .bind(template_grant)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO access_tokens (jti, tenant_id, grant_id, client_pk, family_id,
                 mcp_server_id, subject, audience, scopes, issued_at, expires_at)
             SELECT u.jti, a.tenant_id, u.grant_id, a.client_pk, NULL, a.mcp_server_id,
                 a.subject, a.audience, a.scopes, a.issued_at, a.expires_at
             FROM access_tokens a, unnest($1::uuid[], $2::uuid[]) AS u(jti, grant_id)
             WHERE a.jti = $3",
        )
        .bind(&jtis)
        .bind(&grants)
        .bind(template.jti)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        for jti in jtis {
            let claims = AccessClaims {
                jti,
                ..template.clone()
            };
            tokens.push(access::sign(&signer, &claims)?);
        }
        done += size;
    }
    sqlx::query("ANALYZE grants, access_tokens")
        .execute(&world.pool)
        .await?;
    Ok(tokens)
}
