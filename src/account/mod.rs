//! The account page of a tenant (`/t/{tenant}/account`): end users sign in through the tenant's
//! upstream IdP and see which MCP clients hold access to their account, and cut them off.
//!
//! A user only ever sees their own subject's grants and consents within that tenant: every
//! query is by the session's tenant and subject, and every action first checks that the grant
//! or consent named in the URL is one of them. Actions reuse the admin API's functions
//! ([`crate::admin::grants::revoke_all`], [`crate::admin::consents::revoke_consent`]), acting
//! as the user ([`crate::admin::auth::Admin::end_user`]), so the rules and the audit entries
//! are the same. Every action is a POST with a CSRF token, reached through a confirmation page;
//! nothing needs JavaScript.

pub mod actions;
pub mod login;
pub mod page;
pub mod session;

use axum::{
    Router,
    extract::FromRef,
    http::StatusCode,
    routing::{get, post},
};

use crate::{error::ErrorPage, services::Services, tenancy::TenantContext};

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Services: FromRef<S>,
{
    Router::new()
        .route("/t/{tenant}/account", get(page::show))
        .route("/t/{tenant}/account/login", get(login::start))
        .route("/t/{tenant}/account/logout", post(login::logout))
        .route(
            "/t/{tenant}/account/grants/revoke-all",
            get(actions::confirm_revoke_all).post(actions::revoke_all),
        )
        .route(
            "/t/{tenant}/account/grants/{id}/revoke",
            get(actions::confirm_revoke).post(actions::revoke),
        )
        .route(
            "/t/{tenant}/account/consents/{id}/forget",
            get(actions::confirm_forget).post(actions::forget),
        )
}

/// `{issuer}/account`.
pub fn page_url(ctx: &TenantContext) -> String {
    format!("{}/account", ctx.issuer)
}

/// A form that did not come from the page this server rendered for this session.
pub fn forged() -> ErrorPage {
    ErrorPage::new(
        StatusCode::FORBIDDEN,
        "Request not accepted",
        "This form was not submitted from the page this server showed you. Reload the page and try again.",
    )
}
