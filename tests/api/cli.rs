//! The binary: exit statuses and messages an operator sees.

use std::process::Command;

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
fn check_config_refuses_the_example_until_its_placeholders_are_filled() {
    // Arrange: the shipped example, as is and as an operator fills it.
    let dir = std::env::temp_dir().join(format!("mab-cli-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = std::fs::read_to_string("config/example.toml").unwrap();
    let filled = dir.join("filled.toml");
    std::fs::write(&filled, crate::config_file::filled_example(&example)).unwrap();
    let check = |path: &std::path::Path, key: Option<&str>| {
        let mut command = bridge();
        command
            .args(["check-config", "--config"])
            .arg(path)
            .env_remove("MCP_AUTH_BRIDGE__CRYPTO__KEYS__K1");
        if let Some(key) = key {
            command.env("MCP_AUTH_BRIDGE__CRYPTO__KEYS__K1", key);
        }
        command.output().unwrap()
    };

    // Act
    let shipped = check(std::path::Path::new("config/example.toml"), None);
    let without_key = check(&filled, None);
    let complete = check(&filled, Some(crate::helpers::TEST_SEALING_KEY));

    // Assert
    let stderr = String::from_utf8_lossy(&shipped.stderr);
    assert_eq!(shipped.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("admin.tokens[0].sha256"), "{stderr}");
    assert!(stderr.contains("client_secret"), "{stderr}");
    let stderr = String::from_utf8_lossy(&without_key.stderr);
    assert_eq!(without_key.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("crypto.keys"), "{stderr}");
    assert!(
        complete.status.success(),
        "{}",
        String::from_utf8_lossy(&complete.stderr)
    );
}
