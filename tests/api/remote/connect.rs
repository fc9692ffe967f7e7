//! First call elicits; connecting; calls then reach the remote with the user's remote token.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use super::support::{connect_in, elicited_url, setup};

#[sqlx::test]
async fn the_first_call_elicits_and_after_connecting_calls_reach_the_remote_with_its_own_token(
    pool: PgPool,
) {
    let s = setup(&pool).await;
    let user = s.user().await;

    // 1. initialize without a connection: a URL elicitation, nothing sent to the remote's /mcp.
    let init = s.initialize(&user.token, true).await;
    assert_eq!(init["id"], 1);
    let first_url = elicited_url(&init);
    assert!(first_url.starts_with(&s.app.url("/t/acme/remote/connect?link=")));
    assert_eq!(
        s.remote.counters().mcp_ok + s.remote.counters().mcp_unauthorized,
        0
    );
    assert_eq!(
        s.remote.counters().prm,
        0,
        "nothing discovered before the user connects"
    );

    // 2. tools/call elicits too, with another one-time link.
    let url = elicited_url(&s.whoami(&user.token, 2).await);
    assert_ne!(url, first_url);

    // 3. The user opens it in the browser they signed in with: PKCE, state, resource.
    let done = connect_in(&user.flow.browser, &url).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("connected"));
    let asked = s.remote.last_authorize().unwrap();
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["resource"], s.remote.mcp_url());
    assert_eq!(asked["scope"], "wiki.read");
    assert!(asked["state"].len() >= 32);
    let counters = s.remote.counters();
    assert_eq!(counters.register, 1, "one dynamic registration");
    assert_eq!(counters.token_code, 1, "one code exchange per connect");

    // 4. Calls now succeed as the remote user, with the remote's token only.
    let me = s.whoami(&user.token, 3).await;
    assert_eq!(me["result"]["structuredContent"]["user"], "remote-alice");
    let list = s
        .post(
            &user.token,
            json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
        )
        .await;
    assert_eq!(list.status(), StatusCode::OK);
    let issued = s.remote.issued_access_tokens();
    for seen in s.remote.mcp_authorizations() {
        let token = seen.strip_prefix("Bearer ").unwrap();
        assert!(
            issued.iter().any(|t| t == token),
            "only the remote's own tokens"
        );
        assert!(
            !seen.contains(&user.token),
            "the client's token never reaches the remote"
        );
    }
    assert_eq!(s.remote.counters().mcp_ok, 2);
    assert_eq!(s.remote.counters().token_code, 1);
    assert_eq!(s.remote.counters().token_refresh, 0);
}

#[sqlx::test]
async fn a_client_without_url_elicitation_gets_the_connect_url_in_a_plain_error(pool: PgPool) {
    let s = setup(&pool).await;
    let user = s.user().await;

    let init = s.initialize(&user.token, false).await;

    assert_eq!(
        init["error"]["code"], -32001,
        "not -32042: the client did not declare it"
    );
    let message = init["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&s.app.url("/t/acme/remote/connect?link=")),
        "{message}"
    );
    let later = s.whoami(&user.token, 2).await;
    assert_eq!(later["error"]["code"], -32001);
}

#[sqlx::test]
async fn a_connect_link_works_once(pool: PgPool) {
    let s = setup(&pool).await;
    let user = s.user().await;
    s.initialize(&user.token, true).await;
    let url = elicited_url(&s.whoami(&user.token, 2).await);
    assert_eq!(
        connect_in(&user.flow.browser, &url).await.status(),
        StatusCode::OK
    );

    let again = user.flow.browser.get(&url).send().await.unwrap();

    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(s.remote.counters().authorize, 1);
}
