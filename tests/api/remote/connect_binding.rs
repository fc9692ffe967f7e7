//! A connection is attached only to the user the link was made for, in the browser that started
//! it: another user cannot attach their remote account to this user, nor make this user finish
//! a flow they started.

use reqwest::{StatusCode, header};
use sqlx::PgPool;

use super::support::{elicited_url, setup};
use crate::oauth_support::{browser, location};

#[sqlx::test]
async fn a_connect_link_opened_by_another_signed_in_user_is_refused(pool: PgPool) {
    let s = setup(&pool).await;
    let victim = s.user().await;
    s.initialize(&victim.token, true).await;
    let url = elicited_url(&s.whoami(&victim.token, 2).await);
    // The attacker's browser: the bridge remembers it as another user of the tenant.
    let cookie = mcp_auth_bridge::cookies::remember_user(&s.app.state, "acme", "mallory");
    let name_value = cookie
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let opened = browser()
        .get(&url)
        .header(header::COOKIE, name_value)
        .send()
        .await
        .unwrap();

    assert_eq!(opened.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.remote.counters().authorize, 0, "never sent to the remote");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM remote_connections")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[sqlx::test]
async fn a_callback_in_a_browser_that_did_not_start_the_connect_is_refused(pool: PgPool) {
    let s = setup(&pool).await;
    let user = s.user().await;
    s.initialize(&user.token, true).await;
    let url = elicited_url(&s.whoami(&user.token, 2).await);
    // The attacker starts the flow with the link, then hands the remote's authorization URL
    // (or the callback) to someone else's browser.
    let started = user.flow.browser.get(&url).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::FOUND);
    let at_remote = browser().get(location(&started)).send().await.unwrap();
    let callback = location(&at_remote);

    let finished = browser().get(&callback).send().await.unwrap();

    assert_eq!(finished.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        s.remote.counters().token_code,
        0,
        "the code was never redeemed"
    );
    let again = user.flow.browser.get(&callback).send().await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "and the attempt is spent"
    );
    let me = s.whoami(&user.token, 3).await;
    assert_eq!(me["error"]["code"], -32042, "still not connected");
}
