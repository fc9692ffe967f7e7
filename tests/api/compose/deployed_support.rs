//! The bridge's configuration as compose deploys it: the file its command names plus the
//! image's and the service's variables, loaded by the bridge's real loader.

use std::collections::BTreeMap;

use mcp_auth_bridge::config::{Config, ProviderConfig};
use serde_yaml::Value as Yaml;

use super::{
    compose_file_support::{
        BRIDGE, bind_mounts, compose, environment, interpolate, interpolated, normalize, read,
        scalar, service, string_list,
    },
    dockerfile_support::dockerfile,
    realm_support::KEYCLOAK,
};

pub struct Deployed {
    pub config: Config,
    /// Where the TOML came from, for messages.
    pub source: String,
}

/// What `mcp-auth-bridge serve` would load inside the bridge container: the file its command
/// (or the image's CMD) names, as provided by a `configs` entry or a bind mount, and the
/// `MCP_AUTH_BRIDGE__*` variables of the image and the service, interpolated with defaults.
pub fn bridge_config() -> Deployed {
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
pub fn config_file_in_container(compose: &Yaml, bridge: &Yaml, path: &str) -> (String, String) {
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

pub fn keycloak_providers(config: &Config) -> Vec<&ProviderConfig> {
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

pub fn is_keycloak(p: &ProviderConfig) -> bool {
    p.issuer
        .as_ref()
        .is_some_and(|i| i.path().starts_with("/realms/"))
        || p.name.as_str() == KEYCLOAK
}

pub fn provider_urls(p: &ProviderConfig) -> Vec<(&'static str, url::Url)> {
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

pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
