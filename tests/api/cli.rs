//! The binary: exit statuses and messages an operator sees.

use std::{path::Path, process::Command, time::Duration};

use sqlx::PgPool;

use crate::{
    config_file::{Filled, filled_example, secrets_dir, write_example_secrets},
    support::bridge_process::{BridgeProcess, database_url_for},
};

fn bridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcp-auth-bridge"))
}

#[test]
fn an_invalid_configuration_exits_with_status_2_and_one_clear_message() {
    let dir = std::env::temp_dir().join(format!("mab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "dev_mode = true\npublic_url = \"http://127.0.0.1:1\"\n[database]\nurl = \"postgres://x@127.0.0.1/x\"\n[auth]\ncache_ttl = \"0s\"\n",
    )
    .unwrap();
    let out = bridge()
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("auth.cache_ttl: must be > 0"), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn serve_with_an_invalid_configuration_exits_with_status_2_before_touching_anything() {
    let out = bridge()
        .args(["serve"])
        .env("MCP_AUTH_BRIDGE__PUBLIC_URL", "http://127.0.0.1:1")
        .env("MCP_AUTH_BRIDGE__DATABASE__URL", "mysql://nope")
        .env("MCP_AUTH_BRIDGE__DEV_MODE", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("database.url"), "{stderr}");
}

#[test]
fn a_missing_configuration_file_is_a_clear_error() {
    let out = bridge()
        .args(["check-config", "--config", "/nonexistent/bridge.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("/nonexistent/bridge.toml"), "{stderr}");
}

#[test]
fn version_prints_the_crate_version() {
    let out = bridge().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn check_config_prints_the_effective_configuration_without_secrets() {
    let out = bridge()
        .args(["check-config", "--config", "config/dev.toml"])
        .env(
            "MCP_AUTH_BRIDGE__DATABASE__URL",
            "postgres://u:canary-db-password@127.0.0.1/x",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("slug = \"demo\""), "{stdout}");
    assert!(!stdout.contains("canary-db-password"), "{stdout}");
}

#[test]
fn check_config_refuses_the_example_until_its_secret_files_are_mounted() {
    // Arrange: the shipped example, and as an operator fills it (its secret files mounted).
    let dir = secrets_dir("cli-example");
    let example = std::fs::read_to_string("config/example.toml").unwrap();
    let filled = dir.join("filled.toml");
    std::fs::write(&filled, filled_example(&example, &dir)).unwrap();
    let check = |path: &Path| {
        bridge()
            .args(["check-config", "--config"])
            .arg(path)
            .env_remove("MCP_AUTH_BRIDGE__CRYPTO__KEYS__K1")
            .env_remove("MCP_AUTH_BRIDGE__DATABASE__URL")
            .output()
            .unwrap()
    };

    // Act
    let shipped = check(Path::new("config/example.toml"));
    write_example_secrets(&dir, Filled::Real);
    std::fs::remove_file(dir.join("sealing-key-k1")).unwrap();
    let without_key = check(&filled);
    write_example_secrets(&dir, Filled::Real);
    let complete = check(&filled);

    // Assert
    let stderr = String::from_utf8_lossy(&shipped.stderr);
    assert_eq!(shipped.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("database.url_file: cannot read"),
        "{stderr}"
    );
    assert!(
        stderr.contains("client_secret_file: cannot read"),
        "{stderr}"
    );
    let stderr = String::from_utf8_lossy(&without_key.stderr);
    assert_eq!(without_key.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("crypto.keys_file.k1: cannot read"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&complete.stdout);
    assert!(
        complete.status.success(),
        "{}",
        String::from_utf8_lossy(&complete.stderr)
    );
    let database_url = format!(
        "\"<redacted: file {}>\"",
        dir.join("database-url").display()
    );
    assert!(stdout.contains(&database_url), "{stdout}");
    assert!(!stdout.contains("bridge:pw@"), "{stdout}");
}

#[test]
fn check_config_shows_where_each_secret_came_from_and_never_the_value() {
    // Arrange: the database URL from a variable, the sealing key from a file, a client secret
    // inline.
    let dir = secrets_dir("cli-sources");
    let key_file = dir.join("k1");
    std::fs::write(
        &key_file,
        format!("{}\n", crate::app_support::TEST_SEALING_KEY),
    )
    .unwrap();
    let config = dir.join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            r#"
dev_mode = true
public_url = "http://127.0.0.1:8080"
[database]
url_env = "BRIDGE_TEST_DATABASE_URL"
[crypto.keys_file]
k1 = "{}"
[[tenants]]
slug = "acme"
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "https://sso.example.com/realms/acme"
client_id = "bridge"
client_secret = "canary-inline-client-secret"
"#,
            key_file.display()
        ),
    )
    .unwrap();

    // Act
    let out = bridge()
        .args(["check-config", "--config"])
        .arg(&config)
        .env(
            "BRIDGE_TEST_DATABASE_URL",
            "postgres://u:canary-db-password@127.0.0.1/x",
        )
        .env_remove("MCP_AUTH_BRIDGE__DATABASE__URL")
        .env_remove("MCP_AUTH_BRIDGE__CRYPTO__KEYS__K1")
        .output()
        .unwrap();

    // Assert
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for shown in [
        "url = \"<redacted: env BRIDGE_TEST_DATABASE_URL>\"".to_string(),
        format!("k1 = \"<redacted: file {}>\"", key_file.display()),
        "client_secret = \"<redacted: inline>\"".to_string(),
    ] {
        assert!(stdout.contains(&shown), "{shown} missing from:\n{stdout}");
    }
    for value in [
        "canary-db-password",
        "canary-inline-client-secret",
        crate::app_support::TEST_SEALING_KEY,
    ] {
        assert!(!stdout.contains(value), "{value} printed:\n{stdout}");
    }
}

#[sqlx::test]
async fn serve_runs_with_its_database_url_read_from_a_file(pool: PgPool) {
    // Arrange: the URL of this test's database mounted as a file, as Kubernetes does.
    let dir = secrets_dir("cli-serve");
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let url_file = dir.join("database-url");
    std::fs::write(
        &url_file,
        format!("{}\n", database_url_for(&database, None)),
    )
    .unwrap();
    let port = BridgeProcess::free_port();
    let toml = format!(
        "dev_mode = true\npublic_url = \"http://127.0.0.1:{port}\"\n[server]\n\
         bind = \"127.0.0.1:{port}\"\n[database]\nurl_file = \"{}\"\n",
        url_file.display()
    );

    // Act: `serve` becomes ready, which needs the database.
    let bridge = BridgeProcess::start(port, &toml, &[], Duration::from_secs(30)).await;

    // Assert
    let ready = reqwest::get(bridge.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200, "{}", bridge.output());
}
