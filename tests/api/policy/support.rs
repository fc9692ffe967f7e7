//! A tenant `acme` whose Keycloak-like provider maps `groups` and `realm_access.roles`, with the
//! demo MCP server behind `demo` under a policy (and behind `open` with none).

use std::time::Duration;

use demo_mcp_server::{DemoMcpOptions, spawn};
use serde_json::json;
use sqlx::PgPool;

use crate::{
    app_support::{spawn_app, test_config},
    gateway::Setup,
    oauth_support::{REDIRECT_URI, public_client},
    support::fake_idp::{FakeIdp, FakeIdpOptions},
};

/// The policy of `demo`: deny by default; `echo` for everyone; `add` for group `eng`; `whoami`
/// denied explicitly; `countdown` for role `admin` with scope `mcp:tools` (step-up).
pub const POLICY: &str = r#"
[tenants.mcp_servers.policy]
default = "deny"
[[tenants.mcp_servers.policy.rules]]
name = "no-whoami"
effect = "deny"
methods = ["tools/call"]
targets = ["whoami"]
[[tenants.mcp_servers.policy.rules]]
name = "everyone-echoes"
effect = "allow"
methods = ["tools/call"]
targets = ["echo"]
[[tenants.mcp_servers.policy.rules]]
name = "eng-adds"
effect = "allow"
methods = ["tools/call"]
targets = ["add"]
when = "'eng' in user.groups"
[[tenants.mcp_servers.policy.rules]]
name = "admins-count-down"
effect = "allow"
methods = ["tools/call"]
targets = ["countdown"]
when = "'admin' in user.roles"
scopes = ["mcp:tools"]
"#;

/// The tenant with `servers` (TOML `[[tenants.mcp_servers]]` blocks) and a claim mapping.
pub fn tenant(idp: &FakeIdp, servers: &str) -> String {
    format!(
        r#"
[[tenants]]
slug = "acme"
scopes = ["mcp", "mcp:tools", "mcp:admin"]
[[tenants.providers]]
name = "kc"
kind = "keycloak"
issuer = "{issuer}"
client_id = "{client_id}"
client_secret = "{client_secret}"
claims = {{ groups = "groups", roles = "realm_access.roles", hd = "hd" }}
{servers}
"#,
        issuer = idp.issuer(),
        client_id = idp.client_id(),
        client_secret = idp.client_secret(),
    )
}

/// `demo` (the demo server under [`POLICY`], claim headers on) and `open` (the same server,
/// no policy); the user is in group `eng` with role `user`. `extra` is appended TOML.
pub async fn setup(pool: &PgPool, extra: &str) -> Setup {
    let (addr, mcp) = spawn(DemoMcpOptions {
        tick: Duration::from_millis(20),
        ..DemoMcpOptions::default()
    })
    .await
    .unwrap();
    let servers = format!(
        "[[tenants.mcp_servers]]\nname = \"demo\"\nurl = \"http://{addr}/mcp\"\nclaim_headers = true\n{POLICY}\n\
         [[tenants.mcp_servers]]\nname = \"open\"\nurl = \"http://{addr}/mcp\"\n"
    );
    setup_with(pool, &servers, extra, mcp).await
}

/// Like [`setup`] with other servers.
pub async fn setup_with(
    pool: &PgPool,
    servers: &str,
    extra: &str,
    mcp: demo_mcp_server::DemoMcpHandle,
) -> Setup {
    let idp = FakeIdp::start(FakeIdpOptions::default()).await;
    idp.set_extra_claims(json!({
        "groups": ["eng"],
        "realm_access": {"roles": ["user"]},
        "hd": "example.com",
    }));
    let config = test_config(&format!("{}{extra}", tenant(&idp, servers)));
    let app = spawn_app(pool.clone(), config).await;
    let client_id = public_client(pool, "acme", REDIRECT_URI).await;
    Setup {
        idp,
        app,
        mcp,
        client_id,
    }
}

/// A `tools/call` of `name`.
pub fn call(id: u64, name: &str) -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": {}}})
}
