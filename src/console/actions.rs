//! The console's forms (POST): sign-in and sign-out, then each change as one admin API call.
//! Every form's CSRF token is checked first; destructive actions also need their confirmation
//! box ticked. A refused change re-renders its page with the API's problem (field errors next
//! to their fields) and the API's status; a done one redirects back (303, post/redirect/get).

use std::collections::HashMap;

use axum::{
    Extension, Form,
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{
    Operator, Refused,
    api::{self, enc},
    operator, section_views,
    sections::{Section, TENANT_FORM},
    see_other,
    session::ConsoleSession,
    views,
};
use crate::{services::Services, telemetry::request_id::RequestId};

type Rid = Option<Extension<RequestId>>;
type Fields = Form<HashMap<String, String>>;

fn rid(r: Rid) -> Option<RequestId> {
    r.map(|Extension(r)| r)
}

/// The operator, with the form's CSRF token checked against their session.
fn checked(
    state: &Services,
    headers: &HeaderMap,
    request_id: Rid,
    form: &HashMap<String, String>,
) -> Result<Operator, Refused> {
    let op = operator(state, headers, rid(request_id))?;
    let submitted = form.get("csrf").map(String::as_str).unwrap_or("");
    if crate::crypto::hash::constant_time_eq(submitted.as_bytes(), op.csrf.as_bytes()) {
        Ok(op)
    } else {
        Err(Refused::Forged)
    }
}

fn confirmed(form: &HashMap<String, String>) -> bool {
    form.get("confirm").map(String::as_str) == Some("yes")
}

/// `POST /admin/console/login`: checks the token by asking the API for the tenants it may see.
pub async fn login(
    State(state): State<Services>,
    request_id: Rid,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let Some(anonymous) = ConsoleSession::current(&state, &headers) else {
        return views::login_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            "Your sign-in form expired. Please try again.",
        );
    };
    let submitted = form.get("csrf").map(String::as_str).unwrap_or("");
    if !anonymous.csrf_ok(&state, submitted) {
        return Refused::Forged.into_response();
    }
    let token = form
        .get("token")
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    let secret = crate::domain::Secret::new(token.clone());
    let answer = api::call(
        &state,
        &secret,
        Method::GET,
        "/tenants",
        None,
        rid(request_id).as_ref(),
    )
    .await;
    if !answer.ok() {
        tracing::info!(status = %answer.status, "console sign-in refused");
        return views::login_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            "That admin token is not valid.",
        );
    }
    // A fresh nonce at sign-in: a CSRF token seen before sign-in is worth nothing after it.
    let session = ConsoleSession::fresh(Some(token));
    let mut response = see_other("/admin/console");
    response
        .headers_mut()
        .append(header::SET_COOKIE, session.set_cookie(&state));
    response
}

/// `POST /admin/console/logout`.
pub async fn logout(
    State(state): State<Services>,
    request_id: Rid,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    if let Err(r) = checked(&state, &headers, request_id, &form) {
        return r.into_response();
    }
    let mut response = see_other("/admin/console");
    response
        .headers_mut()
        .append(header::SET_COOKIE, ConsoleSession::clear_cookie(&state));
    response
}

/// `POST /admin/console/tenants`.
pub async fn create_tenant(
    State(state): State<Services>,
    request_id: Rid,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let op = match checked(&state, &headers, request_id, &form) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    let body = super::render::json_body(TENANT_FORM, &form);
    let answer = api::call(
        &state,
        &op.token,
        Method::POST,
        "/tenants",
        Some(&body),
        op.request_id.as_ref(),
    )
    .await;
    if answer.ok() {
        let slug = answer
            .body
            .get("slug")
            .and_then(Value::as_str)
            .unwrap_or("");
        return see_other(&format!("/admin/console/t/{}", enc(slug)));
    }
    let notice = super::render::problem(&answer);
    views::tenants_page(
        &state,
        &op,
        answer.status,
        &notice,
        &form,
        &answer.field_errors(),
    )
    .await
}

/// `POST /admin/console/t/{slug}/{section}`: creates a provider or an MCP server.
pub async fn create(
    State(state): State<Services>,
    Path((slug, section)): Path<(String, String)>,
    request_id: Rid,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let op = match checked(&state, &headers, request_id, &form) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    let Some((section, fields)) =
        Section::parse(&section).and_then(|s| Some((s, s.create_form()?)))
    else {
        return not_found();
    };
    let body = super::render::json_body(fields, &form);
    let path = format!("/tenants/{}/{}", enc(&slug), section.path());
    let answer = api::call(
        &state,
        &op.token,
        Method::POST,
        &path,
        Some(&body),
        op.request_id.as_ref(),
    )
    .await;
    if answer.ok() {
        return back(&slug, section, "created");
    }
    // The secret is never sent back to the browser, not even to refill the form.
    let mut values = form;
    values.remove("client_secret");
    section_views::section_page(
        &state,
        &op,
        &slug,
        section,
        &HashMap::new(),
        answer.status,
        "",
        Some(&answer),
        &values,
    )
    .await
}

/// `POST /admin/console/t/{slug}/{section}/{verb}`: rotate the signing key, flush the cache.
pub async fn section_action(
    State(state): State<Services>,
    Path((slug, section, verb)): Path<(String, String, String)>,
    request_id: Rid,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let op = match checked(&state, &headers, request_id, &form) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    let (api_path, page, needs_confirmation) = match (section.as_str(), verb.as_str()) {
        ("keys", "rotate") => ("keys/rotate", "keys", true),
        ("cache", "flush") => ("cache/flush", "", false),
        _ => return not_found(),
    };
    if needs_confirmation && !confirmed(&form) {
        return unconfirmed(&slug, page);
    }
    let path = format!("/tenants/{}/{api_path}", enc(&slug));
    let answer = api::call(
        &state,
        &op.token,
        Method::POST,
        &path,
        None,
        op.request_id.as_ref(),
    )
    .await;
    match (answer.ok(), Section::parse(page)) {
        (true, Some(s)) => back(&slug, s, "rotated"),
        (true, None) => see_other(&format!("/admin/console/t/{}", enc(&slug))),
        (false, _) => failed(&op, &answer),
    }
}

/// `POST /admin/console/t/{slug}/{section}/{id}/{verb}`: revoke a grant or consent, delete a
/// provider, server or client.
pub async fn row_action(
    State(state): State<Services>,
    Path((slug, section, id, verb)): Path<(String, String, String, String)>,
    request_id: Rid,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let op = match checked(&state, &headers, request_id, &form) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    let Some(section) = Section::parse(&section) else {
        return not_found();
    };
    let Some(action) = section.row_actions().iter().find(|a| a.verb == verb) else {
        return not_found();
    };
    if !confirmed(&form) {
        return unconfirmed(&slug, section.path());
    }
    let row = format!("/tenants/{}/{}/{}", enc(&slug), section.path(), enc(&id));
    let answer = match action.api_verb {
        Some(v) => {
            api::call(
                &state,
                &op.token,
                Method::POST,
                &format!("{row}/{v}"),
                None,
                op.request_id.as_ref(),
            )
            .await
        }
        None => {
            api::call(
                &state,
                &op.token,
                Method::DELETE,
                &row,
                None,
                op.request_id.as_ref(),
            )
            .await
        }
    };
    if answer.ok() {
        back(
            &slug,
            section,
            if action.api_verb.is_some() {
                "revoked"
            } else {
                "deleted"
            },
        )
    } else {
        failed(&op, &answer)
    }
}

/// `POST /admin/console/sweeper/run`.
pub async fn run_sweeper(
    State(state): State<Services>,
    request_id: Rid,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    let op = match checked(&state, &headers, request_id, &form) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    let answer = api::call(
        &state,
        &op.token,
        Method::POST,
        "/sweeper/run",
        None,
        op.request_id.as_ref(),
    )
    .await;
    if answer.ok() {
        see_other("/admin/console/sweeper?done=swept")
    } else {
        failed(&op, &answer)
    }
}

fn back(slug: &str, section: Section, done: &str) -> Response {
    see_other(&format!(
        "/admin/console/t/{}/{}?done={done}",
        enc(slug),
        section.path()
    ))
}

fn not_found() -> Response {
    crate::error::ErrorPage::new(
        StatusCode::NOT_FOUND,
        "Not found",
        "The console has no such page.",
    )
    .into_response()
}

fn unconfirmed(slug: &str, page: &str) -> Response {
    crate::error::ErrorPage::new(
        StatusCode::BAD_REQUEST,
        "Not confirmed",
        format!("Tick the confirmation box next to the button to do this (tenant {slug}, {page})."),
    )
    .into_response()
}

/// A refused action: the API's problem on a console page, with its status.
fn failed(op: &Operator, answer: &api::Answer) -> Response {
    let body = format!(
        "<h1>That did not work</h1>{}",
        super::render::problem(answer)
    );
    super::render::page(answer.status, "Refused", &op.csrf, &body)
}
