//! Configuration: the shipped files load, every kind of invalid input names its key, the
//! environment overrides the file, and the committed JSON Schema is current.

use mcp_auth_bridge::{
    config::{Config, ConfigError, ENV_PREFIX},
    domain::SecretSource,
};

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
        crate::app_support::TEST_SEALING_KEY
    )
}

#[test]
fn the_shipped_example_is_refused_until_its_secret_files_exist_naming_each_key() {
    // Arrange
    let example = std::fs::read_to_string("config/example.toml").unwrap();
    let dir = secrets_dir("example-missing");

    // Act: the example as shipped (nothing mounted), and with its files pointed at an empty
    // directory.
    let shipped = problems(&example, &[]);
    let pointed = problems(&filled_example(&example, &dir), &[]);

    // Assert: every secret file is named by its key.
    for err in [shipped, pointed] {
        for key in [
            "database.url_file: cannot read",
            "crypto.keys_file.k1: cannot read",
            "tenants[0].providers[0].client_secret_file: cannot read",
            "tenants[0].mcp_servers[0].token_exchange.client_secret_file: cannot read",
        ] {
            assert!(err.contains(key), "{key} missing from:\n{err}");
        }
    }
}

#[test]
fn the_shipped_example_is_refused_while_its_secrets_are_placeholders() {
    // Arrange: the files mounted, but holding the placeholders an operator forgot to replace.
    let example = std::fs::read_to_string("config/example.toml").unwrap();
    let dir = secrets_dir("example-placeholders");
    write_example_secrets(&dir, Filled::Placeholders);

    // Act
    let err = problems(
        &filled_example(&example, &dir).replace(ADMIN_HASH_FILLED.as_str(), &"0".repeat(64)),
        &[],
    );

    // Assert: the production checks see the values read from the files.
    for key in [
        "crypto.keys.k1: is not random",
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
    let dir = secrets_dir("example-filled");
    write_example_secrets(&dir, Filled::Real);
    let config =
        Config::load_str(&filled_example(&example, &dir), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.database.url.expose(),
        "postgres://bridge:pw@127.0.0.1:5432/bridge"
    );
}

/// A directory of its own for one test's secret files.
pub fn secrets_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mab-secrets-{}-{name}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the example's secret files hold.
#[derive(Clone, Copy)]
pub enum Filled {
    Real,
    Placeholders,
}

/// Mounts the example's secret files in `dir` (each with the trailing newline `echo` adds).
pub fn write_example_secrets(dir: &std::path::Path, filled: Filled) {
    let files = [
        (
            "database-url",
            "postgres://bridge:pw@127.0.0.1:5432/bridge",
            "postgres://bridge:change-me@127.0.0.1:5432/bridge",
        ),
        (
            "sealing-key-k1",
            crate::app_support::TEST_SEALING_KEY,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
        ("keycloak-client-secret", "Qm7x2Lk9", "change-me"),
        (
            "tools-token-exchange-secret",
            "x9F2kq7LmZ4tR8vB1nW6",
            "change-me-to-16+chars",
        ),
    ];
    for (name, real, placeholder) in files {
        let value = match filled {
            Filled::Real => real,
            Filled::Placeholders => placeholder,
        };
        std::fs::write(dir.join(name), format!("{value}\n")).unwrap();
    }
}

static ADMIN_HASH_FILLED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    mcp_auth_bridge::crypto::hash::sha256_hex(b"a-random-admin-token-3f9c1a")
});

/// What an operator does to the example: secrets mounted in `dir`, a real admin hash.
pub fn filled_example(example: &str, dir: &std::path::Path) -> String {
    let filled = example
        .replace(&"0".repeat(64), &ADMIN_HASH_FILLED)
        .replace("\"/run/secrets/", &format!("\"{}/", dir.display()));
    let mounted = filled
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains(&*dir.display().to_string()))
        .count();
    assert_eq!(mounted, 4, "the example's secret files changed");
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
        crate::app_support::TEST_SEALING_KEY
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
                crate::app_support::TEST_SEALING_KEY,
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
        crate::app_support::TEST_SEALING_KEY
    );
    let printed = Config::load_str(&toml, &[]).unwrap().to_redacted_toml();
    assert!(!printed.contains("canary-client-secret"), "{printed}");
    assert!(
        !printed.contains(crate::app_support::TEST_SEALING_KEY),
        "{printed}"
    );
    assert!(!printed.contains("postgres://"), "{printed}");
    assert!(printed.contains("\"<redacted: inline>\""), "{printed}");
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

// ---------------------------------------------------------------------------------------------
// Secrets from files and environment variables (issue 15, item 2)
// ---------------------------------------------------------------------------------------------

/// Every kind of secret in the form `suffix` (`_file` or `_env`), `reference` naming the file
/// or variable that holds each (`db`, `k1`, `admin`, `provider`, `exchange`).
fn every_secret_kind(suffix: &str, reference: impl Fn(&str) -> String) -> String {
    format!(
        r#"
dev_mode = false
public_url = "https://auth.example.com"
[database]
url{suffix} = "{}"
[crypto.keys{suffix}]
k1 = "{}"
[[admin.tokens]]
name = "ops"
sha256{suffix} = "{}"
[[tenants]]
slug = "acme"
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "https://sso.example.com/realms/acme"
client_id = "bridge"
client_secret{suffix} = "{}"
[[tenants.mcp_servers]]
name = "tools"
url = "https://tools.example.com/mcp"
token_exchange = {{ client_id = "tools", client_secret{suffix} = "{}" }}
"#,
        reference("db"),
        reference("k1"),
        reference("admin"),
        reference("provider"),
        reference("exchange"),
    )
}

const DB_URL: &str = "postgres://bridge:canary-db-pw@127.0.0.1:5432/bridge";
const PROVIDER_SECRET: &str = "canary-provider-secret";
const EXCHANGE_SECRET: &str = "canary-exchange-secret-0123";

fn admin_hash() -> String {
    mcp_auth_bridge::crypto::hash::sha256_hex(b"canary-admin-token")
}

/// The value each name of `every_secret_kind` stands for.
fn secret_value(name: &str) -> String {
    match name {
        "db" => DB_URL.into(),
        "k1" => crate::app_support::TEST_SEALING_KEY.into(),
        "admin" => admin_hash(),
        "provider" => PROVIDER_SECRET.into(),
        _ => EXCHANGE_SECRET.into(),
    }
}

fn assert_every_secret_read(config: &Config, source: impl Fn(&str) -> SecretSource) {
    let provider = &config.tenants[0].providers[0];
    let exchange = config.tenants[0].mcp_servers[0].token_exchange.as_ref();
    let exchange = exchange.unwrap();
    assert_eq!(config.database.url.expose(), DB_URL);
    assert_eq!(config.database.url.source(), &source("db"));
    let k1 = &config.crypto.keys["k1"];
    assert_eq!(k1.expose(), crate::app_support::TEST_SEALING_KEY);
    assert_eq!(k1.source(), &source("k1"));
    assert_eq!(config.admin.tokens[0].sha256, admin_hash());
    let secret = provider.client_secret.as_ref().unwrap();
    assert_eq!(secret.expose(), PROVIDER_SECRET);
    assert_eq!(secret.source(), &source("provider"));
    assert_eq!(exchange.client_secret.expose(), EXCHANGE_SECRET);
    assert_eq!(exchange.client_secret.source(), &source("exchange"));
}

#[test]
fn every_kind_of_secret_is_read_from_a_file_with_its_trailing_newline_trimmed() {
    // Arrange: one file per secret, as Kubernetes mounts them (with a trailing newline).
    let dir = secrets_dir("every-file");
    let path = |name: &str| dir.join(name).display().to_string();
    for name in ["db", "k1", "admin", "provider", "exchange"] {
        std::fs::write(path(name), format!("{}\n", secret_value(name))).unwrap();
    }
    let toml = every_secret_kind("_file", path);

    // Act
    let config = Config::load_str(&toml, &[]).unwrap_or_else(|e| panic!("{e}\n{toml}"));

    // Assert
    assert_every_secret_read(&config, |name| SecretSource::File(path(name)));
}

#[test]
fn every_kind_of_secret_is_read_from_an_environment_variable() {
    // Arrange
    let var = |name: &str| format!("BRIDGE_TEST_{}", name.to_ascii_uppercase());
    let toml = every_secret_kind("_env", var);
    let vars: Vec<(String, String)> = ["db", "k1", "admin", "provider", "exchange"]
        .iter()
        .map(|name| (var(name), secret_value(name)))
        .collect();
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // Act
    let config = Config::load_str(&toml, &env).unwrap_or_else(|e| panic!("{e}\n{toml}"));

    // Assert
    assert_every_secret_read(&config, |name| SecretSource::Env(var(name)));
}

#[test]
fn a_sealing_key_file_can_be_named_by_an_environment_override() {
    let dir = secrets_dir("key-override");
    let path = dir.join("k1").display().to_string();
    std::fs::write(&path, crate::app_support::TEST_SEALING_KEY).unwrap();
    let toml = production("").replace(
        &format!(
            "[crypto.keys]\nk = \"{}\"",
            crate::app_support::TEST_SEALING_KEY
        ),
        "",
    );

    let config = Config::load_str(&toml, &[("MCP_AUTH_BRIDGE__CRYPTO__KEYS_FILE__K1", &path)])
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(config.crypto.keys["k1"].source(), &SecretSource::File(path));
}

#[test]
fn two_sources_for_one_secret_are_refused_naming_the_key() {
    let dir = secrets_dir("two-sources");
    let path = dir.join("secret").display().to_string();
    std::fs::write(&path, "a-secret-from-a-file-0123").unwrap();
    let env = [("SECRET", "a-secret-from-the-env-0123")];
    let cases = [
        (
            format!("{MINIMAL}url_file = \"{path}\"\n"),
            "database.url: has more than one source (url, url_file)",
        ),
        (
            format!("[crypto.keys_file]\nk = \"{path}\"\n[crypto.keys_env]\nk = \"SECRET\"\n"),
            "crypto.keys.k: has more than one source",
        ),
        (
            format!(
                "[[tenants]]\nslug = \"acme\"\n[[tenants.providers]]\nname = \"kc\"\n\
                 kind = \"keycloak\"\nissuer = \"https://sso.example.com/realms/acme\"\n\
                 client_id = \"b\"\nclient_secret_file = \"{path}\"\nclient_secret_env = \"SECRET\"\n"
            ),
            "tenants[0].providers[0].client_secret: has more than one source \
             (client_secret_file, client_secret_env)",
        ),
    ];
    for (extra, expected) in cases {
        let toml = if extra.starts_with(MINIMAL) {
            extra
        } else {
            production(&extra)
        };
        let err = problems(&toml, &env);
        assert!(err.contains(expected), "{expected} missing from:\n{err}");
        assert!(!err.contains("a-secret-from"), "a value leaked: {err}");
    }

    // An override in another form than the file's is two sources too, not a silent winner.
    let toml = MINIMAL.replace("url = ", "url_file = \"/run/x\"\n# ");
    let err = problems(&toml, &[("MCP_AUTH_BRIDGE__DATABASE__URL", DB_URL)]);
    assert!(
        err.contains("database.url: has more than one source"),
        "{err}"
    );
}

#[test]
fn a_missing_unreadable_or_empty_file_and_an_unset_variable_are_named_by_their_key() {
    // Arrange
    let dir = secrets_dir("missing");
    let empty = dir.join("empty").display().to_string();
    std::fs::write(&empty, "\n").unwrap();
    let missing = dir.join("absent").display().to_string();
    let directory = dir.display().to_string();
    let provider = |i: usize, form: &str| {
        format!(
            "[[tenants.providers]]\nname = \"p{i}\"\nkind = \"keycloak\"\n\
             issuer = \"https://sso.example.com/realms/acme\"\nclient_id = \"b\"\n{form}\n"
        )
    };
    let toml = production(&format!(
        "[[tenants]]\nslug = \"acme\"\n{}{}{}{}",
        provider(0, &format!("client_secret_file = \"{missing}\"")),
        provider(1, &format!("client_secret_file = \"{empty}\"")),
        provider(2, &format!("client_secret_file = \"{directory}\"")),
        provider(3, "client_secret_env = \"BRIDGE_TEST_UNSET_VARIABLE\""),
    ));

    // Act
    let err = problems(&toml, &[]);

    // Assert
    for expected in [
        format!("tenants[0].providers[0].client_secret_file: cannot read {missing}"),
        format!("tenants[0].providers[1].client_secret_file: {empty} is empty"),
        format!("tenants[0].providers[2].client_secret_file: cannot read {directory}"),
        "tenants[0].providers[3].client_secret_env: environment variable \
         BRIDGE_TEST_UNSET_VARIABLE is not set"
            .to_string(),
    ] {
        assert!(err.contains(&expected), "{expected} missing from:\n{err}");
    }
}

#[test]
fn a_change_me_secret_read_from_a_file_is_still_refused_in_production() {
    let dir = secrets_dir("placeholder");
    let path = dir.join("secret").display().to_string();
    std::fs::write(&path, "change-me\n").unwrap();
    let toml = production(&format!(
        "[[tenants]]\nslug = \"acme\"\n[[tenants.providers]]\nname = \"kc\"\n\
         kind = \"keycloak\"\nissuer = \"https://sso.example.com/realms/acme\"\n\
         client_id = \"b\"\nclient_secret_file = \"{path}\"\n"
    ));
    let err = problems(&toml, &[]);
    assert!(
        err.contains("tenants[0].providers[0].client_secret: is a placeholder"),
        "{err}"
    );
}

/// The configuration the Kubernetes base ships (`deploy/kubernetes/configmap.yaml`) is valid in
/// production mode once the Secret's files are mounted with real values: the key names it uses
/// (`url_file`, `[crypto.keys_file]`, `sha256_file`, `client_secret_file`) are the bridge's.
#[test]
fn the_kubernetes_config_map_is_valid_once_its_secret_files_are_mounted() {
    let manifest = std::fs::read_to_string("deploy/kubernetes/configmap.yaml").unwrap();
    let config_map: serde_yaml::Value = serde_yaml::from_str(&manifest).unwrap();
    let toml = config_map["data"]["config.toml"]
        .as_str()
        .expect("config.toml");
    let dir = secrets_dir("kubernetes");
    for (name, value) in [
        ("database-url", "postgres://bridge:pw@127.0.0.1:5432/bridge"),
        ("crypto-key-k1", crate::app_support::TEST_SEALING_KEY),
        ("admin-token-ops-sha256", ADMIN_HASH_FILLED.as_str()),
        ("provider-acme-keycloak-client-secret", "Qm7x2Lk9"),
    ] {
        std::fs::write(dir.join(name), format!("{value}\n")).unwrap();
    }
    let mounted = toml.replace(
        "\"/run/secrets/mcp-auth-bridge/",
        &format!("\"{}/", dir.display()),
    );

    let config = Config::load_str(&mounted, &[]).unwrap_or_else(|e| panic!("{e}\n{mounted}"));

    assert!(!config.dev_mode);
    assert_eq!(
        config.database.url.expose(),
        "postgres://bridge:pw@127.0.0.1:5432/bridge"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
