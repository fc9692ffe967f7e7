//! Expired authorization codes are deleted in heap order (page by page, by `ctid`): every due
//! code goes whatever page it sits on, every live one stays, a stretch of pages without due
//! codes does not end the walk, and a code a request holds is skipped, not waited for.

use mcp_auth_bridge::sweeper::{CodeOrder, SweepOptions};
use sqlx::{Connection, PgConnection, PgPool};

use super::fixture::{Fixture, SECOND, now, sweeper};

fn order(code_order: CodeOrder, batch_size: u32) -> SweepOptions {
    SweepOptions {
        batch_size,
        max_batches_per_kind: 10_000,
        code_order,
        ..SweepOptions::default()
    }
}

/// `rounds` inserts of `due` expired codes followed by `live` live ones, so due and live rows
/// share pages all through the heap. Returns (due, live) hashes.
async fn interleaved(
    f: &Fixture,
    rounds: usize,
    due: usize,
    live: usize,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let g = f.grant(now()).await;
    let (mut d, mut l) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        d.extend(f.codes(g, due, now() - SECOND).await);
        l.extend(f.codes(g, live, now() + SECOND).await);
    }
    (d, l)
}

async fn heap_pages(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT pg_relation_size('authorization_codes') / current_setting('block_size')::int8",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn assert_exactly_the_live_codes_stay(f: &Fixture, due: &[Vec<u8>], live: &[Vec<u8>]) {
    assert_eq!(f.count("authorization_codes").await, live.len() as i64);
    for h in live {
        assert!(f.exists("authorization_codes", "code_hash", h).await);
    }
    for h in due.iter().step_by(97) {
        assert!(!f.exists("authorization_codes", "code_hash", h).await);
    }
}

#[sqlx::test]
async fn due_and_live_codes_sharing_every_page_go_and_stay_exactly(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let (due, live) = interleaved(&f, 40, 25, 25).await;
    assert!(heap_pages(&pool).await > 10, "the codes span many pages");

    // 30 does not divide the rows of a page: full batches end (and resume) mid-page.
    let report = sweeper(&pool)
        .with_options(order(CodeOrder::Heap, 30))
        .run_once(now())
        .await
        .unwrap();

    assert_eq!(report.deleted["authorization_codes"], 1_000);
    assert!(report.batches["authorization_codes"] >= 34, "{report:?}");
    assert_exactly_the_live_codes_stay(&f, &due, &live).await;
}

#[sqlx::test]
async fn the_expiry_order_the_benchmark_compares_with_deletes_the_same_codes(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let (due, live) = interleaved(&f, 40, 25, 25).await;

    let report = sweeper(&pool)
        .with_options(order(CodeOrder::Expiry, 30))
        .run_once(now())
        .await
        .unwrap();

    assert_eq!(report.deleted["authorization_codes"], 1_000);
    assert_eq!(
        report.batches["authorization_codes"], 34,
        "33 full and one of 10"
    );
    assert_exactly_the_live_codes_stay(&f, &due, &live).await;
}

#[sqlx::test]
async fn pages_without_due_codes_do_not_end_the_walk_before_the_codes_behind_them(pool: PgPool) {
    // Arrange: 3,000 live codes first (dozens of pages), the due ones only behind them.
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    let live = f.codes(g, 3_000, now() + SECOND).await;
    let live_pages = heap_pages(&pool).await;
    let due = f.codes(g, 250, now() - SECOND).await;
    assert!(live_pages > 40, "the live codes fill {live_pages} pages");

    // Act: ranges of 20 pages, so the first batches find nothing due and come back empty.
    let report = sweeper(&pool)
        .with_options(order(CodeOrder::Heap, 20))
        .run_once(now())
        .await
        .unwrap();

    assert_eq!(report.deleted["authorization_codes"], 250);
    assert!(
        i64::from(report.batches["authorization_codes"]) > live_pages / 20,
        "{report:?}"
    );
    assert_exactly_the_live_codes_stay(&f, &due, &live).await;
}

#[sqlx::test]
async fn a_code_a_request_holds_is_skipped_and_goes_in_the_next_sweep(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    let due = f.codes(g, 200, now() - SECOND).await;
    let held = &due[123];
    let mut request = PgConnection::connect_with(&pool.connect_options())
        .await
        .unwrap();
    let mut tx = request.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM authorization_codes WHERE code_hash = $1 FOR UPDATE")
        .bind(held)
        .execute(&mut *tx)
        .await
        .unwrap();

    // Within the lock timeout (2 s) or the batch would fail: the sweep must not wait.
    let report = sweeper(&pool)
        .with_options(order(CodeOrder::Heap, 50))
        .run_once(now())
        .await
        .unwrap();
    assert_eq!(report.deleted["authorization_codes"], 199);
    assert!(f.exists("authorization_codes", "code_hash", held).await);

    tx.rollback().await.unwrap();
    let next = sweeper(&pool).run_once(now()).await.unwrap();
    assert_eq!(next.deleted["authorization_codes"], 1);
    assert_eq!(f.count("authorization_codes").await, 0);
}

#[sqlx::test]
async fn with_no_code_due_the_heap_is_not_walked(pool: PgPool) {
    let f = Fixture::new(&pool).await;
    let g = f.grant(now()).await;
    f.codes(g, 500, now() + SECOND).await;

    let report = sweeper(&pool)
        .with_options(order(CodeOrder::Heap, 10))
        .run_once(now())
        .await
        .unwrap();

    assert_eq!(report.deleted["authorization_codes"], 0);
    assert_eq!(
        report.batches["authorization_codes"], 0,
        "no delete statement ran"
    );
    assert_eq!(f.count("authorization_codes").await, 500);
}
