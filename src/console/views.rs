//! The console's pages (GET): sign-in, tenants, a tenant's sections, audit log, cache, sweeper.

use std::collections::HashMap;

use axum::{
    Extension,
    extract::{Path, Query, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{
    Operator,
    api::{self, enc},
    operator,
    render::{self, col},
    sections::{Section, TENANT_FORM},
    session::ConsoleSession,
};
use crate::{pages::escape, services::Services, telemetry::request_id::RequestId};

pub(super) type Rid = Option<Extension<RequestId>>;

pub(super) fn rid(r: Rid) -> Option<RequestId> {
    r.map(|Extension(r)| r)
}

/// `GET /admin/console`: the sign-in form, or the tenants.
pub async fn home(State(state): State<Services>, request_id: Rid, headers: HeaderMap) -> Response {
    match operator(&state, &headers, rid(request_id)) {
        Ok(op) => tenants_page(&state, &op, StatusCode::OK, "", &HashMap::new(), &[]).await,
        Err(_) => login_page(&state, &headers, StatusCode::OK, ""),
    }
}

/// The sign-in form. The anonymous session it sets gives the form its CSRF token.
pub fn login_page(
    state: &Services,
    headers: &HeaderMap,
    status: StatusCode,
    error: &str,
) -> Response {
    let session =
        ConsoleSession::current(state, headers).unwrap_or_else(|| ConsoleSession::fresh(None));
    let error = if error.is_empty() {
        String::new()
    } else {
        format!(
            "<div class=\"error\" role=\"alert\"><p>{}</p></div>",
            escape(error)
        )
    };
    let body = format!(
        "<h1>Sign in to the console</h1>{error}\
<form method=\"post\" action=\"/admin/console/login\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label for=\"token\">Admin token</label><input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\" required autofocus>\
<p class=\"muted\">One of the tokens in <code>admin.tokens</code>. The session lasts 30 minutes; a tenant-bound token sees only its tenant.</p>\
<p><button class=\"primary\" type=\"submit\">Sign in</button></p></form>",
        csrf = session.csrf_token(state),
    );
    let mut response = render::bare(
        status,
        "Sign in",
        "<strong>mcp-auth-bridge console</strong>",
        &body,
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, session.set_cookie(state));
    response
}

/// The tenants and the create form (`values`/`errors` refill it after a refused create).
pub async fn tenants_page(
    state: &Services,
    op: &Operator,
    status: StatusCode,
    notice: &str,
    values: &HashMap<String, String>,
    errors: &[(String, String)],
) -> Response {
    let answer = api::call(
        state,
        &op.token,
        Method::GET,
        "/tenants",
        None,
        op.request_id.as_ref(),
    )
    .await;
    let mut body = format!("<h1>Tenants</h1>{notice}");
    if !answer.ok() {
        body.push_str(&render::problem(&answer));
    }
    let columns = [
        col("slug", "Slug"),
        col("display_name", "Display name"),
        col("status", "Status"),
        col("source", "Source"),
        col("issuer", "Issuer"),
    ];
    body.push_str(&render::table(&answer.items(), &columns, |t| {
        let slug = render::text(t, "slug");
        format!(
            "<a href=\"/admin/console/t/{}\">Open</a>",
            escape(&enc(slug))
        )
    }));
    body.push_str(&render::form(
        "New tenant",
        "/admin/console/tenants",
        &op.csrf,
        TENANT_FORM,
        values,
        errors,
        "Create tenant",
    ));
    render::page(status, "Tenants", &op.csrf, &body)
}

pub(super) fn tenant_nav(slug: &str) -> String {
    let links: String = Section::ALL
        .iter()
        .map(|s| {
            format!(
                "<a href=\"/admin/console/t/{}/{}\">{}</a> ",
                escape(&enc(slug)),
                s.path(),
                s.title()
            )
        })
        .collect();
    format!(
        "<nav aria-label=\"Tenant sections\"><p><a href=\"/admin/console/t/{}\">Overview</a> {links}</p></nav>",
        escape(&enc(slug))
    )
}

/// `GET /admin/console/t/{slug}`: the tenant and its section links.
pub async fn tenant(
    State(state): State<Services>,
    Path(slug): Path<String>,
    request_id: Rid,
    headers: HeaderMap,
) -> Response {
    let op = match operator(&state, &headers, rid(request_id)) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    let answer = api::call(
        &state,
        &op.token,
        Method::GET,
        &format!("/tenants/{}", enc(&slug)),
        None,
        op.request_id.as_ref(),
    )
    .await;
    let mut body = format!("<h1>Tenant {}</h1>{}", escape(&slug), tenant_nav(&slug));
    if answer.ok() {
        let rows: String = [
            "display_name",
            "status",
            "source",
            "issuer",
            "scopes",
            "access_token_ttl_seconds",
            "created_at",
            "updated_at",
        ]
        .iter()
        .map(|k| {
            format!(
                "<dt>{}</dt><dd>{}</dd>",
                escape(k),
                render::cell(answer.body.get(*k))
            )
        })
        .collect();
        body.push_str(&format!("<div class=\"card\"><dl>{rows}</dl></div>"));
        body.push_str(&format!(
            "<p>Account page for this tenant's users: <a href=\"{url}\">{url}</a></p>",
            url = escape(&format!("{}/account", state.issuer(&slug)))
        ));
        body.push_str(&render::button(
            &format!("/admin/console/t/{}/cache/flush", enc(&slug)),
            &op.csrf,
            "Flush this tenant's cached user contexts",
            false,
        ));
    } else {
        body.push_str(&render::problem(&answer));
    }
    render::page(answer.status, &format!("Tenant {slug}"), &op.csrf, &body)
}

pub fn notice(done: &str) -> String {
    format!(
        "<p class=\"notice\" role=\"status\">Done: {}.</p>",
        escape(done)
    )
}

/// `GET /admin/console/audit`: the audit log with the API's filters and cursor.
pub async fn audit(
    State(state): State<Services>,
    Query(query): Query<HashMap<String, String>>,
    request_id: Rid,
    headers: HeaderMap,
) -> Response {
    let op = match operator(&state, &headers, rid(request_id)) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    const FILTERS: [&str; 5] = ["tenant", "actor", "action", "target_type", "target_id"];
    let filters: Vec<(&str, &str)> = FILTERS
        .iter()
        .filter_map(|k| query.get(*k).map(|v| (*k, v.as_str())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let mut qs: Vec<String> = filters
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    if let Some(c) = query.get("cursor") {
        qs.push(format!("cursor={}", enc(c)));
    }
    let answer = api::call(
        &state,
        &op.token,
        Method::GET,
        &format!("/audit?{}", qs.join("&")),
        None,
        op.request_id.as_ref(),
    )
    .await;
    let inputs: String = FILTERS
        .iter()
        .map(|k| {
            let value = query.get(*k).map(String::as_str).unwrap_or("");
            format!("<label for=\"q-{k}\">{k}</label><input type=\"text\" id=\"q-{k}\" name=\"{k}\" value=\"{}\">", escape(value))
        })
        .collect();
    let mut body = format!(
        "<h1>Audit log</h1><form method=\"get\" action=\"/admin/console/audit\" role=\"search\"><fieldset><legend>Filter</legend>{inputs}<p><button type=\"submit\">Filter</button></p></fieldset></form>"
    );
    if !answer.ok() {
        body.push_str(&render::problem(&answer));
    }
    let columns = [
        col("at", "When"),
        col("actor", "Actor"),
        col("action", "Action"),
        col("target_type", "Target"),
        col("target_id", "Target id"),
        col("before", "Before"),
        col("after", "After"),
        col("request_id", "Request"),
    ];
    body.push_str(&render::table(&answer.items(), &columns, |_| String::new()));
    body.push_str(&render::next_link(
        "/admin/console/audit",
        &filters,
        answer.next_cursor(),
    ));
    render::page(answer.status, "Audit log", &op.csrf, &body)
}

/// `GET /admin/console/cache`: the user-context cache of this replica.
pub async fn cache(State(state): State<Services>, request_id: Rid, headers: HeaderMap) -> Response {
    let op = match operator(&state, &headers, rid(request_id)) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    let answer = api::call(
        &state,
        &op.token,
        Method::GET,
        "/cache",
        None,
        op.request_id.as_ref(),
    )
    .await;
    let mut body = "<h1>User-context cache</h1><p class=\"muted\">Of the replica that served this page. Flush a tenant's entries from its page.</p>".to_owned();
    body.push_str(&if answer.ok() {
        dl(&answer.body)
    } else {
        render::problem(&answer)
    });
    render::page(answer.status, "Cache", &op.csrf, &body)
}

/// `GET /admin/console/sweeper`: the last sweeper run, and a button to run it now.
pub async fn sweeper(
    State(state): State<Services>,
    Query(query): Query<HashMap<String, String>>,
    request_id: Rid,
    headers: HeaderMap,
) -> Response {
    let op = match operator(&state, &headers, rid(request_id)) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    let answer = api::call(
        &state,
        &op.token,
        Method::GET,
        "/sweeper",
        None,
        op.request_id.as_ref(),
    )
    .await;
    let notice = query
        .get("done")
        .map(String::as_str)
        .map(notice)
        .unwrap_or_default();
    let mut body = format!("<h1>Sweeper</h1>{notice}");
    if answer.ok() {
        body.push_str("<h2>Last run</h2>");
        body.push_str(&dl(answer.body.get("last_run").unwrap_or(&Value::Null)));
        body.push_str(&render::button(
            "/admin/console/sweeper/run",
            &op.csrf,
            "Run the sweeper now",
            false,
        ));
    } else {
        body.push_str(&render::problem(&answer));
    }
    render::page(answer.status, "Sweeper", &op.csrf, &body)
}

/// An object as a definition list.
pub fn dl(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let rows: String = map
                .iter()
                .map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", escape(k), render::cell(Some(v))))
                .collect();
            format!("<div class=\"card\"><dl>{rows}</dl></div>")
        }
        Value::Null => "<p class=\"muted\">None yet.</p>".into(),
        other => format!("<p><code>{}</code></p>", escape(&other.to_string())),
    }
}
