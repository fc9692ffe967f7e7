//! The admin console (`/admin/console`): sign-in with an admin token into a Strict, HttpOnly
//! session; every page an admin API call with that token (tenant binding, field errors, audit);
//! CSRF on every form; destructive actions need their confirmation box.

use reqwest::{StatusCode, header::SET_COOKIE};
use sqlx::PgPool;

use super::support::{console_sign_in, csrf_of, grant_status, insert_grant, page};
use crate::{
    admin::{ACME, ROOT, admin_tokens},
    app_support::{spawn_app, test_config},
    gateway::setup,
    oauth_support::{browser, hidden_field, location},
};

#[sqlx::test]
async fn signing_in_sets_a_strict_httponly_session_and_a_wrong_token_is_refused(pool: PgPool) {
    let app = spawn_app(pool, test_config(&admin_tokens())).await;
    // A wrong token: the form again, 401, no session.
    let b = browser();
    let csrf = csrf_of(&app, &b, "/admin/console").await;
    let r = b
        .post(app.url("/admin/console/login"))
        .form(&[("csrf", csrf.as_str()), ("token", "not-a-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("not valid"));
    assert_eq!(
        page(&app, &b, "/admin/console/audit").await.0,
        StatusCode::SEE_OTHER
    );
    // The right one: a short-lived, HttpOnly, SameSite=Strict session that never shows the token.
    let csrf = csrf_of(&app, &b, "/admin/console").await;
    let r = b
        .post(app.url("/admin/console/login"))
        .form(&[("csrf", csrf.as_str()), ("token", ROOT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let max_age: u64 = cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1700..=1800).contains(&max_age),
        "a 30-minute session: {cookie}"
    );
    assert!(!cookie.contains(ROOT), "{cookie}");
    let (status, html) = page(&app, &b, "/admin/console").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Tenants") && html.contains("Sign out"),
        "{html}"
    );
    // Signing out ends it.
    let csrf = hidden_field(&html, "csrf");
    let r = b
        .post(app.url("/admin/console/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page(&app, &b, "/admin/console/audit").await.0,
        StatusCode::SEE_OTHER
    );
}

#[sqlx::test]
async fn a_sign_in_form_without_its_csrf_token_is_refused(pool: PgPool) {
    let app = spawn_app(pool, test_config(&admin_tokens())).await;
    let b = browser();
    csrf_of(&app, &b, "/admin/console").await;
    let r = b
        .post(app.url("/admin/console/login"))
        .form(&[("csrf", "forged"), ("token", ROOT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[sqlx::test]
async fn a_console_form_without_the_sessions_csrf_token_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool.clone(), test_config(&admin_tokens())).await;
    let b = console_sign_in(&app, ROOT).await;
    for csrf in ["forged", ""] {
        let r = b
            .post(app.url("/admin/console/tenants"))
            .form(&[("csrf", csrf), ("slug", "evil")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants WHERE slug = 'evil'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[sqlx::test]
async fn a_tenant_bound_token_sees_and_reaches_only_its_tenant(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    let root = console_sign_in(&s.app, ROOT).await;
    let csrf = csrf_of(&s.app, &root, "/admin/console").await;
    let r = root
        .post(s.app.url("/admin/console/tenants"))
        .form(&[("csrf", csrf.as_str()), ("slug", "other")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let theirs = insert_grant(&pool, "acme", "user-9").await;
    let bound = console_sign_in(&s.app, ACME).await;
    let (_, html) = page(&s.app, &bound, "/admin/console").await;
    assert!(html.contains("/admin/console/t/acme"), "{html}");
    assert!(!html.contains("/admin/console/t/other"), "{html}");
    let (status, _) = page(&s.app, &bound, "/admin/console/t/other/servers").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nor can it act there: the API refuses, whatever the form says.
    let csrf = csrf_of(&s.app, &bound, "/admin/console/t/acme/keys").await;
    let r = bound
        .post(s.app.url("/admin/console/t/other/keys/rotate"))
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // In its own tenant it works.
    let path = format!("/admin/console/t/acme/grants/{theirs}/revoke");
    let r = bound
        .post(s.app.url(&path))
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(grant_status(&pool, theirs).await, "revoked");
}

#[sqlx::test]
async fn an_operator_creates_a_tenant_provider_and_server_and_revokes_a_grant_from_the_console(
    pool: PgPool,
) {
    let s = setup(&pool, &admin_tokens()).await;
    let b = console_sign_in(&s.app, ROOT).await;
    let csrf = csrf_of(&s.app, &b, "/admin/console").await;
    let post = |path: &str, form: Vec<(&str, String)>| {
        let mut form = form;
        form.push(("csrf", csrf.clone()));
        b.post(s.app.url(path)).form(&form).send()
    };
    // 1. Tenant, provider (its secret write-only), MCP server.
    let r = post(
        "/admin/console/tenants",
        vec![("slug", "beta".into()), ("display_name", "Beta".into())],
    )
    .await
    .unwrap();
    assert_eq!(location(&r), "/admin/console/t/beta");
    let r = post(
        "/admin/console/t/beta/providers",
        vec![
            ("name", "kc".into()),
            ("kind", "keycloak".into()),
            ("issuer", s.idp.issuer()),
            ("client_id", "bridge".into()),
            ("client_secret", "top-secret-value".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let (_, html) = page(&s.app, &b, "/admin/console/t/beta/providers").await;
    assert!(html.contains("/t/beta/callback/kc"), "{html}");
    assert!(!html.contains("top-secret-value"), "{html}");
    let r = post(
        "/admin/console/t/beta/servers",
        vec![
            ("name", "tools".into()),
            ("url", "http://127.0.0.1:9/mcp".into()),
            ("scopes", "mcp mcp:tools".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let (_, html) = page(&s.app, &b, "/admin/console/t/beta/servers").await;
    assert!(html.contains(&s.app.url("/t/beta/mcp/tools")), "{html}");
    assert!(
        html.contains(
            &s.app
                .url("/.well-known/oauth-protected-resource/t/beta/mcp/tools")
        ),
        "{html}"
    );
    // 2. A grant found by user, revoked (the box ticked), gone from the active ones.
    let grant = insert_grant(&pool, "acme", "user-7").await;
    let (_, html) = page(
        &s.app,
        &b,
        "/admin/console/t/acme/grants?subject=user-7&status=active",
    )
    .await;
    assert!(html.contains(&grant.to_string()), "{html}");
    let path = format!("/admin/console/t/acme/grants/{grant}/revoke");
    let unconfirmed = post(&path, vec![]).await.unwrap();
    assert_eq!(unconfirmed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(grant_status(&pool, grant).await, "active");
    let r = post(&path, vec![("confirm", "yes".into())]).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(grant_status(&pool, grant).await, "revoked");
    let (_, html) = page(
        &s.app,
        &b,
        "/admin/console/t/acme/grants?subject=user-7&status=active",
    )
    .await;
    assert!(!html.contains(&grant.to_string()), "{html}");
    // 3. The audit log names the operator's token for each change.
    let (_, html) = page(&s.app, &b, "/admin/console/audit?action=grant.revoke").await;
    assert!(
        html.contains(&grant.to_string()) && html.contains("root"),
        "{html}"
    );
    let (_, html) = page(&s.app, &b, "/admin/console/audit?tenant=beta").await;
    for action in ["tenant.create", "provider.create", "mcp_server.create"] {
        assert!(html.contains(action), "{action}: {html}");
    }
    assert!(!html.contains("top-secret-value"), "{html}");
}

#[sqlx::test]
async fn a_refused_create_shows_the_apis_field_errors_next_to_their_fields(pool: PgPool) {
    let app = spawn_app(pool, test_config(&admin_tokens())).await;
    let b = console_sign_in(&app, ROOT).await;
    let csrf = csrf_of(&app, &b, "/admin/console").await;
    let r = b
        .post(app.url("/admin/console/tenants"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("slug", "Not A Slug!"),
            ("display_name", "Kept"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("class=\"field-error\" id=\"f-slug-error\""),
        "{html}"
    );
    // The form keeps what was typed.
    assert!(
        html.contains("value=\"Not A Slug!\"") && html.contains("value=\"Kept\""),
        "{html}"
    );
}

#[sqlx::test]
async fn the_status_page_shows_the_database_providers_and_charts_as_inline_svg(pool: PgPool) {
    let s = setup(&pool, &admin_tokens()).await;
    insert_grant(&pool, "acme", "user-3").await;
    let b = console_sign_in(&s.app, ROOT).await;
    let (status, html) = page(&s.app, &b, "/admin/console/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Database</dt><dd><span>ready"), "{html}");
    assert!(
        html.contains("<td>acme</td><td>kc</td><td>keycloak</td><td>1</td>"),
        "{html}"
    );
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 3, "{html}");
    assert!(!html.contains("<script"), "{html}");
}

#[sqlx::test]
async fn the_stylesheet_is_served_by_the_bridge_and_allowed_by_the_pages_csp(pool: PgPool) {
    let app = spawn_app(pool, test_config(&admin_tokens())).await;
    let css = app.get("/assets/console.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let page = app.get("/admin/console").await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("style-src 'self'"), "{csp}");
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("href=\"/assets/console.css\"")
    );
}
