//! The fake remote MCP server that is also its own OAuth 2.1 authorization server (issue 18):
//! a real HTTP server on a random loopback port with protected-resource metadata (RFC 9728),
//! authorization-server metadata (RFC 8414), dynamic client registration (RFC 7591),
//! `/authorize` that requires PKCE S256 and `resource` and approves at once as the configured
//! remote user, `/token` with rotating refresh tokens and reuse detection (a spent refresh token
//! revokes its family), `/revoke` (RFC 7009), and `/mcp`, which accepts only its own access
//! tokens and answers `initialize`, `tools/list` and the `whoami` tool. Counters say how often
//! the bridge called each endpoint; knobs inject expiry, refusals and slowness.
//!
//! ```ignore
//! let remote = FakeRemote::start().await;
//! remote.expire_all_access_tokens();          // the next call with the old token gets 401
//! assert_eq!(remote.counters().token_refresh, 1);
//! ```

mod routes;
mod state;

use std::{sync::Arc, time::Duration};

pub use state::Counters;

/// A handle on a running fake remote. Clones share the server; it serves until the runtime ends.
#[derive(Clone)]
pub struct FakeRemote {
    shared: Arc<state::Shared>,
}

impl FakeRemote {
    /// Binds `127.0.0.1:0` and serves in the background.
    pub async fn start() -> FakeRemote {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake remote binds a loopback port");
        let port = listener.local_addr().expect("bound address").port();
        let shared = Arc::new(state::Shared::new(format!("http://127.0.0.1:{port}")));
        let app = routes::router(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeRemote { shared }
    }

    /// The MCP endpoint (the resource).
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.shared.base)
    }
    pub fn issuer(&self) -> String {
        self.shared.base.clone()
    }
    pub fn counters(&self) -> Counters {
        self.shared.lock().counters.clone()
    }
    /// The remote account `/authorize` approves as from now on.
    pub fn set_user(&self, user: &str) {
        self.shared.lock().user = user.to_owned();
    }
    /// Lifetime (`expires_in`) of access tokens issued from now on.
    pub fn set_access_token_ttl(&self, ttl: Duration) {
        self.shared.lock().access_ttl = ttl;
    }
    /// Every refresh answers after this delay (so concurrent refreshes would overlap).
    pub fn set_refresh_delay(&self, delay: Duration) {
        self.shared.lock().refresh_delay = delay;
    }
    /// Access tokens issued so far stop working at `/mcp` (401) although unexpired by their
    /// `expires_in`: what a remote does after revoking them.
    pub fn expire_all_access_tokens(&self) {
        let mut s = self.shared.lock();
        s.access.values_mut().for_each(|t| t.revoked = true);
    }
    /// Every refresh token issued so far is refused (`invalid_grant`).
    pub fn revoke_all_refresh_tokens(&self) {
        let mut s = self.shared.lock();
        s.refresh.values_mut().for_each(|t| t.revoked = true);
    }
    /// `Authorization` headers `/mcp` received, in order.
    pub fn mcp_authorizations(&self) -> Vec<String> {
        self.shared.lock().mcp_authorizations.clone()
    }
    /// Every access token issued.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.shared.lock().access.keys().cloned().collect()
    }
    /// Whether `token` (access or refresh) is still good.
    pub fn is_token_valid(&self, token: &str) -> bool {
        let s = self.shared.lock();
        s.access.get(token).is_some_and(|t| !t.revoked)
            || s.refresh.get(token).is_some_and(|t| !t.revoked && !t.spent)
    }
    /// The query of the last `/authorize` request.
    pub fn last_authorize(&self) -> Option<std::collections::HashMap<String, String>> {
        self.shared.lock().last_authorize.clone()
    }
}
