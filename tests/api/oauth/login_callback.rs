//! The upstream login's callback is bound to the browser that started it and used once
//! (login CSRF, replayed `state`).

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::oauth_support::{Flow, browser, location};

use super::setup_support::setup;

#[sqlx::test]
async fn a_callback_in_another_browser_or_a_replayed_state_is_refused(pool: PgPool) {
    let (_idp, app, client_id) = setup(&pool).await;
    let flow = Flow::new(&app, "acme", &client_id);
    let html = flow.get_authorize(&[]).await.text().await.unwrap();
    let upstream = flow.approve(&html).await;
    let callback = location(&flow.visit(&upstream).await);
    let r = browser().get(&callback).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a login fixation attempt"
    );
    let r = flow.visit(&callback).await;
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "the refused attempt left the authorization to the real browser"
    );
    let r = flow.visit(&callback).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the state was consumed by the first use"
    );
}
