//! The console's HTML: the page frame with its navigation, tables of API items, forms with
//! field-level errors (the API's problem details, each next to its field), pagination links.

use std::collections::HashMap;

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use serde_json::Value;

use super::api::Answer;
use crate::pages::{self, escape};

/// A console page (signed in): navigation to every section, and the sign-out form.
pub fn page(status: StatusCode, title: &str, csrf: &str, body: &str) -> Response {
    let nav = format!(
        "<strong>mcp-auth-bridge console</strong>\
<a href=\"/admin/console\">Tenants</a><a href=\"/admin/console/audit\">Audit log</a>\
<a href=\"/admin/console/cache\">Cache</a><a href=\"/admin/console/sweeper\">Sweeper</a>\
<a href=\"/admin/console/status\">Status</a>\
<form class=\"inline\" method=\"post\" action=\"/admin/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\">Sign out</button></form>"
    );
    bare(status, title, &nav, body)
}

/// A page with its own navigation (the sign-in page has none).
pub fn bare(status: StatusCode, title: &str, nav: &str, body: &str) -> Response {
    let mut response = (status, Html(pages::console_layout(title, nav, body))).into_response();
    pages::harden(response.headers_mut());
    response
}

/// One table column: the item's key and the header to show.
pub struct Column {
    pub key: &'static str,
    pub label: &'static str,
}

pub const fn col(key: &'static str, label: &'static str) -> Column {
    Column { key, label }
}

/// A table of `items`, with an extra last cell per row from `actions` (already HTML).
pub fn table(items: &[Value], columns: &[Column], actions: impl Fn(&Value) -> String) -> String {
    if items.is_empty() {
        return "<p class=\"muted\">Nothing here yet.</p>".into();
    }
    let head: String = columns
        .iter()
        .map(|c| format!("<th scope=\"col\">{}</th>", escape(c.label)))
        .collect();
    let rows: String = items
        .iter()
        .map(|item| {
            let cells: String = columns
                .iter()
                .map(|c| format!("<td>{}</td>", cell(item.get(c.key))))
                .collect();
            format!("<tr>{cells}<td>{}</td></tr>", actions(item))
        })
        .collect();
    format!(
        "<div class=\"table\"><table><thead><tr>{head}<th scope=\"col\"><span class=\"muted\">Actions</span></th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
}

/// One value as table text: strings as they are, lists joined, objects as compact JSON.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "<span class=\"muted\">—</span>".into(),
        Some(Value::String(s)) => escape(s),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => format!("<code>{}</code>", escape(s)),
                other => format!("<code>{}</code>", escape(&other.to_string())),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Some(other) => format!("<code>{}</code>", escape(&other.to_string())),
    }
}

/// The string at `key` of an item.
pub fn text<'a>(item: &'a Value, key: &str) -> &'a str {
    item.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A problem from the API, shown at the top of a page: its detail and each field error.
pub fn problem(answer: &Answer) -> String {
    let fields: String = answer
        .field_errors()
        .iter()
        .map(|(path, message)| {
            format!(
                "<li><code>{}</code>: {}</li>",
                escape(if path.is_empty() { "(body)" } else { path }),
                escape(message)
            )
        })
        .collect();
    let list = if fields.is_empty() {
        String::new()
    } else {
        format!("<ul>{fields}</ul>")
    };
    format!(
        "<div class=\"error\" role=\"alert\"><p><strong>{} {}</strong>: {}</p>{list}</div>",
        answer.status.as_u16(),
        escape(answer.status.canonical_reason().unwrap_or("Error")),
        escape(answer.detail())
    )
}

/// What a form field is.
pub enum Kind {
    Text,
    Secret,
    /// Whitespace- or comma-separated list.
    List,
    Number,
    Checkbox,
    Select(&'static [&'static str]),
}

pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub hint: &'static str,
}

pub const fn field(
    name: &'static str,
    label: &'static str,
    kind: Kind,
    required: bool,
    hint: &'static str,
) -> Field {
    Field {
        name,
        label,
        kind,
        required,
        hint,
    }
}

/// A form posting to `action` with the CSRF token; `values` refill it after an error, whose
/// field errors (`/name…` pointers) appear under their fields.
pub fn form(
    legend: &str,
    action: &str,
    csrf: &str,
    fields: &[Field],
    values: &HashMap<String, String>,
    errors: &[(String, String)],
    button: &str,
) -> String {
    let mut html = format!(
        "<form method=\"post\" action=\"{}\"><fieldset><legend>{}</legend><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(action),
        escape(legend),
        escape(csrf)
    );
    for f in fields {
        let id = format!("f-{}", f.name);
        let value = values.get(f.name).map(String::as_str).unwrap_or("");
        let required = if f.required { " required" } else { "" };
        let mark = if f.required { " *" } else { "" };
        let own_errors: String = errors
            .iter()
            .filter(|(path, _)| path.trim_start_matches('/').split('/').next() == Some(f.name))
            .map(|(_, m)| {
                format!(
                    "<p class=\"field-error\" id=\"{id}-error\">{}</p>",
                    escape(m)
                )
            })
            .collect();
        let described = if own_errors.is_empty() {
            String::new()
        } else {
            format!(" aria-invalid=\"true\" aria-describedby=\"{id}-error\"")
        };
        let input = match &f.kind {
            Kind::Checkbox => format!(
                "<input type=\"checkbox\" id=\"{id}\" name=\"{}\" value=\"true\"{}{described}>",
                f.name,
                if value == "true" { " checked" } else { "" }
            ),
            Kind::Select(options) => {
                let opts: String = options
                    .iter()
                    .map(|o| {
                        let selected = if *o == value { " selected" } else { "" };
                        format!("<option value=\"{o}\"{selected}>{o}</option>")
                    })
                    .collect();
                format!(
                    "<select id=\"{id}\" name=\"{}\"{required}{described}>{opts}</select>",
                    f.name
                )
            }
            Kind::Secret => format!(
                "<input type=\"password\" id=\"{id}\" name=\"{}\" autocomplete=\"off\"{required}{described}>",
                f.name
            ),
            _ => format!(
                "<input type=\"text\" id=\"{id}\" name=\"{}\" value=\"{}\"{required}{described}>",
                f.name,
                escape(value)
            ),
        };
        let hint = if f.hint.is_empty() {
            String::new()
        } else {
            format!(" <span class=\"muted\">({})</span>", escape(f.hint))
        };
        html.push_str(&format!(
            "<label for=\"{id}\">{}{mark}{hint}</label>{input}{own_errors}",
            escape(f.label)
        ));
    }
    html.push_str(&format!(
        "<p><button class=\"primary\" type=\"submit\">{}</button></p></fieldset></form>",
        escape(button)
    ));
    html
}

/// The form's values as the API's JSON body: empty fields left out, lists split, numbers
/// parsed (an unparsable number is sent as text, so the API's own field error names it).
pub fn json_body(fields: &[Field], values: &HashMap<String, String>) -> Value {
    let mut body = serde_json::Map::new();
    for f in fields {
        let raw = values.get(f.name).map(|v| v.trim()).unwrap_or("");
        let value = match f.kind {
            Kind::Checkbox => Value::Bool(raw == "true"),
            _ if raw.is_empty() => continue,
            Kind::List => Value::Array(
                raw.split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ),
            Kind::Number => raw
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(raw.to_owned())),
            _ => Value::String(raw.to_owned()),
        };
        body.insert(f.name.to_owned(), value);
    }
    Value::Object(body)
}

/// A one-button form (CSRF included), with a confirmation checkbox when `confirm` is set:
/// destructive actions need a second, deliberate step without JavaScript.
pub fn button(action: &str, csrf: &str, label: &str, confirm: bool) -> String {
    let check = if confirm {
        "<label class=\"inline\"><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> confirm</label> "
    } else {
        ""
    };
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{check}<button type=\"submit\"{}>{}</button></form>",
        escape(action),
        escape(csrf),
        if confirm { " class=\"danger\"" } else { "" },
        escape(label)
    )
}

/// "Next page" for a keyset-paged list: the API's `next_cursor` carried in the query string.
pub fn next_link(base: &str, query: &[(&str, &str)], cursor: Option<&str>) -> String {
    let Some(cursor) = cursor else {
        return String::new();
    };
    let mut q: Vec<String> = query
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", super::api::enc(v)))
        .collect();
    q.push(format!("cursor={}", super::api::enc(cursor)));
    format!(
        "<p><a class=\"button\" href=\"{}?{}\">Next page</a></p>",
        escape(base),
        escape(&q.join("&"))
    )
}
