//! The server's policy applies to remote-OAuth servers as to the others: a denied call is
//! answered by the gateway and never reaches the remote (it used to be forwarded with the
//! user's remote token, the policy never consulted), and lists are filtered.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::support::{connect_in, elicited_url, setup_with};

const DENY_WHOAMI: &str = r#"
[tenants.mcp_servers.policy]
default = "allow"
[[tenants.mcp_servers.policy.rules]]
name = "no-whoami"
effect = "deny"
methods = ["tools/call"]
targets = ["whoami"]
"#;

#[sqlx::test]
async fn a_denied_tool_on_a_remote_oauth_server_is_not_forwarded(pool: PgPool) {
    let s = setup_with(&pool, DENY_WHOAMI).await;
    let user = s.user().await;
    s.initialize(&user.token, true).await;
    // An allowed call elicits the connection; the user connects.
    let search = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "search", "arguments": {}}});
    let elicited: Value = s
        .post(&user.token, search.clone())
        .await
        .json()
        .await
        .unwrap();
    let done = connect_in(&user.flow.browser, &elicited_url(&elicited)).await;
    assert_eq!(done.status(), StatusCode::OK);
    let allowed: Value = s.post(&user.token, search).await.json().await.unwrap();
    assert!(allowed.get("result").is_some(), "{allowed}");
    let reached = s.remote.counters().mcp_ok;
    assert_eq!(reached, 1, "the allowed call reached the remote");

    // The denied tool: a JSON-RPC error in its own id, and the remote sees nothing.
    let denied = s.whoami(&user.token, 3).await;
    assert_eq!(denied["id"], 3);
    assert_eq!(denied["error"]["code"], -32003, "{denied}");
    assert_eq!(
        s.remote.counters().mcp_ok,
        reached,
        "the denied call was forwarded"
    );

    // tools/list from the remote is filtered: whoami, which the user may not call, is gone.
    let list = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"});
    let listed: Value = s.post(&user.token, list).await.json().await.unwrap();
    assert_eq!(
        s.remote.counters().mcp_ok,
        reached + 1,
        "tools/list reached the remote"
    );
    assert_eq!(listed["result"]["tools"], json!([]), "{listed}");
}
