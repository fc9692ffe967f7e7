//! The fake upstream IdP: a real HTTP server on a random loopback port that speaks OAuth 2.0 /
//! OIDC the way Keycloak, Google, Atlassian, Salesforce, GitHub or a generic OIDC provider do,
//! with knobs to inject faults and counters to assert how often the bridge called it.
//!
//! ```ignore
//! let idp = FakeIdp::start(FakeIdpOptions { mode: ProviderMode::Google, ..Default::default() }).await;
//! idp.fail_next_token_requests(1, 503);
//! assert_eq!(idp.counters().token_refresh, 1);
//! ```
//!
//! One file per concern: `modes` (per-provider paths and quirks, URL getters), `state` (tokens,
//! knobs, counters), `control` (the test's knobs and read-backs), `authorize`, `token`,
//! `userinfo`, `revoke`, `jwks` (keys, id tokens, discovery), `request` (parsing hostile input),
//! `reply` (error and bearer-challenge shapes), `router` (wiring).
//!
//! Start with [`FakeIdpOptions::for_mode`] so that rotation follows the provider; the fake
//! accepts any loopback `http(s)` redirect URI unless [`FakeIdp::set_redirect_uris`] says
//! otherwise.

mod authorize;
mod control;
mod jwks;
mod modes;
mod reply;
mod request;
mod revoke;
mod router;
mod state;
mod token;
mod userinfo;

use std::{sync::Arc, time::Duration};

pub use control::MintedTokens;
pub use state::Counters;

/// Which real provider the fake imitates (paths, response shapes, quirks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderMode {
    Keycloak,
    Oidc,
    Google,
    Atlassian,
    Salesforce,
    /// `app: false` is a GitHub OAuth app (tokens never expire, no refresh token);
    /// `app: true` is a GitHub App user token (8 h access, rotating 6-month refresh).
    Github {
        app: bool,
    },
    /// Microsoft Entra ID v2: tenant-independent discovery at `/common/v2.0` naming the issuer
    /// `{base}/{tenantid}/v2.0`, ID tokens with `tid`, refresh only with `offline_access`,
    /// rotation that leaves the old refresh token valid.
    Entra,
    /// Okta (`/oauth2/default`): rotation whose previous refresh token keeps working for a
    /// grace period (30 s unless [`FakeIdp::set_rotation_grace`] says otherwise).
    Okta,
    /// Auth0: issuer with a trailing `/`, `/authorize` refuses a request without `audience`
    /// (Auth0 would issue an opaque access token no API accepts), refresh with `offline_access`.
    Auth0,
}

/// The one user the fake logs in automatically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeUser {
    pub subject: String,
    pub email: String,
    pub name: String,
    pub username: String,
}

impl Default for FakeUser {
    fn default() -> Self {
        FakeUser {
            subject: "user-1".into(),
            email: "user1@example.test".into(),
            name: "User One".into(),
            username: "user1".into(),
        }
    }
}

/// Signature algorithm of id tokens (and the key published in the JWKS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdTokenAlg {
    #[default]
    Es256,
    Rs256,
}

#[derive(Clone, Debug)]
pub struct FakeIdpOptions {
    pub mode: ProviderMode,
    pub client_id: String,
    pub client_secret: String,
    pub user: FakeUser,
    /// `None`: the provider's default (3600 s; GitHub App 8 h; GitHub OAuth app never expires).
    pub access_token_ttl: Option<Duration>,
    /// Defaults to the *mode's* behaviour only through [`FakeIdpOptions::for_mode`]:
    /// `FakeIdpOptions { mode, ..Default::default() }` takes Keycloak's `true`. Google ignores it
    /// (Google never rotates and never returns `refresh_token` on refresh).
    pub rotate_refresh_tokens: bool,
    pub id_token_alg: IdTokenAlg,
}

impl Default for FakeIdpOptions {
    fn default() -> Self {
        FakeIdpOptions::for_mode(ProviderMode::Keycloak)
    }
}

impl FakeIdpOptions {
    /// Defaults for `mode`, with that provider's rotation behaviour.
    pub fn for_mode(mode: ProviderMode) -> Self {
        FakeIdpOptions {
            mode,
            client_id: "bridge-client".into(),
            client_secret: "bridge-secret-test-only".into(),
            user: FakeUser::default(),
            access_token_ttl: None,
            rotate_refresh_tokens: modes::rotates_by_default(mode),
            id_token_alg: IdTokenAlg::default(),
        }
    }
}

/// A handle on a running fake IdP. Clones share the same server; it serves until the test's
/// runtime ends.
#[derive(Clone)]
pub struct FakeIdp {
    shared: Arc<state::Shared>,
}

impl FakeIdp {
    /// Binds `127.0.0.1:0` and serves in the background.
    pub async fn start(opts: FakeIdpOptions) -> FakeIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake IdP binds a loopback port");
        let port = listener.local_addr().expect("bound address").port();
        let shared = Arc::new(state::Shared::new(format!("http://127.0.0.1:{port}"), opts));
        let app = router::router(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeIdp { shared }
    }

    pub fn mode(&self) -> ProviderMode {
        self.shared.mode
    }
    pub fn client_id(&self) -> String {
        self.shared.client_id.clone()
    }
    pub fn client_secret(&self) -> String {
        self.shared.client_secret.clone()
    }
    pub fn user(&self) -> FakeUser {
        self.shared.user.clone()
    }
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }
}
