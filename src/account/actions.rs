//! The account page's actions: revoke one grant, revoke all, forget a remembered consent. Each
//! is a confirmation page (GET) and a POST carrying the session's CSRF token; each checks that
//! the grant or consent is the signed-in user's own in this tenant, then calls the admin API's
//! function acting as the user (audited as `user:{subject}`).

use axum::{
    Extension, Form,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    login::see_other,
    page::{self, redirect_host},
    session::{self, AccountSession},
};
use crate::{
    admin::{self, auth::Admin, problem::AdminError},
    error::ErrorPage,
    pages::escape,
    services::Services,
    store::{self, grant_records},
    telemetry::request_id::RequestId,
    tenancy::TenantContext,
};

type Form_ = Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>;

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// The tenant and this browser's session, or the account page (to sign in) as the response.
async fn signed_in(
    state: &Services,
    raw: &str,
    headers: &HeaderMap,
) -> Result<(TenantContext, AccountSession), Response> {
    let ctx = state
        .tenancy
        .resolve(raw)
        .await
        .map_err(|e| ErrorPage::from(e).into_response())?;
    match session::current(state, headers, ctx.tenant.id) {
        Some(s) => Ok((ctx, s)),
        None => Err(see_other(&super::page_url(&ctx))),
    }
}

/// [`signed_in`], and the form's CSRF token checked.
async fn checked(
    state: &Services,
    raw: &str,
    headers: &HeaderMap,
    form: Form_,
) -> Result<(TenantContext, AccountSession), Response> {
    let (ctx, s) = signed_in(state, raw, headers).await?;
    match form {
        Ok(Form(f)) if session::csrf_ok(state, &s, &f.csrf) => Ok((ctx, s)),
        _ => Err(super::forged().into_response()),
    }
}

fn actor(
    ctx: &TenantContext,
    s: &AccountSession,
    request_id: Option<Extension<RequestId>>,
) -> Admin {
    Admin::end_user(
        ctx.tenant.slug.clone(),
        &s.subject,
        request_id.map(|Extension(r)| r.as_str().to_owned()),
    )
}

fn failed(e: AdminError) -> Response {
    let page = if e.status() == StatusCode::SERVICE_UNAVAILABLE {
        ErrorPage::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The service's database is unavailable. Please try again in a moment.",
        )
    } else {
        ErrorPage::new(e.status(), "That did not work", e.detail().to_owned())
    };
    page.into_response()
}

fn not_yours() -> Response {
    ErrorPage::new(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such access on your account.",
    )
    .into_response()
}

/// The user's own live grant `raw_id`, if it is one.
async fn own_grant(
    state: &Services,
    ctx: &TenantContext,
    s: &AccountSession,
    raw_id: &str,
) -> Result<store::grant_usage::UserGrant, Response> {
    let id = Uuid::parse_str(raw_id).map_err(|_| not_yours())?;
    let grants = store::grant_usage::of_subject(&state.pool, ctx.tenant.id, &s.subject)
        .await
        .map_err(|e| ErrorPage::from(e).into_response())?;
    grants
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(not_yours)
}

/// The user's own remembered consent `raw_id`, if it is one.
async fn own_consent(
    state: &Services,
    ctx: &TenantContext,
    s: &AccountSession,
    raw_id: &str,
) -> Result<store::consents::ConsentRecord, Response> {
    let id = Uuid::parse_str(raw_id).map_err(|_| not_yours())?;
    let consents =
        store::consents::list_records(&state.pool, ctx.tenant.id, Some(&s.subject), None)
            .await
            .map_err(|e| ErrorPage::from(e).into_response())?;
    consents
        .into_iter()
        .find(|c| c.id == id && c.revoked_at.is_none())
        .ok_or_else(not_yours)
}

fn confirm(
    state: &Services,
    ctx: &TenantContext,
    s: &AccountSession,
    title: &str,
    what: &str,
    action: &str,
    button: &str,
) -> Response {
    let body = format!(
        "<h1>{title}</h1><div class=\"card\">{what}</div>\
<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button class=\"danger\" type=\"submit\">{button}</button> <a class=\"button\" href=\"{back}\">Cancel</a></form>",
        title = escape(title),
        action = escape(action),
        csrf = session::csrf_token(state, s),
        button = escape(button),
        back = escape(&super::page_url(ctx)),
    );
    page::html(ctx, s, title, &body)
}

pub async fn confirm_revoke(
    State(state): State<Services>,
    Path((raw, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (ctx, s) = match signed_in(&state, &raw, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let g = match own_grant(&state, &ctx, &s, &id).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let what = format!(
        "<p><strong>{}</strong> (sends results to <code>{}</code>) will lose access to your account at once. \
It can ask you again later.</p>",
        escape(g.client_name.as_deref().unwrap_or(&g.client_id)),
        escape(&redirect_host(g.redirect_uri.as_deref())),
    );
    let action = format!("{}/grants/{}/revoke", super::page_url(&ctx), g.id);
    confirm(
        &state,
        &ctx,
        &s,
        "Revoke access?",
        &what,
        &action,
        "Revoke access",
    )
}

pub async fn revoke(
    State(state): State<Services>,
    Path((raw, id)): Path<(String, String)>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    form: Form_,
) -> Response {
    let (ctx, s) = match checked(&state, &raw, &headers, form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let g = match own_grant(&state, &ctx, &s, &id).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let who = actor(&ctx, &s, request_id);
    match admin::grants::revoke_all(&state, &who, &ctx.tenant, &[g.id]).await {
        Ok(_) => see_other(&format!("{}?done=revoked", super::page_url(&ctx))),
        Err(e) => failed(e),
    }
}

pub async fn confirm_revoke_all(
    State(state): State<Services>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (ctx, s) = match signed_in(&state, &raw, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let what = "<p>Every application listed on your account page loses access at once.</p>";
    let action = format!("{}/grants/revoke-all", super::page_url(&ctx));
    confirm(
        &state,
        &ctx,
        &s,
        "Revoke access for all applications?",
        what,
        &action,
        "Revoke all",
    )
}

pub async fn revoke_all(
    State(state): State<Services>,
    Path(raw): Path<String>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    form: Form_,
) -> Response {
    let (ctx, s) = match checked(&state, &raw, &headers, form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ids = async {
        let mut conn = state.pool.acquire().await?;
        grant_records::live_ids_of_subject(&mut conn, ctx.tenant.id, &s.subject).await
    };
    let ids = match ids.await {
        Ok(ids) => ids,
        Err(e) => return ErrorPage::from(e).into_response(),
    };
    let who = actor(&ctx, &s, request_id);
    match admin::grants::revoke_all(&state, &who, &ctx.tenant, &ids).await {
        Ok(_) => see_other(&format!("{}?done=revoked_all", super::page_url(&ctx))),
        Err(e) => failed(e),
    }
}

pub async fn confirm_forget(
    State(state): State<Services>,
    Path((raw, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (ctx, s) = match signed_in(&state, &raw, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let c = match own_consent(&state, &ctx, &s, &id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let what = format!(
        "<p>Next time <code>{}</code> asks for access, you will see the approval page again. \
Access it already has stays until you revoke it.</p>",
        escape(&c.client_id)
    );
    let action = format!("{}/consents/{}/forget", super::page_url(&ctx), c.id);
    confirm(
        &state,
        &ctx,
        &s,
        "Forget this approval?",
        &what,
        &action,
        "Forget approval",
    )
}

pub async fn forget(
    State(state): State<Services>,
    Path((raw, id)): Path<(String, String)>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    form: Form_,
) -> Response {
    let (ctx, s) = match checked(&state, &raw, &headers, form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let c = match own_consent(&state, &ctx, &s, &id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let who = actor(&ctx, &s, request_id);
    match admin::consents::revoke_consent(&state, &who, &ctx.tenant, c.id).await {
        Ok(_) => see_other(&format!("{}?done=forgotten", super::page_url(&ctx))),
        Err(e) => failed(e),
    }
}
