//! What a test can change while the fake runs, and what it can read back.

use std::{collections::HashMap, time::Duration};

use tokio::time::Instant;

use super::{FakeIdp, state::Fault, userinfo};

/// Tokens minted directly by a test (no login).
#[derive(Clone, Debug)]
pub struct MintedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
}

impl FakeIdp {
    /// Lifetime of access tokens issued from now on; `None` = the mode's default.
    pub fn set_access_token_ttl(&self, ttl: Option<Duration>) {
        self.shared.knobs().ttl = ttl;
    }
    pub fn set_rotation(&self, rotate: bool) {
        self.shared.knobs().rotate = rotate;
    }
    /// How long a rotated-away refresh token keeps working (Okta: 30 s by default, 0 to 60 s
    /// configurable; `ZERO`: strict rotation).
    pub fn set_rotation_grace(&self, grace: Duration) {
        self.shared.knobs().rotation_grace = grace;
    }
    /// These claims replace the usual ones in every ID token issued from now on.
    pub fn set_id_token_claims(&self, claims: serde_json::Value) {
        self.shared.knobs().id_token_claims = claims.as_object().cloned().unwrap_or_default();
    }
    /// Token answers wait this long after the request was processed (rotation included).
    pub fn set_token_answer_delay(&self, delay: Duration) {
        self.shared.knobs().answer_delay = delay;
    }
    /// Every token-endpoint answer waits this long first.
    pub fn set_token_delay(&self, delay: Duration) {
        self.shared.knobs().token_delay = delay;
    }
    /// Userinfo (`/me`, `/user`, `/user/emails`, Salesforce identity) answers wait this long.
    pub fn set_userinfo_delay(&self, delay: Duration) {
        self.shared.knobs().userinfo_delay = delay;
    }
    /// The next `n` token requests fail with `status` (429 carries `Retry-After: 1`).
    pub fn fail_next_token_requests(&self, n: u32, status: u16) {
        self.shared.knobs().fault = match n {
            0 => Fault::None,
            remaining => Fault::Next { remaining, status },
        };
    }
    /// The next `n` userinfo requests (counted, then after the userinfo delay) fail with
    /// `status` (429 carries `Retry-After: 1`).
    pub fn fail_next_userinfo_requests(&self, n: u32, status: u16) {
        self.shared.knobs().userinfo_fault = match n {
            0 => Fault::None,
            remaining => Fault::Next { remaining, status },
        };
    }
    /// Every userinfo request fails with `status` until [`FakeIdp::heal_userinfo`].
    pub fn fail_userinfo_requests_forever(&self, status: u16) {
        self.shared.knobs().userinfo_fault = Fault::Forever { status };
    }
    /// Ends injected userinfo failures.
    pub fn heal_userinfo(&self) {
        self.shared.knobs().userinfo_fault = Fault::None;
    }
    pub fn fail_token_requests_forever(&self, status: u16) {
        self.shared.knobs().fault = Fault::Forever { status };
    }
    /// Ends injected token failures.
    pub fn heal(&self) {
        self.shared.knobs().fault = Fault::None;
    }
    pub fn invalid_grant_on_next_refresh(&self) {
        self.shared.knobs().invalid_grant_next_refresh = true;
    }
    /// Reusing a rotated-away refresh token revokes its whole grant (as Auth0, Okta, RFC 9700
    /// §4.14.2 do); off by default.
    pub fn set_refresh_reuse_detection(&self, on: bool) {
        self.shared.knobs().reuse_detection = on;
    }
    /// Every refresh token issued so far answers `invalid_grant` from now on.
    pub fn revoke_all_refresh_tokens(&self) {
        let mut inner = self.shared.inner();
        inner.refresh.values_mut().for_each(|r| r.revoked = true);
    }
    /// Every access token issued so far is expired (userinfo and the API answer 401).
    pub fn expire_all_access_tokens(&self) {
        let now = Instant::now();
        let mut inner = self.shared.inner();
        inner
            .access
            .values_mut()
            .for_each(|a| a.expires_at = Some(now));
    }
    /// The next `/authorize` redirects back with `error=access_denied`.
    pub fn deny_next_login(&self) {
        self.shared.knobs().deny_next_login = true;
    }
    /// GitHub: `/user` shows `"email": null` (a private email) when `false`.
    pub fn set_github_public_email(&self, public: bool) {
        self.shared.knobs().github_public_email = public;
    }
    /// Userinfo reports `name` as the user's display name from now on.
    pub fn rename_user(&self, name: &str) {
        self.shared.knobs().renamed = Some(name.to_owned());
    }
    /// OIDC-style userinfo answers carry these claims too from now on (`groups`, …).
    pub fn set_extra_claims(&self, claims: serde_json::Value) {
        if let serde_json::Value::Object(claims) = claims {
            self.shared.knobs().extra_claims = claims;
        }
    }
    /// Accept exactly these redirect URIs (default: any loopback http(s) URL).
    pub fn set_redirect_uris(&self, uris: Vec<String>) {
        self.shared.knobs().redirect_uris = Some(uris);
    }

    /// The most recently issued refresh token that is still usable.
    pub fn current_refresh_token(&self) -> Option<String> {
        let inner = self.shared.inner();
        let live = |t: &&String| inner.refresh.get(*t).is_some_and(|r| !r.revoked);
        inner.issued_refresh.iter().rev().find(live).cloned()
    }
    /// Every refresh token issued, oldest first.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.shared.inner().issued_refresh.iter().cloned().collect()
    }
    /// Every access token issued, oldest first.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.shared.inner().issued_access.iter().cloned().collect()
    }
    pub fn last_access_token(&self) -> Option<String> {
        self.shared.inner().issued_access.back().cloned()
    }
    pub fn is_refresh_token_valid(&self, token: &str) -> bool {
        let inner = self.shared.inner();
        inner.refresh.get(token).is_some_and(|r| !r.revoked)
    }
    /// Known, unrevoked and unexpired.
    pub fn is_access_token_valid(&self, token: &str) -> bool {
        self.shared.live_access(token).is_some()
    }
    /// The query of the last `/authorize` request (nonce, scope, access_type, audience, …).
    pub fn last_authorize_params(&self) -> Option<HashMap<String, String>> {
        self.shared.inner().last_authorize.clone()
    }
    /// The form of the last token request (secrets included: it is a test fake).
    pub fn last_token_request(&self) -> Option<HashMap<String, String>> {
        self.shared.inner().last_token_request.clone()
    }
    /// GitHub's numeric `id` for the configured user.
    pub fn github_user_id(&self) -> u64 {
        userinfo::github_user_id(&self.shared.user)
    }
    /// Issues tokens for the configured user without a login, as if a code had been exchanged.
    pub fn mint_tokens(&self, scope: &str, with_refresh: bool) -> MintedTokens {
        let family = self.shared.new_family();
        let issued = self.shared.issue(family, scope, with_refresh);
        let issued = issued.expect("fake IdP token store has room");
        MintedTokens {
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
        }
    }
}
