//! Server-rendered HTML: small, readable, no JavaScript, no external assets, never framed.

use axum::http::{HeaderMap, HeaderValue, header};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1d1d1f;line-height:1.5}\
h1{font-size:1.4rem}.box{border:1px solid #d2d2d7;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}\
.warn{background:#fff4e5;border-color:#f5a623}dt{font-weight:600}dd{margin:0 0 .6rem 0;word-break:break-all}\
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem;border-radius:6px;border:1px solid #888;cursor:pointer}\
button.primary{background:#0a66c2;color:#fff;border-color:#0a66c2}code{word-break:break-all}";

/// The page frame every HTML response shares.
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\"><title>{}</title><style>{STYLE}</style></head>\
<body>{body}</body></html>",
        escape(title)
    )
}

pub fn error_page(title: &str, message: &str) -> String {
    layout(
        title,
        &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(message)),
    )
}

/// The consoles' one stylesheet (account page, admin console), served by the bridge at
/// [`STYLESHEET_PATH`]: no CDN, readable on a phone, visible focus, contrast at least 4.5:1.
pub const CONSOLE_CSS: &str = include_str!("pages/console.css");

/// Where [`CONSOLE_CSS`] is served.
pub const STYLESHEET_PATH: &str = "/assets/console.css";

/// `GET /assets/console.css`.
pub async fn stylesheet() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        CONSOLE_CSS,
    )
        .into_response()
}

/// The frame of a console page: the shared stylesheet, a header with `nav` (already HTML), a
/// skip link for keyboard users, and `body` in `<main>`.
pub fn console_layout(title: &str, nav: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\"><title>{title}</title>\
<link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\"></head><body>\
<a class=\"skip\" href=\"#main\">Skip to content</a><header class=\"top\">{nav}</header>\
<main id=\"main\">{body}</main></body></html>",
        title = escape(title)
    )
}

/// Headers every HTML page carries: no framing (clickjacking), no caching, no sniffing, and a
/// CSP that allows only inline styles and same-origin form posts.
pub fn harden(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape("<script>\"x\"&'"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;"
        );
    }
}
