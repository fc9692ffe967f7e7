//! `docs/configuration.md` is rendered from the configuration's schema; it must not go stale.

#[test]
fn the_committed_configuration_reference_is_current() {
    let committed = std::fs::read_to_string("docs/configuration.md").unwrap_or_default();
    let generated = mcp_auth_bridge::config::reference::markdown();
    assert!(
        committed == generated,
        "docs/configuration.md is stale: run \
         `cargo run -q -- config-reference > docs/configuration.md`"
    );
}

#[test]
fn the_reference_names_every_section_and_the_new_provider_kinds() {
    let reference = mcp_auth_bridge::config::reference::markdown();
    for section in [
        "## `public_url`",
        "## `server`",
        "## `database`",
        "## `auth`",
        "## `crypto`",
        "## `tenants`",
    ] {
        assert!(reference.contains(section), "{section} missing");
    }
    for row in [
        "| `tenants[].providers[].audience` |",
        "| `database.url` | string, *secret* |",
        "| `server.trusted_proxies` |",
    ] {
        assert!(reference.contains(row), "{row} missing");
    }
    assert!(reference.contains("`entra`") && reference.contains("`auth0`"));
}

/// Every configuration key a guide cites in backticks (`auth.cache_ttl`, `crypto.keys.k2`) is
/// one the reference lists, so the guides cannot send an operator to a key that does not exist.
#[test]
fn every_configuration_key_the_guides_cite_exists() {
    let reference = mcp_auth_bridge::config::reference::markdown();
    let sections = [
        "server.",
        "database.",
        "auth.",
        "crypto.",
        "admin.",
        "registration.",
        "gateway.",
        "log.",
    ];
    let mut cited = 0;
    for guide in [
        "deploying",
        "providers",
        "clients",
        "troubleshooting",
        "operations",
    ] {
        let text = std::fs::read_to_string(format!("docs/{guide}.md")).unwrap();
        for quoted in text.split('`').skip(1).step_by(2) {
            let key = quoted.split([' ', '=']).next().unwrap_or_default();
            let looks_like_key = sections.iter().any(|s| key.starts_with(s))
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b"._0-9".contains(&b));
            if !looks_like_key {
                continue;
            }
            cited += 1;
            // `crypto.keys.k2` names an entry of the map `crypto.keys`.
            let listed = |k: &str| reference.contains(&format!("| `{k}` |"));
            let map_entry = key.rsplit_once('.').is_some_and(|(map, _)| listed(map));
            assert!(
                listed(key) || map_entry,
                "docs/{guide}.md cites `{key}`, which is not a configuration key"
            );
        }
    }
    assert!(cited > 20, "the guides cite {cited} keys");
}
