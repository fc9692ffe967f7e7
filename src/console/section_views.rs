//! A tenant's section page (GET): its list with filters and paging, row actions and the
//! create form; the actions' pages (`actions.rs`) show it again with what was refused.

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{
    Operator,
    api::{self, Answer, enc},
    operator, render,
    sections::Section,
    views::{Rid, notice, rid, tenant_nav},
};
use crate::{pages::escape, services::Services};

/// `GET /admin/console/t/{slug}/{section}`.
pub async fn section(
    State(state): State<Services>,
    Path((slug, section)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    request_id: Rid,
    headers: HeaderMap,
) -> Response {
    let op = match operator(&state, &headers, rid(request_id)) {
        Ok(op) => op,
        Err(r) => return r.into_response(),
    };
    let Some(section) = Section::parse(&section) else {
        return render::page(
            StatusCode::NOT_FOUND,
            "Not found",
            &op.csrf,
            "<h1>Not found</h1>",
        );
    };
    let notice = query
        .get("done")
        .map(String::as_str)
        .map(notice)
        .unwrap_or_default();
    section_page(
        &state,
        &op,
        &slug,
        section,
        &query,
        StatusCode::OK,
        &notice,
        None,
        &HashMap::new(),
    )
    .await
}

/// A tenant section: filters, the list, paging, row actions and the create form. `failed` is
/// a refused create or action, shown at the top with the form refilled from `values`.
#[allow(
    clippy::too_many_arguments,
    reason = "a page is many small inputs; a struct would only rename them"
)]
pub async fn section_page(
    state: &Services,
    op: &Operator,
    slug: &str,
    section: Section,
    query: &HashMap<String, String>,
    status: StatusCode,
    notice: &str,
    failed: Option<&Answer>,
    values: &HashMap<String, String>,
) -> Response {
    let base = format!("/admin/console/t/{}/{}", enc(slug), section.path());
    let (path, filters) = list_path(slug, section, query);
    let answer = api::call(
        state,
        &op.token,
        Method::GET,
        &path,
        None,
        op.request_id.as_ref(),
    )
    .await;
    let mut body = format!(
        "<h1>{} <span class=\"muted\">of {}</span></h1>{}{notice}",
        section.title(),
        escape(slug),
        tenant_nav(slug)
    );
    if let Some(f) = failed {
        body.push_str(&render::problem(f));
    }
    if !answer.ok() {
        body.push_str(&render::problem(&answer));
        return render::page(answer.status, section.title(), &op.csrf, &body);
    }
    if !section.filters().is_empty() {
        body.push_str(&filter_form(&base, section, query));
    }
    let mut items = answer.items();
    if section == Section::Servers {
        add_prm_urls(state, slug, &mut items);
    }
    body.push_str(&render::table(&items, section.columns(), |item| {
        row_buttons(op, &base, section, item)
    }));
    if section.paged() {
        body.push_str(&render::next_link(&base, &filters, answer.next_cursor()));
    }
    if section == Section::Keys {
        body.push_str(&render::button(
            &format!("{base}/rotate"),
            &op.csrf,
            "Rotate the signing key",
            true,
        ));
    }
    if let Some(fields) = section.create_form() {
        let errors = failed.map(Answer::field_errors).unwrap_or_default();
        body.push_str(&render::form(
            &format!("New {}", section.title().trim_end_matches('s')),
            &base,
            &op.csrf,
            fields,
            values,
            &errors,
            "Create",
        ));
    }
    render::page(status, section.title(), &op.csrf, &body)
}

/// The admin API path listing `section` with the page's filters (and cursor, when paged),
/// and the filters alone (for the next-page link).
fn list_path<'q>(
    slug: &str,
    section: Section,
    query: &'q HashMap<String, String>,
) -> (String, Vec<(&'static str, &'q str)>) {
    let mut api_query: Vec<(&'static str, &str)> = section
        .filters()
        .iter()
        .filter_map(|k| query.get(*k).map(|v| (*k, v.as_str())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let filters = api_query.clone();
    if let Some(cursor) = query.get("cursor").filter(|_| section.paged()) {
        api_query.push(("cursor", cursor));
    }
    let qs: Vec<String> = api_query
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    let path = format!(
        "/tenants/{}/{}{}{}",
        enc(slug),
        section.path(),
        if qs.is_empty() { "" } else { "?" },
        qs.join("&")
    );
    (path, filters)
}

/// Each MCP server's protected-resource metadata URL, shown beside it.
fn add_prm_urls(state: &Services, slug: &str, items: &mut [Value]) {
    for item in items.iter_mut() {
        let prm = state
            .urls
            .protected_resource_metadata(slug, render::text(item, "name"));
        if let Value::Object(map) = item {
            map.insert("prm_url".into(), Value::String(prm));
        }
    }
}

fn row_buttons(op: &Operator, base: &str, section: Section, item: &Value) -> String {
    let id = item
        .get(section.id_key())
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
        .unwrap_or_default();
    let live = render::text(item, "status") != "revoked"
        && item.get("revoked_at").is_none_or(Value::is_null);
    section
        .row_actions()
        .iter()
        .filter(|a| live || !a.only_live)
        .map(|a| {
            render::button(
                &format!("{base}/{}/{}", enc(&id), a.verb),
                &op.csrf,
                a.label,
                true,
            )
        })
        .collect()
}

fn filter_form(base: &str, section: Section, query: &HashMap<String, String>) -> String {
    let inputs: String = section
        .filters()
        .iter()
        .map(|k| {
            let value = query.get(*k).map(String::as_str).unwrap_or("");
            if *k == "status" {
                let opts: String = ["", "active", "needs_reauth", "revoked"]
                    .iter()
                    .map(|o| format!("<option value=\"{o}\"{}>{}</option>", if *o == value { " selected" } else { "" }, if o.is_empty() { "any" } else { o }))
                    .collect();
                format!("<label for=\"q-{k}\">{k}</label><select id=\"q-{k}\" name=\"{k}\">{opts}</select>")
            } else {
                format!("<label for=\"q-{k}\">{k}</label><input type=\"text\" id=\"q-{k}\" name=\"{k}\" value=\"{}\">", escape(value))
            }
        })
        .collect();
    format!(
        "<form method=\"get\" action=\"{}\" role=\"search\"><fieldset><legend>Search</legend>{inputs}<p><button type=\"submit\">Search</button></p></fieldset></form>",
        escape(base)
    )
}
