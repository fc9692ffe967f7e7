//! Configuration: the shipped files load, every kind of invalid input names its key, the
//! environment overrides the file, and the committed JSON Schema is current.

use mcp_auth_bridge::config::{Config, ConfigError, ENV_PREFIX};

const MINIMAL: &str = r#"
dev_mode = true
public_url = "http://127.0.0.1:8080"
[database]
url = "postgres://postgres@127.0.0.1:5432/x"
"#;

fn problems(toml: &str, env: &[(&str, &str)]) -> String {
    match Config::load_str(toml, env) {
        Ok(_) => panic!("expected the configuration to be rejected"),
        Err(e @ ConfigError::Invalid(_)) => e.to_string(),
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

#[test]
fn the_shipped_dev_configuration_is_valid() {
    let text = std::fs::read_to_string("config/dev.toml").unwrap();
    Config::load_str(&text, &[]).unwrap_or_else(|e| panic!("config/dev.toml: {e}"));
}

/// A production configuration as an operator would write it: MINIMAL outside dev mode, on
/// https, with a random sealing key.
fn production(extra: &str) -> String {
    format!(
        "{}\n[crypto.keys]\nk = \"{}\"\n{extra}",
        MINIMAL
            .replace("dev_mode = true", "dev_mode = false")
            .replace("http://127.0.0.1:8080", "https://auth.example.com"),
        crate::helpers::TEST_SEALING_KEY
    )
}

#[test]
fn the_shipped_example_is_refused_until_its_placeholders_are_filled() {
    // Arrange
    let example = std::fs::read_to_string("config/example.toml").unwrap();

    // Act: only the database URL set, as the review did.
    let err = problems(
        &example,
        &[(
            "MCP_AUTH_BRIDGE__DATABASE__URL",
            "postgres://bridge:pw@127.0.0.1:5432/bridge",
        )],
    );

    // Assert: every placeholder is named.
    for key in [
        "crypto.keys: no sealing key configured",
        "admin.tokens[0].sha256: is a placeholder",
        "tenants[0].providers[0].client_secret: is a placeholder",
        "tenants[0].mcp_servers[0].token_exchange.client_secret: is a placeholder",
    ] {
        assert!(err.contains(key), "{key} missing from:\n{err}");
    }
}

#[test]
fn the_shipped_example_is_valid_once_its_placeholders_are_filled() {
    let example = std::fs::read_to_string("config/example.toml").unwrap();
    let filled = filled_example(&example);
    Config::load_str(
        &filled,
        &[(
            "MCP_AUTH_BRIDGE__CRYPTO__KEYS__K1",
            crate::helpers::TEST_SEALING_KEY,
        )],
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// What an operator does to the example: a real admin hash and real client secrets.
pub fn filled_example(example: &str) -> String {
    let filled = example
        .replace(
            &"0".repeat(64),
            &mcp_auth_bridge::crypto::hash::sha256_hex(b"a-random-admin-token-3f9c1a"),
        )
        .replace("\"change-me-to-16+chars\"", "\"x9F2kq7LmZ4tR8vB1nW6\"")
        .replace(
            "client_secret = \"change-me\"",
            "client_secret = \"Qm7x2Lk9\"",
        );
    assert_ne!(filled, example, "the example's placeholders changed");
    filled
}

#[test]
fn production_mode_refuses_all_zero_patterned_and_published_sealing_keys() {
    for (key, reason) in [
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "not random"),
        ("dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0=", "published"),
        ("YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmU=", "not random"),
    ] {
        let err = problems(
            &production(""),
            &[("MCP_AUTH_BRIDGE__CRYPTO__KEYS__WEAK", key)],
        );
        assert!(
            err.contains("crypto.keys.weak") && err.contains(reason),
            "{key}: {err}"
        );
    }
    Config::load_str(&production(""), &[]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn production_mode_refuses_an_all_zero_or_empty_token_admin_hash() {
    for hash in [
        "0".repeat(64),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
    ] {
        let admin = format!("[[admin.tokens]]\nname = \"ops\"\nsha256 = \"{hash}\"\n");
        let err = problems(&production(&admin), &[]);
        assert!(
            err.contains("admin.tokens[0].sha256: is a placeholder"),
            "{err}"
        );
    }
}

#[test]
fn production_mode_refuses_change_me_client_secrets() {
    let tenant = r#"
[[tenants]]
slug = "acme"
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "https://sso.example.com/realms/acme"
client_id = "bridge"
client_secret = "CHANGE-ME please"
[[tenants.mcp_servers]]
name = "tools"
url = "https://mcp.example.com/mcp"
token_exchange = { client_id = "tools", client_secret = "changeme-changeme-changeme" }
"#;
    let err = problems(&production(tenant), &[]);
    assert!(
        err.contains("tenants[0].providers[0].client_secret: is a placeholder"),
        "{err}"
    );
    assert!(
        err.contains("tenants[0].mcp_servers[0].token_exchange.client_secret: is a placeholder"),
        "{err}"
    );
}

#[test]
fn dev_mode_facing_a_network_is_refused() {
    let public = MINIMAL.replace("http://127.0.0.1:8080", "https://auth.example.com");
    let err = problems(&public, &[]);
    assert!(
        err.contains("dev_mode: is only for a loopback public_url"),
        "{err}"
    );

    let bound = format!("{MINIMAL}[server]\nbind = \"0.0.0.0:8080\"\n");
    let err = problems(&bound, &[]);
    assert!(
        err.contains("dev_mode: is only for a loopback server.bind"),
        "{err}"
    );
}

#[test]
fn defaults_match_what_the_issue_promises() {
    let config = Config::load_str(MINIMAL, &[]).unwrap();
    assert_eq!(config.auth.cache_ttl.get().as_secs(), 300);
    assert_eq!(config.auth.cleanup_interval.get().as_secs(), 300);
    assert_eq!(config.auth.authorization_code_ttl.get().as_secs(), 300);
    assert_eq!(config.auth.pending_authorization_ttl.get().as_secs(), 600);
    assert_eq!(config.auth.access_token_ttl.get().as_secs(), 30 * 86_400);
    assert_eq!(config.auth.refresh_token_ttl.get().as_secs(), 90 * 86_400);
}

#[test]
fn a_zero_cache_ttl_is_rejected_naming_the_key() {
    let err = problems(&format!("{MINIMAL}[auth]\ncache_ttl = \"0s\"\n"), &[]);
    assert!(err.contains("auth.cache_ttl: must be > 0"), "{err}");
}

#[test]
fn an_unknown_key_is_rejected_naming_it() {
    let err = problems(&format!("{MINIMAL}[auth]\ncache_tll = \"5m\"\n"), &[]);
    assert!(err.contains("cache_tll"), "{err}");
}

#[test]
fn a_value_of_the_wrong_type_is_rejected_naming_the_key() {
    let err = problems(
        &format!("{MINIMAL}[auth]\ncache_capacity = \"lots\"\n"),
        &[],
    );
    assert!(err.contains("auth.cache_capacity"), "{err}");
}

#[test]
fn a_bad_duration_is_rejected_with_the_expected_form() {
    let err = problems(&format!("{MINIMAL}[auth]\ncache_ttl = \"soon\"\n"), &[]);
    assert!(
        err.contains("auth.cache_ttl") && err.contains("\"300s\""),
        "{err}"
    );
}

#[test]
fn without_a_sealing_key_only_dev_mode_may_start() {
    let prod = MINIMAL.replace("dev_mode = true", "dev_mode = false");
    let err = problems(&prod, &[]);
    assert!(
        err.contains("crypto.keys: no sealing key configured"),
        "{err}"
    );
}

#[test]
fn a_missing_required_secret_is_named() {
    let toml = format!(
        r#"{MINIMAL}
[[tenants]]
slug = "acme"
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "https://sso.example.com/realms/acme"
client_id = "bridge"
"#
    );
    let err = problems(&toml, &[]);
    assert!(
        err.contains("tenants[0].providers[0].client_secret: is required"),
        "{err}"
    );
}

#[test]
fn a_missing_database_url_is_named() {
    let err = problems(
        "dev_mode = true\npublic_url = \"http://127.0.0.1:1\"\n",
        &[],
    );
    assert!(err.contains("database"), "{err}");
}

#[test]
fn an_invalid_tenant_slug_is_rejected() {
    let err = problems(
        &format!("{MINIMAL}[[tenants]]\nslug = \"Not_Valid\"\n"),
        &[],
    );
    assert!(
        err.contains("tenants") && err.contains("lowercase"),
        "{err}"
    );
}

#[test]
fn the_dev_provider_is_refused_outside_dev_mode() {
    let toml = format!(
        "{}\n[crypto.keys]\nk = \"{}\"\n[[tenants]]\nslug = \"a\"\n[[tenants.providers]]\nname = \"dev\"\nkind = \"dev\"\n",
        MINIMAL.replace("dev_mode = true", "dev_mode = false"),
        crate::helpers::TEST_SEALING_KEY
    );
    let err = problems(&toml, &[]);
    assert!(
        err.contains("tenants[0].providers[0].kind: the dev provider needs dev_mode = true"),
        "{err}"
    );
}

#[test]
fn several_problems_are_reported_together() {
    let err = problems(
        &format!("{MINIMAL}[auth]\ncache_ttl = \"0s\"\naccess_token_ttl = \"0s\"\n"),
        &[],
    );
    assert!(
        err.contains("auth.cache_ttl") && err.contains("auth.access_token_ttl"),
        "{err}"
    );
}

#[test]
fn environment_variables_override_the_file() {
    let config = Config::load_str(
        MINIMAL,
        &[
            (
                "MCP_AUTH_BRIDGE__DATABASE__URL",
                "postgres://other@127.0.0.1:5432/y",
            ),
            ("MCP_AUTH_BRIDGE__AUTH__CACHE_TTL", "10m"),
            (
                "MCP_AUTH_BRIDGE__CRYPTO__KEYS__K9",
                crate::helpers::TEST_SEALING_KEY,
            ),
        ],
    )
    .unwrap();
    assert_eq!(
        config.database.url.expose(),
        "postgres://other@127.0.0.1:5432/y"
    );
    assert_eq!(config.auth.cache_ttl.get().as_secs(), 600);
    assert!(config.crypto.keys.contains_key("k9"));
    assert!(ENV_PREFIX.ends_with("__"));
}

#[test]
fn an_environment_override_is_validated_like_the_file() {
    let err = problems(MINIMAL, &[("MCP_AUTH_BRIDGE__AUTH__CACHE_TTL", "0s")]);
    assert!(err.contains("auth.cache_ttl: must be > 0"), "{err}");
}

#[test]
fn the_printed_configuration_redacts_every_secret() {
    let toml = format!(
        r#"{MINIMAL}
[crypto.keys]
k1 = "{}"
[[tenants]]
slug = "acme"
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "https://sso.example.com/realms/acme"
client_id = "bridge"
client_secret = "canary-client-secret"
"#,
        crate::helpers::TEST_SEALING_KEY
    );
    let printed = Config::load_str(&toml, &[]).unwrap().to_redacted_toml();
    assert!(!printed.contains("canary-client-secret"), "{printed}");
    assert!(
        !printed.contains(crate::helpers::TEST_SEALING_KEY),
        "{printed}"
    );
    assert!(!printed.contains("postgres://"), "{printed}");
    assert!(printed.contains("[redacted]"));
}

#[test]
fn the_committed_json_schema_is_current() {
    let committed = std::fs::read_to_string("config/schema.json").unwrap_or_default();
    let generated = mcp_auth_bridge::config::json_schema();
    assert!(
        committed == generated,
        "config/schema.json is stale: run `cargo run -- config-schema > config/schema.json`"
    );
}
