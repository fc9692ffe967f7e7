//! The OpenAPI document at `/admin/v1/openapi.json` and a docs page at `/admin/docs`.
//!
//! The page is rendered on the server from the same document, with no JavaScript and no
//! external assets: the usual UIs (Swagger UI, Redoc, Scalar, RapiDoc) either download their
//! assets at build time or load them from a CDN at run time, and this page must work on an
//! air-gapped install. Both are public: they describe the API, they grant nothing.

use axum::{
    Json,
    response::{Html, IntoResponse, Response},
};
use serde_json::Value;

use crate::pages::{escape, harden};

pub async fn openapi_json() -> Response {
    Json(super::openapi()).into_response()
}

pub async fn page() -> Response {
    let doc = serde_json::to_value(super::openapi()).unwrap_or_default();
    let mut response = Html(render(&doc)).into_response();
    harden(response.headers_mut());
    response
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f;line-height:1.45}\
h2{margin-top:2rem;border-bottom:1px solid #d2d2d7}.op{border:1px solid #d2d2d7;border-radius:8px;padding:.6rem 1rem;margin:.8rem 0}\
.m{font-weight:700;text-transform:uppercase;margin-right:.5rem}code{background:#f5f5f7;padding:0 .2rem}\
table{border-collapse:collapse;margin:.3rem 0}td,th{border:1px solid #e5e5ea;padding:.15rem .5rem;text-align:left;vertical-align:top}";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn text(v: &Value, key: &str) -> String {
    escape(v.get(key).and_then(Value::as_str).unwrap_or(""))
}

/// The last segment of a `$ref`, i.e. the schema's name.
fn ref_name(v: &Value) -> Option<String> {
    let r = v.get("$ref")?.as_str()?;
    r.rsplit('/').next().map(str::to_owned)
}

fn render(doc: &Value) -> String {
    let info = &doc["info"];
    let mut body = format!(
        "<h1>{} <small>{}</small></h1><p>{}</p><p>Machine-readable: \
         <a href=\"/admin/v1/openapi.json\"><code>/admin/v1/openapi.json</code></a>. Every \
         endpoint needs <code>Authorization: Bearer &lt;admin token&gt;</code>; errors are \
         <code>application/problem+json</code> (RFC 9457).</p>",
        text(info, "title"),
        text(info, "version"),
        text(info, "description"),
    );
    body.push_str("<h2>Endpoints</h2>");
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                body.push_str(&operation(method, path, op));
            }
        }
    }
    body.push_str("<h2>Schemas</h2>");
    for (name, schema) in doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        body.push_str(&schema_table(name, schema));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width,initial-scale=1\"><title>Admin API</title><style>{STYLE}</style>\
         </head><body>{body}</body></html>"
    )
}

fn operation(method: &str, path: &str, op: &Value) -> String {
    let mut out = format!(
        "<div class=\"op\" id=\"{id}\"><span class=\"m\">{method}</span><code>{path}</code>\
         <p>{summary}</p>",
        id = text(op, "operationId"),
        path = escape(path),
        summary = text(op, "summary"),
    );
    let params: Vec<String> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(p, "name"),
                text(p, "in"),
                if p["required"].as_bool() == Some(true) {
                    "required"
                } else {
                    ""
                },
                text(p, "description"),
            )
        })
        .collect();
    if !params.is_empty() {
        out.push_str("<table><tr><th>parameter</th><th>in</th><th></th><th></th></tr>");
        out.push_str(&params.concat());
        out.push_str("</table>");
    }
    let body_schema = op
        .pointer("/requestBody/content/application~1json/schema")
        .cloned()
        .unwrap_or_default();
    if let Some(name) = ref_name(&body_schema) {
        out.push_str(&format!(
            "<p>Body: <a href=\"#schema-{n}\"><code>{n}</code></a></p>",
            n = escape(&name)
        ));
    }
    out.push_str("<table><tr><th>status</th><th>description</th><th>body</th></tr>");
    for (status, response) in op["responses"].as_object().into_iter().flatten() {
        let schema = response["content"]
            .as_object()
            .and_then(|c| c.values().next())
            .map(|c| c["schema"].clone())
            .unwrap_or_default();
        let name = ref_name(&schema).unwrap_or_default();
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(status),
            text(response, "description"),
            escape(&name)
        ));
    }
    out.push_str("</table></div>");
    out
}

fn schema_table(name: &str, schema: &Value) -> String {
    let mut out = format!(
        "<div class=\"op\" id=\"schema-{n}\"><strong>{n}</strong><p>{}</p>",
        text(schema, "description"),
        n = escape(name)
    );
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| escape(&v.to_string())).collect();
        out.push_str(&format!(
            "<p>One of: <code>{}</code></p>",
            values.join(", ")
        ));
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if let Some(props) = schema["properties"].as_object() {
        out.push_str("<table><tr><th>field</th><th>type</th><th></th><th></th></tr>");
        for (field, p) in props {
            let ty = ref_name(p)
                .or_else(|| p.get("type").map(|t| t.to_string().replace('"', "")))
                .unwrap_or_default();
            out.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(field),
                escape(&ty),
                if required.contains(&field.as_str()) {
                    "required"
                } else {
                    ""
                },
                text(p, "description"),
            ));
        }
        out.push_str("</table>");
    }
    out.push_str("</div>");
    out
}
