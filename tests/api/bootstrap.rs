//! Configured tenants are upserted idempotently and follow changes to the file.

use mcp_auth_bridge::{bootstrap, crypto::Sealer};
use sqlx::PgPool;

use crate::app_support::test_config;

const TENANT: &str = r#"
[[tenants]]
slug = "acme"
display_name = "ACME"
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "https://sso.example.com/realms/acme"
client_id = "bridge"
client_secret = "canary-provider-secret"
[[tenants.mcp_servers]]
name = "tools"
url = "http://127.0.0.1:9000/mcp"
[[tenants.mcp_servers]]
name = "files"
url = "http://127.0.0.1:9001/mcp"
"#;

fn sealer() -> Sealer {
    let config = test_config("");
    config.crypto.sealer(false).unwrap().0
}

#[sqlx::test]
async fn applying_the_same_configuration_twice_changes_nothing_the_second_time(pool: PgPool) {
    let config = test_config(TENANT);
    let first = bootstrap::apply_config_tenants(&pool, &config, &sealer())
        .await
        .unwrap();
    let audit_after_first: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    let second = bootstrap::apply_config_tenants(&pool, &config, &sealer())
        .await
        .unwrap();
    let audit_after_second: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&pool)
        .await
        .unwrap();

    assert_eq!(
        (first.inserted, first.updated, first.keys_created),
        (4, 0, 1)
    );
    assert_eq!(
        (
            second.inserted,
            second.updated,
            second.unchanged,
            second.keys_created
        ),
        (0, 0, 4, 0)
    );
    assert_eq!(audit_after_first, 4);
    assert_eq!(
        audit_after_second, audit_after_first,
        "an unchanged file writes no audit entry"
    );
}

#[sqlx::test]
async fn a_changed_configuration_updates_what_changed_and_prunes_what_it_dropped(pool: PgPool) {
    bootstrap::apply_config_tenants(&pool, &test_config(TENANT), &sealer())
        .await
        .unwrap();
    let changed = TENANT
        .replace("display_name = \"ACME\"", "display_name = \"ACME Corp\"")
        .replace(
            "[[tenants.mcp_servers]]\nname = \"files\"\nurl = \"http://127.0.0.1:9001/mcp\"\n",
            "",
        );

    let report = bootstrap::apply_config_tenants(&pool, &test_config(&changed), &sealer())
        .await
        .unwrap();

    assert_eq!((report.inserted, report.updated, report.pruned), (0, 1, 1));
    let name: String = sqlx::query_scalar("SELECT display_name FROM tenants WHERE slug = 'acme'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let servers: Vec<String> = sqlx::query_scalar("SELECT name FROM mcp_servers")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(name, "ACME Corp");
    assert_eq!(servers, vec!["tools".to_string()]);
}

#[sqlx::test]
async fn a_changed_provider_secret_is_resealed_and_an_unchanged_one_is_not(pool: PgPool) {
    bootstrap::apply_config_tenants(&pool, &test_config(TENANT), &sealer())
        .await
        .unwrap();
    let stored = || async {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT client_secret FROM upstream_providers")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before = stored().await;
    bootstrap::apply_config_tenants(&pool, &test_config(TENANT), &sealer())
        .await
        .unwrap();
    assert_eq!(stored().await, before, "same secret, same ciphertext");

    let changed = TENANT.replace("canary-provider-secret", "another-provider-secret");
    let report = bootstrap::apply_config_tenants(&pool, &test_config(&changed), &sealer())
        .await
        .unwrap();
    assert_eq!(report.updated, 1);
    assert_ne!(stored().await, before);
}

#[sqlx::test]
async fn provider_secrets_and_private_keys_are_sealed_at_rest(pool: PgPool) {
    bootstrap::apply_config_tenants(&pool, &test_config(TENANT), &sealer())
        .await
        .unwrap();
    let (secret, key_id): (Vec<u8>, String) =
        sqlx::query_as("SELECT client_secret, client_secret_key_id FROM upstream_providers")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(key_id, "test");
    assert!(!secret.windows(6).any(|w| w == b"canary"));
    let private_key_key_id: String =
        sqlx::query_scalar("SELECT private_key_key_id FROM signing_keys")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(private_key_key_id, "test");
}

#[sqlx::test]
async fn a_tenant_removed_from_the_file_is_kept_with_its_data(pool: PgPool) {
    bootstrap::apply_config_tenants(&pool, &test_config(TENANT), &sealer())
        .await
        .unwrap();
    bootstrap::apply_config_tenants(&pool, &test_config(""), &sealer())
        .await
        .unwrap();
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tenants, 1);
}
