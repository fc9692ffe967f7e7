//! The deployment files kept honest: `docker-compose.yml`, the `Dockerfile` and the Keycloak realm
//! in `config/keycloak/` are read and checked against the code they deploy, so a renamed
//! configuration key, a typo in an `MCP_AUTH_BRIDGE__*` variable or a realm that no longer
//! matches the bridge's provider fails here instead of in somebody's `docker compose up`.
//!
//! No Docker is needed: the files are parsed, Compose's `${VAR:-default}` interpolation is
//! applied with the defaults, and the bridge's real loader (`Config::load_str`) is run on the
//! result.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use mcp_auth_bridge::config::{Config, ENV_PREFIX, ProviderConfig, json_schema};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const COMPOSE_FILE: &str = "docker-compose.yml";
const DOCKERFILE: &str = "Dockerfile";
const REALM_DIR: &str = "config/keycloak";
const BRIDGE: &str = "bridge";
const KEYCLOAK: &str = "keycloak";

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

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
        "demo-mcp runs the image's `demo-mcp-server` subcommand: {command:?}"
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

// ---------------------------------------------------------------------------------------------
// Walking the configuration's JSON Schema
// ---------------------------------------------------------------------------------------------

fn schema() -> Json {
    serde_json::from_str(&json_schema()).expect("config::json_schema() is JSON")
}

/// Checks that the environment variable `name` (`MCP_AUTH_BRIDGE__A__B_C`) sets a key the
/// configuration has (`a.b_c`), the way figment maps it: prefix stripped, lower-cased, `__`
/// between levels. The error names the variable and the first segment that does not exist.
fn check_env_key(schema: &Json, name: &str) -> Result<(), String> {
    let rest = name
        .strip_prefix(ENV_PREFIX)
        .ok_or_else(|| format!("{name}: does not start with {ENV_PREFIX}"))?;
    let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(String::is_empty) {
        return Err(format!(
            "{name}: empty key segment (levels are separated by exactly `__`)"
        ));
    }
    let mut node = schema;
    for (i, segment) in path.iter().enumerate() {
        let at = path[..i].join(".");
        node = match child(schema, node, segment) {
            Child::Found(next) => next,
            Child::AnyBelow => return Ok(()),
            Child::List => {
                return Err(format!(
                    "{name}: `{at}` is a list; environment variables cannot set its elements \
                     (put them in the TOML file)"
                ));
            }
            Child::Missing(known) => {
                let key = path[..=i].join(".");
                return Err(format!(
                    "{name}: `{key}` is not a configuration key{}",
                    if known.is_empty() {
                        format!(" (`{at}` has no keys below it)")
                    } else {
                        format!(
                            " (keys of `{}`: {})",
                            if at.is_empty() { "(top level)" } else { &at },
                            known.join(", ")
                        )
                    }
                ));
            }
        };
    }
    Ok(())
}

enum Child<'a> {
    Found(&'a Json),
    /// `additionalProperties: true`: anything may follow.
    AnyBelow,
    List,
    Missing(Vec<String>),
}

/// The schema of key `segment` under `node`: its `properties`, or the value schema of a map
/// (`additionalProperties`), looking through `$ref`, `allOf`, `anyOf` and `oneOf`. Objects
/// without `additionalProperties` accept only their properties: serde would ignore (or, with
/// `deny_unknown_fields`, refuse) anything else, so either way the variable configures nothing.
fn child<'a>(root: &'a Json, node: &'a Json, segment: &str) -> Child<'a> {
    let mut known = Vec::new();
    let mut list = false;
    for alt in alternatives(root, node) {
        if let Some(found) = alt.get("properties").and_then(|p| p.get(segment)) {
            return Child::Found(found);
        }
        if let Some(props) = alt.get("properties").and_then(Json::as_object) {
            known.extend(props.keys().cloned());
        }
        match alt.get("additionalProperties") {
            Some(Json::Bool(true)) => return Child::AnyBelow,
            Some(map @ Json::Object(_)) => return Child::Found(map),
            _ => {}
        }
        if alt.get("items").is_some() || type_is(alt, "array") {
            list = true;
        }
    }
    if list {
        Child::List
    } else {
        known.sort();
        known.dedup();
        Child::Missing(known)
    }
}

/// `node` and everything it stands for: `$ref` targets and the branches of `allOf`/`anyOf`/`oneOf`.
fn alternatives<'a>(root: &'a Json, node: &'a Json) -> Vec<&'a Json> {
    let mut out = Vec::new();
    let mut pending = vec![node];
    while let Some(n) = pending.pop() {
        if out.len() > 64 {
            break; // a cycle; never in a configuration schema
        }
        out.push(n);
        if let Some(r) = n.get("$ref").and_then(Json::as_str) {
            pending.push(resolve_ref(root, r));
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(branches) = n.get(key).and_then(Json::as_array) {
                pending.extend(branches);
            }
        }
    }
    out
}

fn resolve_ref<'a>(root: &'a Json, reference: &str) -> &'a Json {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("non-local $ref {reference}"));
    root.pointer(pointer)
        .unwrap_or_else(|| panic!("dangling $ref {reference}"))
}

fn type_is(node: &Json, ty: &str) -> bool {
    match node.get("type") {
        Some(Json::String(t)) => t == ty,
        Some(Json::Array(ts)) => ts.iter().any(|t| t == ty),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Compose
// ---------------------------------------------------------------------------------------------

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn compose() -> Yaml {
    serde_yaml::from_str(&read(COMPOSE_FILE))
        .unwrap_or_else(|e| panic!("{COMPOSE_FILE} is not valid YAML: {e}"))
}

fn service<'a>(compose: &'a Yaml, name: &str) -> &'a Yaml {
    compose
        .get("services")
        .and_then(|s| s.get(name))
        .unwrap_or_else(|| panic!("{COMPOSE_FILE} has no service {name:?}"))
}

fn service_names(compose: &Yaml) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Some(services) = compose.get("services").and_then(Yaml::as_mapping) {
        for (name, svc) in services {
            names.extend(name.as_str().map(str::to_owned));
            names.extend(
                svc.get("hostname")
                    .and_then(Yaml::as_str)
                    .map(str::to_owned),
            );
        }
    }
    names
}

/// Host port → the service publishing it.
fn published_ports(compose: &Yaml) -> BTreeMap<u16, String> {
    let mut out = BTreeMap::new();
    let Some(services) = compose.get("services").and_then(Yaml::as_mapping) else {
        return out;
    };
    for (name, svc) in services {
        let name = name.as_str().unwrap_or_default().to_owned();
        for port in svc
            .get("ports")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
        {
            let published = match port {
                Yaml::String(s) => {
                    // [ip:]host:container[/proto]
                    let parts: Vec<&str> =
                        s.split('/').next().unwrap_or_default().split(':').collect();
                    (parts.len() >= 2).then(|| parts[parts.len() - 2].to_owned())
                }
                Yaml::Mapping(_) => port.get("published").map(scalar),
                _ => None,
            };
            if let Some(p) = published.and_then(|p| p.parse().ok()) {
                out.insert(p, name.clone());
            }
        }
    }
    out
}

/// A service's `environment`, in map or list form, values as written (not interpolated).
/// A list entry without `=` (passed through from the host) has no value here and is skipped.
fn environment(service: &Yaml) -> Vec<(String, String)> {
    match service.get("environment") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Mapping(map)) => map.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
        Some(Yaml::Sequence(list)) => list
            .iter()
            .filter_map(|item| {
                let item = scalar(item);
                item.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect(),
        Some(other) => panic!("unexpected environment: {other:?}"),
    }
}

fn interpolated(env: Vec<(String, String)>) -> BTreeMap<String, String> {
    env.into_iter()
        .map(|(k, v)| {
            let v = interpolate(&v).unwrap_or_else(|e| panic!("{k}: {e}"));
            (k, v)
        })
        .collect()
}

fn scalar(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

fn string_list(v: Option<&Yaml>) -> Vec<String> {
    match v {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Yaml::Sequence(items)) => items.iter().map(scalar).collect(),
        Some(other) => panic!("expected a string or a list, got {other:?}"),
    }
}

/// `depends_on` in list or map form → service → condition (`service_started` for the list form).
fn depends_on(v: &Yaml) -> BTreeMap<String, String> {
    match v {
        Yaml::Sequence(items) => items
            .iter()
            .map(|i| (scalar(i), "service_started".to_owned()))
            .collect(),
        Yaml::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                let condition = v
                    .get("condition")
                    .map(scalar)
                    .unwrap_or_else(|| "service_started".into());
                (scalar(k), condition)
            })
            .collect(),
        other => panic!("unexpected depends_on: {other:?}"),
    }
}

fn healthcheck_test(service: &Yaml) -> Option<String> {
    let hc = service.get("healthcheck")?;
    if hc.get("disable").and_then(Yaml::as_bool) == Some(true) {
        return None;
    }
    let test = string_list(hc.get("test"));
    (!test.is_empty() && test[0] != "NONE").then(|| test.join(" "))
}

/// A healthcheck of its own, or (for a service built from our Dockerfile and not disabling it)
/// the image's `HEALTHCHECK`.
fn has_healthcheck(service: &Yaml) -> bool {
    if let Some(hc) = service.get("healthcheck") {
        return healthcheck_test(service).is_some()
            || (hc.get("test").is_none()
                && hc.get("disable").and_then(Yaml::as_bool) != Some(true)
                && service.get("build").is_some()
                && dockerfile().has_healthcheck());
    }
    service.get("build").is_some() && dockerfile().has_healthcheck()
}

/// Bind mounts of a service as (host path, container path), short or long syntax.
fn bind_mounts(service: &Yaml) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in service
        .get("volumes")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
    {
        match v {
            Yaml::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                if parts.len() >= 2 && (parts[0].starts_with('.') || parts[0].starts_with('/')) {
                    out.push((parts[0].to_owned(), parts[1].to_owned()));
                }
            }
            Yaml::Mapping(_) if v.get("type").map(scalar).as_deref() == Some("bind") => {
                if let (Some(s), Some(t)) = (v.get("source"), v.get("target")) {
                    out.push((scalar(s), scalar(t)));
                }
            }
            _ => {}
        }
    }
    out
}

fn normalize(host_path: &str) -> String {
    host_path
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_owned()
}

/// Compose's interpolation (`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$$`), resolved
/// the way a fresh checkout without an `.env` file would be: every variable must have a default.
fn interpolate(input: &str) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body_and_tail) = after.strip_prefix('{') {
            let end = matching_brace(body_and_tail)
                .ok_or_else(|| format!("unclosed ${{ in {input:?}"))?;
            let body = &body_and_tail[..end];
            out.push_str(&expand(body, input)?);
            rest = &body_and_tail[end + 1..];
        } else if after.starts_with(|c: char| c == '_' || c.is_ascii_alphabetic()) {
            let name: String = after
                .chars()
                .take_while(|c| *c == '_' || c.is_ascii_alphanumeric())
                .collect();
            return Err(format!(
                "${name} has no default (write ${{{name}:-default}})"
            ));
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn expand(body: &str, input: &str) -> Result<String, String> {
    let name_end = body
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_end);
    if let Some(default) = op.strip_prefix(":-").or_else(|| op.strip_prefix('-')) {
        interpolate(default)
    } else if op.is_empty() {
        Err(format!("${{{name}}} in {input:?} has no default"))
    } else {
        Err(format!(
            "${{{body}}} in {input:?}: only ${{VAR:-default}} can be resolved without the variable"
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// The bridge's configuration as compose deploys it
// ---------------------------------------------------------------------------------------------

struct Deployed {
    config: Config,
    /// Where the TOML came from, for messages.
    source: String,
}

/// What `mcp-auth-bridge serve` would load inside the bridge container: the file its command
/// (or the image's CMD) names, as provided by a `configs` entry or a bind mount, and the
/// `MCP_AUTH_BRIDGE__*` variables of the image and the service, interpolated with defaults.
fn bridge_config() -> Deployed {
    let compose = compose();
    let bridge = service(&compose, BRIDGE);
    let docker = dockerfile();

    let mut command = string_list(bridge.get("command"));
    if command.is_empty() {
        command = docker.cmd().unwrap_or_default();
    }
    assert_eq!(
        command.first().map(String::as_str),
        Some("serve"),
        "the bridge should run `serve`: {command:?}"
    );

    let mut env: BTreeMap<String, String> = docker.env().into_iter().collect();
    env.extend(interpolated(environment(bridge)));

    let config_path = command
        .iter()
        .position(|a| a == "--config" || a == "-c")
        .and_then(|i| command.get(i + 1).cloned())
        .or_else(|| {
            command
                .iter()
                .find_map(|a| a.strip_prefix("--config=").map(str::to_owned))
        })
        .or_else(|| env.get("MCP_AUTH_BRIDGE_CONFIG").cloned());

    let (toml, source) = match config_path {
        None => (String::new(), "environment only".to_owned()),
        Some(path) => config_file_in_container(&compose, bridge, &path),
    };
    // Every variable, not only MCP_AUTH_BRIDGE__*: load_str merges those as overrides and looks
    // the others up for `…_env` secrets (client_secret_env = "KEYCLOAK_CLIENT_SECRET").
    let container_env: Vec<(&str, &str)> =
        env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let config = Config::load_str(&toml, &container_env).unwrap_or_else(|e| {
        panic!("the bridge's compose configuration ({source}) does not load:\n{e}")
    });
    Deployed { config, source }
}

/// The contents of `path` inside the bridge container, from `configs` or a bind mount.
fn config_file_in_container(compose: &Yaml, bridge: &Yaml, path: &str) -> (String, String) {
    for entry in bridge
        .get("configs")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
    {
        let (name, target) = match entry {
            Yaml::String(name) => (name.clone(), format!("/{name}")),
            Yaml::Mapping(_) => {
                let name = scalar(entry.get("source").expect("configs entry without source"));
                let target = entry
                    .get("target")
                    .map(scalar)
                    .unwrap_or_else(|| format!("/{name}"));
                (name, target)
            }
            other => panic!("unexpected configs entry {other:?}"),
        };
        if target != path {
            continue;
        }
        let def = compose
            .get("configs")
            .and_then(|c| c.get(name.as_str()))
            .unwrap_or_else(|| {
                panic!("service config {name:?} is not defined under top-level configs")
            });
        if let Some(content) = def.get("content") {
            // Compose interpolates inline content.
            let text = interpolate(&scalar(content))
                .unwrap_or_else(|e| panic!("configs.{name}.content: {e}"));
            return (text, format!("configs.{name}.content"));
        }
        if let Some(file) = def.get("file") {
            let file = normalize(&scalar(file));
            return (read(&file), file);
        }
        panic!("configs.{name} has neither content nor file");
    }
    for (host, target) in bind_mounts(bridge) {
        if target == path {
            let file = normalize(&host);
            return (read(&file), file);
        }
    }
    panic!("the bridge reads {path}, but neither a config nor a bind mount provides it")
}

fn keycloak_providers(config: &Config) -> Vec<&ProviderConfig> {
    let providers: Vec<_> = config
        .tenants
        .iter()
        .flat_map(|t| &t.providers)
        .filter(|p| is_keycloak(p))
        .collect();
    assert!(
        !providers.is_empty(),
        "no keycloak provider in the compose configuration"
    );
    providers
}

fn is_keycloak(p: &ProviderConfig) -> bool {
    p.issuer
        .as_ref()
        .is_some_and(|i| i.path().starts_with("/realms/"))
        || p.name.as_str() == KEYCLOAK
}

fn provider_urls(p: &ProviderConfig) -> Vec<(&'static str, url::Url)> {
    [
        ("issuer", &p.issuer),
        ("authorization_url", &p.authorization_url),
        ("token_url", &p.token_url),
        ("userinfo_url", &p.userinfo_url),
        ("jwks_url", &p.jwks_url),
        ("revocation_url", &p.revocation_url),
    ]
    .into_iter()
    .filter_map(|(k, u)| u.clone().map(|u| (k, u)))
    .collect()
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

// ---------------------------------------------------------------------------------------------
// Keycloak realm files
// ---------------------------------------------------------------------------------------------

fn realm_files() -> Vec<(String, Json)> {
    let dir = root().join(REALM_DIR);
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path: PathBuf = entry.expect("directory entry").path();
        // Keycloak imports regular `.json` files of the directory, no subdirectories.
        if path.extension().and_then(|e| e.to_str()) != Some("json") || !path.is_file() {
            continue;
        }
        let name = format!(
            "{REALM_DIR}/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Json =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        out.push((name, json));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Keycloak resolves `${VAR}` in imported realm files from its environment.
fn resolve_keycloak_placeholders(value: &str, env: &BTreeMap<String, String>) -> String {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(var) => env.get(var).cloned().unwrap_or_else(|| {
            panic!("the realm uses ${{{var}}}, which keycloak's environment does not set")
        }),
        None => value.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------

struct Dockerfile {
    /// (INSTRUCTION, arguments) with line continuations joined and comments dropped.
    instructions: Vec<(String, String)>,
}

fn dockerfile() -> Dockerfile {
    let text = read(DOCKERFILE);
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') && current.is_empty() {
            continue; // comments and parser directives
        }
        if trimmed.starts_with('#') {
            continue; // a comment inside a continued instruction
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let full = std::mem::take(&mut current);
        let full = full.trim();
        if full.is_empty() {
            continue;
        }
        let (instr, args) = full.split_once(char::is_whitespace).unwrap_or((full, ""));
        instructions.push((instr.to_ascii_uppercase(), args.trim().to_owned()));
    }
    Dockerfile { instructions }
}

impl Dockerfile {
    fn stages(&self) -> Vec<&[(String, String)]> {
        let starts: Vec<usize> = self
            .instructions
            .iter()
            .enumerate()
            .filter(|(_, (i, _))| i == "FROM")
            .map(|(n, _)| n)
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let end = starts
                    .get(k + 1)
                    .copied()
                    .unwrap_or(self.instructions.len());
                &self.instructions[s..end]
            })
            .collect()
    }

    fn runtime(&self) -> &[(String, String)] {
        self.stages().last().copied().unwrap_or_default()
    }

    /// `ENV` of the final stage (`ENV K=V K2=V2` and the legacy `ENV K V`).
    fn env(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, args) in self.runtime() {
            if i != "ENV" {
                continue;
            }
            if args.contains('=') {
                for pair in args.split_whitespace() {
                    if let Some((k, v)) = pair.split_once('=') {
                        out.push((k.to_owned(), v.trim_matches('"').to_owned()));
                    }
                }
            } else if let Some((k, v)) = args.split_once(char::is_whitespace) {
                out.push((k.to_owned(), v.trim().to_owned()));
            }
        }
        out
    }

    fn cmd(&self) -> Option<Vec<String>> {
        self.runtime()
            .iter()
            .rev()
            .find(|(i, _)| i == "CMD")
            .map(|(_, a)| exec_form(a))
    }

    fn has_healthcheck(&self) -> bool {
        self.runtime()
            .iter()
            .any(|(i, a)| i == "HEALTHCHECK" && !a.eq_ignore_ascii_case("NONE"))
    }
}

/// `["a", "b"]` (exec form) or `a b` (shell form, split on whitespace).
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(args)
        .unwrap_or_else(|_| args.split_whitespace().map(str::to_owned).collect())
}
