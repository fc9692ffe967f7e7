//! `docs/configuration.md`, rendered from the configuration's JSON Schema so that the reference
//! cannot drift from the code: every key, its type, default and doc comment, one table per
//! section. `mcp-auth-bridge config-reference` prints it; a test fails when the committed file
//! differs.

use std::fmt::Write;

use serde_json::{Map, Value};

/// The whole Markdown document.
pub fn markdown() -> String {
    let schema: Value = serde_json::from_str(&super::json_schema()).unwrap_or(Value::Null);
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the configuration's JSON Schema by `mcp-auth-bridge config-reference`\n\
         (`cargo run -q -- config-reference > docs/configuration.md`; a test fails when this file\n\
         is stale). A commented example: [`config/example.toml`](../config/example.toml).\n\n\
         Every key can also be set from the environment: `MCP_AUTH_BRIDGE__` + the key path with\n\
         `__` between levels (`MCP_AUTH_BRIDGE__AUTH__CACHE_TTL=10m`). Secret keys marked *secret*\n\
         also take `<key>_file` (a path) or `<key>_env` (a variable name). Durations are written\n\
         like `30s`, `5m`, `1h`, `30days`.\n",
    );
    let mut rows = Vec::new();
    if let Some(root) = schema.as_object() {
        collect(&schema, root, "", None, &mut rows);
    }
    let mut section = None;
    for row in rows {
        let top = row
            .key
            .split(['.', '['])
            .next()
            .unwrap_or_default()
            .to_owned();
        if section.as_ref() != Some(&top) {
            let _ = write!(
                out,
                "\n## `{top}`\n\n| key | type | default | description |\n|---|---|---|---|\n"
            );
            section = Some(top);
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            row.key,
            cell(&row.ty),
            cell(&row.default),
            cell(&row.description)
        );
    }
    out
}

struct Row {
    key: String,
    ty: String,
    default: String,
    description: String,
}

/// Walks `object`'s properties; nested objects (through `$ref`) become `parent.child`, arrays
/// of objects `parent[].child`, maps `parent.<id>`.
fn collect(
    root: &Value,
    object: &Map<String, Value>,
    prefix: &str,
    parent_default: Option<&Value>,
    rows: &mut Vec<Row>,
) {
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, property) in properties {
        let key = format!("{prefix}{name}");
        let default = property
            .get("default")
            .or_else(|| parent_default.and_then(|d| d.get(name)));
        let target = resolve(root, property);
        if let Some(nested) = target.filter(|t| t.get("properties").is_some()) {
            collect(root, nested, &format!("{key}."), default, rows);
            continue;
        }
        let items = property.get("items").and_then(|i| resolve(root, i));
        if let Some(nested) = items.filter(|t| t.get("properties").is_some()) {
            rows.push(Row {
                key: key.clone(),
                ty: "array of tables".into(),
                default: default.map(render_default).unwrap_or_else(|| "—".into()),
                description: description(property, target),
            });
            collect(root, nested, &format!("{key}[]."), None, rows);
            continue;
        }
        // Secret keys have `_file` and `_env` siblings (see `secrets_schema`).
        let secret = properties.contains_key(&format!("{name}_file"));
        rows.push(Row {
            ty: match secret {
                true => format!("{}, *secret*", type_of(root, property)),
                false => type_of(root, property),
            },
            default: default.map(render_default).unwrap_or_else(|| {
                if required.contains(&name.as_str()) {
                    "required".into()
                } else {
                    "—".into()
                }
            }),
            description: description(property, target),
            key,
        });
    }
}

/// The object a property points at through `$ref` or `allOf: [{$ref}]`.
fn resolve<'a>(root: &'a Value, property: &'a Value) -> Option<&'a Map<String, Value>> {
    match reference(property) {
        Some(r) => root
            .pointer(r.trim_start_matches('#'))
            .and_then(Value::as_object),
        None => property.as_object(),
    }
}

/// The `$ref` of a property, also inside `allOf` or an optional's `anyOf: [{$ref}, null]`.
fn reference(property: &Value) -> Option<&str> {
    let wrapped = ["allOf", "anyOf"].into_iter().find_map(|k| {
        property
            .get(k)?
            .as_array()?
            .iter()
            .find_map(|branch| branch.get("$ref"))
    });
    property.get("$ref").or(wrapped).and_then(Value::as_str)
}

fn description(property: &Value, target: Option<&Map<String, Value>>) -> String {
    property
        .get("description")
        .or_else(|| target?.get("description"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn type_of(root: &Value, property: &Value) -> String {
    if reference(property).is_some_and(|r| r.ends_with("/HumanDuration")) {
        return "duration".into();
    }
    let target = resolve(root, property).map(|m| Value::Object(m.clone()));
    let schema = target.as_ref().unwrap_or(property);
    if let Some(values) = enum_values(schema) {
        return format!("one of {values}");
    }
    let base = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "string".into(),
    };
    let base = match (base.as_str(), schema.get("format").and_then(Value::as_str)) {
        ("string", Some("uri")) => "URL".to_owned(),
        _ => base,
    };
    match (base.as_str(), property.get("items")) {
        ("array", Some(items)) => format!("array of {}", type_of(root, items)),
        ("object", _) if schema.get("additionalProperties").is_some() => {
            "table (id → value)".into()
        }
        _ => base,
    }
}

/// `a`, `b` or `c` for enums, also across `oneOf` branches (serde's documented variants).
fn enum_values(schema: &Value) -> Option<String> {
    let mut values = Vec::new();
    if let Some(list) = schema.get("enum").and_then(Value::as_array) {
        values.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    for branch in schema
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let list = branch.get("enum").and_then(Value::as_array)?;
        values.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    (!values.is_empty()).then(|| {
        values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

fn render_default(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// One table cell: no line breaks, no unescaped `|`.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}
