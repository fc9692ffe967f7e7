//! The deployment files kept honest: `docker-compose.yml`, the `Dockerfile` and the Keycloak realm
//! in `config/keycloak/` are read and checked against the code they deploy, so a renamed
//! configuration key, a typo in an `MCP_AUTH_BRIDGE__*` variable or a realm that no longer
//! matches the bridge's provider fails here instead of in somebody's `docker compose up`.
//!
//! No Docker is needed: the files are parsed, Compose's `${VAR:-default}` interpolation is
//! applied with the defaults, and the bridge's real loader (`Config::load_str`) is run on the
//! result.
//!
//! The tests are here; reading the files is in `compose/*_support.rs`.

mod compose_file_support;
mod deployed_support;
mod dockerfile_support;
mod realm_support;
mod schema_support;

use std::collections::{BTreeMap, BTreeSet};

use mcp_auth_bridge::config::ENV_PREFIX;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use compose_file_support::{
    BRIDGE, COMPOSE_FILE, bind_mounts, compose, depends_on, environment, has_healthcheck,
    healthcheck_test, interpolate, interpolated, normalize, published_ports, read, service,
    service_names, string_list,
};
use deployed_support::{
    bridge_config, is_keycloak, is_loopback, keycloak_providers, provider_urls,
};
use dockerfile_support::{dockerfile, exec_form};
use realm_support::{KEYCLOAK, REALM_DIR, realm_files, resolve_keycloak_placeholders};
use schema_support::{check_env_key, schema};

#[test]
fn every_mcp_auth_bridge_variable_in_compose_and_the_dockerfile_names_a_real_configuration_key() {
    let schema = schema();
    let mut checked = 0;
    let mut problems = Vec::new();
    let image_env = dockerfile().env();
    let compose_env = environment(service(&compose(), BRIDGE));
    for (name, _) in image_env.iter().chain(&compose_env) {
        if name.starts_with(ENV_PREFIX) {
            checked += 1;
            if let Err(e) = check_env_key(&schema, name) {
                problems.push(e);
            }
        }
    }
    assert!(
        problems.is_empty(),
        "configuration variables that configure nothing:\n  {}",
        problems.join("\n  ")
    );
    assert!(
        checked > 0,
        "the bridge service sets no {ENV_PREFIX}* variable"
    );
}

#[test]
fn the_schema_walker_rejects_a_misspelt_key_and_names_the_variable() {
    let schema = schema();
    let err = check_env_key(&schema, "MCP_AUTH_BRIDGE__DATABSE__URL").unwrap_err();
    assert!(err.contains("MCP_AUTH_BRIDGE__DATABSE__URL"), "{err}");
    assert!(err.contains("databse"), "{err}");

    let err = check_env_key(&schema, "MCP_AUTH_BRIDGE__AUTH__CACHE_TTLL").unwrap_err();
    assert!(err.contains("MCP_AUTH_BRIDGE__AUTH__CACHE_TTLL"), "{err}");
}

#[test]
fn the_schema_walker_accepts_real_keys_and_map_entries_but_not_list_elements_or_leaf_children() {
    let schema = schema();
    for ok in [
        "MCP_AUTH_BRIDGE__DATABASE__URL",
        "MCP_AUTH_BRIDGE__PUBLIC_URL",
        "MCP_AUTH_BRIDGE__SERVER__BIND",
        "MCP_AUTH_BRIDGE__AUTH__CACHE_TTL",
        "MCP_AUTH_BRIDGE__CRYPTO__ACTIVE_KEY",
        "MCP_AUTH_BRIDGE__CRYPTO__KEYS__ANY_KEY_ID",
    ] {
        assert_eq!(check_env_key(&schema, ok), Ok(()), "{ok}");
    }
    for bad in [
        // Figment cannot index into TOML arrays: this would replace `tenants` with a map.
        "MCP_AUTH_BRIDGE__TENANTS__0__SLUG",
        // `url` is a string; it has no `scheme` below it.
        "MCP_AUTH_BRIDGE__DATABASE__URL__SCHEME",
        // `crypto.keys.<id>` is a string too.
        "MCP_AUTH_BRIDGE__CRYPTO__KEYS__K1__EXTRA",
        "MCP_AUTH_BRIDGE__",
        "MCP_AUTH_BRIDGE__DATABASE____URL",
    ] {
        let err = check_env_key(&schema, bad).unwrap_err();
        assert!(err.contains(bad), "{err}");
    }
}

#[test]
fn compose_interpolation_uses_defaults_and_refuses_variables_without_one() {
    assert_eq!(interpolate("a${X:-b}c").unwrap(), "abc");
    assert_eq!(interpolate("${X-plain}").unwrap(), "plain");
    assert_eq!(interpolate("${X:-${Y:-nested}}").unwrap(), "nested");
    assert_eq!(interpolate("cost: $$5 ${X:-}").unwrap(), "cost: $5 ");
    assert_eq!(interpolate("no variables").unwrap(), "no variables");
    assert!(interpolate("${REQUIRED}").is_err());
    assert!(interpolate("$BARE").is_err());
    assert!(interpolate("${X:?must be set}").is_err());
    assert!(interpolate("${UNCLOSED:-x").is_err());
}

#[test]
fn the_configuration_the_bridge_runs_with_in_compose_loads() {
    let deployed = bridge_config();
    assert!(
        deployed
            .config
            .tenants
            .iter()
            .any(|t| !t.providers.is_empty()),
        "the compose configuration ({}) declares no tenant with a provider",
        deployed.source
    );
}

#[test]
fn the_bridge_waits_for_a_healthy_postgres_and_every_awaited_service_has_a_healthcheck() {
    let compose = compose();
    let bridge = service(&compose, BRIDGE);
    let depends = bridge
        .get("depends_on")
        .unwrap_or_else(|| panic!("the bridge has no depends_on"));
    let conditions = depends_on(depends);
    assert_eq!(
        conditions.get("postgres").map(String::as_str),
        Some("service_healthy"),
        "the bridge must depend on postgres with `condition: service_healthy` \
         (it migrates the database at start-up); found {conditions:?}"
    );
    assert!(
        conditions.contains_key(KEYCLOAK),
        "the bridge must start after keycloak; found {conditions:?}"
    );
    for (name, condition) in &conditions {
        let target = service(&compose, name);
        if condition == "service_healthy" {
            assert!(
                has_healthcheck(target),
                "the bridge waits for {name} to be healthy, but {name} has no healthcheck"
            );
        }
    }
    let postgres = service(&compose, "postgres");
    let test = healthcheck_test(postgres).expect("postgres needs a healthcheck");
    assert!(
        test.contains("pg_isready"),
        "postgres's healthcheck should use pg_isready: {test}"
    );
    assert!(
        postgres
            .get("volumes")
            .and_then(Yaml::as_sequence)
            .is_some_and(|v| !v.is_empty()),
        "postgres's data should live in a volume"
    );
}

#[test]
fn every_host_the_bridge_configuration_names_is_a_compose_service_or_a_published_port() {
    let compose = compose();
    let deployed = bridge_config();
    let config = &deployed.config;
    let names = service_names(&compose);
    let published = published_ports(&compose);

    let mut urls: Vec<(String, url::Url)> = Vec::new();
    let db = url::Url::parse(config.database.url.expose())
        .unwrap_or_else(|e| panic!("database.url does not parse: {e}"));
    urls.push(("database.url".into(), db));
    urls.push(("public_url".into(), config.public_url.clone()));
    for tenant in &config.tenants {
        let t = tenant.slug.as_str();
        for p in &tenant.providers {
            for (key, url) in provider_urls(p) {
                urls.push((
                    format!("tenant {t}, provider {}: {key}", p.name.as_str()),
                    url,
                ));
            }
        }
        for s in &tenant.mcp_servers {
            urls.push((
                format!("tenant {t}, MCP server {}: url", s.name.as_str()),
                s.url.clone(),
            ));
        }
    }
    assert!(urls.len() > 2, "no tenant URLs to check");

    let mut problems = Vec::new();
    for (what, url) in &urls {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or_default();
        if is_loopback(host) {
            // A browser-facing URL: some service must publish that port on the host.
            if !published.contains_key(&port) {
                problems.push(format!(
                    "{what} = {url}: no service publishes port {port} on the host"
                ));
            }
        } else if !names.contains(host) {
            problems.push(format!(
                "{what} = {url}: {host:?} is not a service of {COMPOSE_FILE} ({names:?})"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The public URL is the bridge's own published port.
    let public_port = config.public_url.port_or_known_default().unwrap_or(80);
    assert_eq!(
        published.get(&public_port).map(String::as_str),
        Some(BRIDGE),
        "public_url {} must be the port the bridge publishes",
        config.public_url
    );
}

#[test]
fn the_keycloak_issuer_is_the_browser_url_on_both_paths() {
    let compose = compose();
    let deployed = bridge_config();
    let keycloak_env: BTreeMap<String, String> =
        interpolated(environment(service(&compose, KEYCLOAK)));
    let frontend = keycloak_env.get("KC_HOSTNAME").expect(
        "keycloak needs KC_HOSTNAME (a full URL) so its issuer does not depend on the caller",
    );
    let frontend = url::Url::parse(frontend)
        .unwrap_or_else(|e| panic!("KC_HOSTNAME must be a full URL (hostname v2): {e}"));
    let published = published_ports(&compose);

    for provider in keycloak_providers(&deployed.config) {
        let issuer = provider
            .issuer
            .as_ref()
            .expect("the keycloak provider needs an issuer");
        assert_eq!(
            (issuer.host_str(), issuer.port_or_known_default()),
            (frontend.host_str(), frontend.port_or_known_default()),
            "the provider's issuer {issuer} must be Keycloak's frontend URL {frontend}: Keycloak \
             puts that into every token's `iss`"
        );
        let port = frontend.port_or_known_default().unwrap_or(80);
        assert_eq!(
            published.get(&port).map(String::as_str),
            Some(KEYCLOAK),
            "KC_HOSTNAME {frontend} must be the port keycloak publishes"
        );
        let authorize = provider.authorization_url.as_ref().expect(
            "set authorization_url: discovery from inside the bridge cannot reach the browser URL",
        );
        assert_eq!(
            authorize.host_str(),
            issuer.host_str(),
            "the browser is sent to authorization_url, so it must be the browser-facing host"
        );
        for (key, url) in [
            ("token_url", &provider.token_url),
            ("userinfo_url", &provider.userinfo_url),
            ("jwks_url", &provider.jwks_url),
        ] {
            let url = url.as_ref().unwrap_or_else(|| {
                panic!(
                    "set {key}: {issuer} is the browser's address and unreachable from the bridge"
                )
            });
            assert_eq!(
                url.host_str(),
                Some(KEYCLOAK),
                "{key} is called by the bridge and must use the compose network name"
            );
            assert!(
                url.path().starts_with(issuer.path()),
                "{key} {url} is not under the realm path of {issuer}"
            );
        }
        assert_eq!(
            keycloak_env
                .get("KC_HOSTNAME_BACKCHANNEL_DYNAMIC")
                .map(String::as_str),
            Some("true"),
            "with the bridge on keycloak:8080 and browsers on {frontend}, back-channel URLs must \
             be dynamic"
        );
    }
}

#[test]
fn the_keycloak_realm_matches_the_bridge_provider_and_is_imported() {
    let compose = compose();
    let deployed = bridge_config();
    let keycloak = service(&compose, KEYCLOAK);

    let command = string_list(keycloak.get("command"));
    assert!(
        command.iter().any(|c| c.contains("--import-realm")),
        "keycloak must run with --import-realm, got {command:?}"
    );
    let mounted = bind_mounts(keycloak);
    assert!(
        mounted
            .iter()
            .any(|(host, target)| normalize(host) == REALM_DIR
                && target.trim_end_matches('/') == "/opt/keycloak/data/import"),
        "keycloak must mount ./{REALM_DIR} at /opt/keycloak/data/import, got {mounted:?}"
    );

    let realms = realm_files();
    assert!(!realms.is_empty(), "no realm JSON in {REALM_DIR}");
    let keycloak_env = interpolated(environment(keycloak));
    let public_url = deployed.config.public_url.as_str().trim_end_matches('/');

    for tenant in &deployed.config.tenants {
        for provider in tenant.providers.iter().filter(|p| is_keycloak(p)) {
            let issuer = provider.issuer.as_ref().expect("issuer");
            let realm_name = issuer
                .path()
                .strip_prefix("/realms/")
                .unwrap_or_else(|| panic!("issuer {issuer} is not a Keycloak realm URL"))
                .trim_end_matches('/');
            let (file, realm) = realms
                .iter()
                .find(|(_, r)| r["realm"] == realm_name)
                .unwrap_or_else(|| panic!("no realm {realm_name:?} in {REALM_DIR}"));
            assert_ne!(realm["enabled"], false, "{file}: realm disabled");

            let client_id = provider.client_id.as_deref().expect("client_id");
            let client = realm["clients"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["clientId"] == client_id)
                .unwrap_or_else(|| panic!("{file}: no client {client_id:?}"));
            let redirect = format!(
                "{public_url}/t/{}/callback/{}",
                tenant.slug.as_str(),
                provider.name.as_str()
            );
            assert!(
                client["redirectUris"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|u| u == redirect.as_str()),
                "{file}: client {client_id} must allow the redirect URI {redirect}"
            );
            assert_eq!(
                client["publicClient"], false,
                "{file}: the client must be confidential"
            );
            assert_eq!(
                client["standardFlowEnabled"], true,
                "{file}: standard flow off"
            );
            assert_eq!(
                client["attributes"]["pkce.code.challenge.method"], "S256",
                "{file}: PKCE S256 must be required"
            );

            // The secret Keycloak imports is the one the bridge sends.
            let secret = client["secret"].as_str().expect("client secret");
            let secret = resolve_keycloak_placeholders(secret, &keycloak_env);
            assert_eq!(
                Some(secret.as_str()),
                provider.client_secret.as_ref().map(|s| s.expose().as_str()),
                "{file}: the client's secret differs from the bridge provider's client_secret"
            );

            if provider
                .scopes
                .iter()
                .flatten()
                .any(|s| s == "offline_access")
            {
                let scopes: Vec<&Json> = ["defaultClientScopes", "optionalClientScopes"]
                    .iter()
                    .flat_map(|k| client[*k].as_array().into_iter().flatten())
                    .collect();
                assert!(
                    scopes.is_empty() || scopes.iter().any(|s| *s == "offline_access"),
                    "{file}: the bridge asks for offline_access, which the client does not offer"
                );
            }

            let users = realm["users"].as_array().cloned().unwrap_or_default();
            assert!(
                users.iter().any(|u| u["enabled"] == true
                    && u["emailVerified"] == true
                    && u["credentials"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c["type"] == "password"))),
                "{file}: the demo needs an enabled user with a verified email and a password"
            );
        }
    }
}

#[test]
fn the_demo_mcp_server_runs_from_the_same_image_on_the_port_the_bridge_forwards_to() {
    let compose = compose();
    let deployed = bridge_config();
    let demo = service(&compose, "demo-mcp");
    let command = string_list(demo.get("command"));
    assert_eq!(
        command.first().map(String::as_str),
        Some("demo-mcp-server"),
        "demo-mcp runs the image's `demo-mcp-server` binary: {command:?}"
    );
    assert_eq!(
        demo.get("entrypoint")
            .and_then(Yaml::as_sequence)
            .map(Vec::len),
        Some(0),
        "demo-mcp must clear the image's entrypoint (the bridge) to run the demo binary"
    );
    let bind = command
        .iter()
        .skip_while(|a| *a != "--bind")
        .nth(1)
        .expect("demo-mcp-server needs --bind");
    assert!(
        bind.starts_with("0.0.0.0:"),
        "bind {bind} is unreachable from the bridge"
    );
    let port: u16 = bind.rsplit(':').next().unwrap().parse().expect("bind port");
    let servers: Vec<_> = deployed
        .config
        .tenants
        .iter()
        .flat_map(|t| &t.mcp_servers)
        .filter(|s| s.url.host_str() == Some("demo-mcp"))
        .collect();
    assert!(!servers.is_empty(), "no MCP server points at demo-mcp");
    for s in servers {
        assert_eq!(s.url.port_or_known_default(), Some(port), "{}", s.url);
    }
    let bridge = service(&compose, BRIDGE);
    let image = |s: &Yaml| s.get("image").and_then(Yaml::as_str).map(str::to_owned);
    assert!(
        demo.get("build").is_some() || image(demo).is_some_and(|i| Some(i) == image(bridge)),
        "demo-mcp should run the bridge's image"
    );
}

#[test]
fn the_dockerfile_builds_locked_runs_unprivileged_and_checks_healthz() {
    let docker = dockerfile();
    let stages = docker.stages();
    assert!(stages.len() >= 2, "expected a multi-stage build");

    let builds: Vec<&String> = docker
        .instructions
        .iter()
        .filter(|(i, args)| i == "RUN" && args.contains("cargo build"))
        .map(|(_, args)| args)
        .collect();
    assert!(!builds.is_empty(), "no `cargo build` in the Dockerfile");
    for b in &builds {
        assert!(b.contains("--locked"), "cargo build without --locked: {b}");
        assert!(
            b.contains("--release"),
            "cargo build without --release: {b}"
        );
    }

    let runtime = stages.last().unwrap();
    let from = &runtime[0].1;
    assert!(
        from.contains("debian") && from.contains("slim"),
        "the runtime stage should be debian slim: {from}"
    );
    let user = runtime
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, a)| a.clone())
        .expect("the runtime stage never switches to a non-root USER");
    let user_name = user.split(':').next().unwrap_or_default();
    assert!(
        !matches!(user_name, "" | "root" | "0"),
        "the runtime stage runs as root: USER {user}"
    );

    let health = runtime
        .iter()
        .find(|(i, _)| i == "HEALTHCHECK")
        .map(|(_, a)| a.clone())
        .expect("no HEALTHCHECK in the runtime stage");
    assert!(
        health.contains("/healthz"),
        "HEALTHCHECK does not probe /healthz: {health}"
    );
    let exposed = runtime
        .iter()
        .any(|(i, a)| i == "EXPOSE" && a.split_whitespace().any(|p| p.starts_with("8080")));
    assert!(exposed, "the runtime stage does not EXPOSE 8080");
    let entrypoint = runtime
        .iter()
        .find(|(i, _)| i == "ENTRYPOINT")
        .map(|(_, a)| exec_form(a))
        .expect("no ENTRYPOINT");
    assert_eq!(entrypoint, ["mcp-auth-bridge"]);
    // The image's own default command must be one the CLI has.
    let cmd = docker.cmd().expect("no CMD");
    assert_eq!(
        cmd.first().map(String::as_str),
        Some("serve"),
        "CMD {cmd:?}"
    );
}

#[test]
fn the_dockerignore_keeps_target_and_local_secrets_out_of_the_build_context() {
    let ignore = read(".dockerignore");
    let lines: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    for must in ["target", ".git", ".env"] {
        assert!(lines.contains(must), ".dockerignore should list {must}");
    }
    for must_not in ["Cargo.lock", "src", "migrations", "Cargo.toml"] {
        assert!(
            !lines.contains(must_not),
            ".dockerignore excludes {must_not}, which the build needs"
        );
    }
}
