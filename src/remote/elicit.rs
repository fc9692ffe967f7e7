//! Asking the user to connect a remote server, in MCP's own terms (spec revision 2025-11-25,
//! "URL mode elicitation"): a request that needs a connection the user has not made is answered
//! with the JSON-RPC error `-32042` (`URLElicitationRequiredError`) whose
//! `data.elicitations[0]` is `{mode: "url", elicitationId, url, message}`, so a compliant client
//! opens the URL in the browser and retries. A client that did not declare
//! `capabilities.elicitation.url` in `initialize` must not get URL elicitations; it gets a plain
//! JSON-RPC error whose message holds the URL, for the user to open by hand.
//!
//! The URL is a one-time connect link, valid for [`LINK_TTL`], bound to the user's grant and the
//! server (stored as a hash in `remote_connect_links`).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::RemoteError;
use crate::{
    services::Services,
    store::remote_connections::{self, ConnectFor},
};

/// JSON-RPC error code of `URLElicitationRequiredError` (MCP 2025-11-25).
pub const URL_ELICITATION_REQUIRED: i64 = -32042;
/// The code of the plain error for clients without URL elicitation (implementation-defined
/// server error range of JSON-RPC 2.0).
pub const CONNECT_REQUIRED: i64 = -32001;
/// How long a connect link may wait to be opened.
pub const LINK_TTL: Duration = Duration::minutes(10);

/// A connect link handed to the MCP client.
pub struct Ask {
    pub url: String,
    pub elicitation_id: Uuid,
}

/// A fresh one-time connect link for `who`.
pub async fn new_link(
    state: &Services,
    tenant: &str,
    who: &ConnectFor,
    now: DateTime<Utc>,
) -> Result<Ask, RemoteError> {
    let link = crate::crypto::random::token();
    let elicitation_id = Uuid::new_v4();
    remote_connections::insert_link(&state.pool, &link, who, elicitation_id, now + LINK_TTL)
        .await
        .map_err(|e| RemoteError::from_store(&e))?;
    Ok(Ask {
        url: connect_url(state, tenant, &link),
        elicitation_id,
    })
}

/// `{issuer}/remote/connect?link=…`: where the browser starts connecting.
pub fn connect_url(state: &Services, tenant: &str, link: &str) -> String {
    format!("{}/remote/connect?link={link}", state.issuer(tenant))
}

/// The JSON-RPC error answering request `id`: a URL elicitation when the client declared it,
/// else a plain error naming the URL.
pub fn rpc_error(id: &Value, ask: &Ask, server: &str, url_mode: bool) -> Value {
    let message = format!("Connect your account at the MCP server '{server}' to continue.");
    if url_mode {
        return json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": URL_ELICITATION_REQUIRED,
                "message": "This request requires connecting an account in the browser.",
                "data": {"elicitations": [{
                    "mode": "url",
                    "elicitationId": ask.elicitation_id,
                    "url": ask.url,
                    "message": message,
                }]},
            },
        });
    }
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": CONNECT_REQUIRED,
            "message": format!("{message} Open this link in your browser, then retry: {}", ask.url),
            "data": {"connect_url": ask.url},
        },
    })
}

/// Whether a JSON-RPC message is an `initialize` declaring URL-mode elicitation
/// (`params.capabilities.elicitation.url`), `None` when it is no `initialize` at all.
pub fn declared_url_elicitation(message: &Value) -> Option<bool> {
    if message.get("method")?.as_str()? != "initialize" {
        return None;
    }
    let elicitation = message
        .get("params")
        .and_then(|p| p.get("capabilities"))
        .and_then(|c| c.get("elicitation"));
    Some(elicitation.is_some_and(|e| e.get("url").is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask() -> Ask {
        Ask {
            url: "https://bridge/t/a/remote/connect?link=x".into(),
            elicitation_id: Uuid::nil(),
        }
    }

    #[test]
    fn a_client_that_declared_url_elicitation_gets_minus_32042_with_the_url() {
        let error = rpc_error(&json!(3), &ask(), "wiki", true);
        assert_eq!(error["id"], 3);
        assert_eq!(error["error"]["code"], -32042);
        let e = &error["error"]["data"]["elicitations"][0];
        assert_eq!(e["mode"], "url");
        assert_eq!(e["url"], "https://bridge/t/a/remote/connect?link=x");
        assert!(e["elicitationId"].is_string());
    }

    #[test]
    fn another_client_gets_a_plain_error_whose_message_holds_the_url() {
        let error = rpc_error(&json!("a"), &ask(), "wiki", false);
        assert_eq!(error["error"]["code"], CONNECT_REQUIRED);
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("https://bridge/t/a/remote/connect?link=x"))
        );
    }

    #[test]
    fn url_elicitation_is_read_from_initialize_only() {
        let init = |caps: Value| json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": caps}});
        assert_eq!(
            declared_url_elicitation(&init(json!({"elicitation": {"url": {}}}))),
            Some(true)
        );
        assert_eq!(
            declared_url_elicitation(&init(json!({"elicitation": {}}))),
            Some(false)
        );
        assert_eq!(declared_url_elicitation(&init(json!({}))), Some(false));
        assert_eq!(
            declared_url_elicitation(&json!({"method": "tools/list"})),
            None
        );
    }
}
