//! With three replicas on PostgreSQL, a signed-in request is answered from
//! the replica's memory: a thousand of them, spread over the replicas, run
//! no statement on the gateway's tables (`pg_stat_statements`, exact the
//! moment a statement ends) and open no transaction of their own
//! (`pg_stat_database`, which lags: see tests/common/pg.rs, so it is read
//! after the replicas have closed their connections, and bounded by the
//! listeners' periodic pings rather than compared to zero).

mod common;

use std::time::Duration;

use common::cluster::{cluster, status_at};
use common::signed_in_as;
use http::StatusCode;

/// Calls of statements that name one of the gateway's tables.
fn statements_on_our_tables(pg: &common::pg::Postgres) -> u64 {
    pg.psql(
        "tfa",
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements \
         WHERE query ~ 'tfa_' AND query !~ 'pg_stat_statements'",
    )
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_signed_in_requests_over_three_replicas_touch_no_database() {
    let mut c = cluster(3).await;
    c.pg.psql("tfa", "CREATE EXTENSION pg_stat_statements");
    let mut users = Vec::new();
    for email in ["bob@acme.test", "carol@globex.test", "dave@globex.test"] {
        users.push(signed_in_as(c.addr(0), email).await);
    }
    // Each replica sees each session once (one read), and asks the
    // dashboard who the user is once (one write, in the background).
    for b in &mut users {
        for i in 0..3 {
            assert_eq!(status_at(&c, b, i).await, StatusCode::OK);
            c.at(b, i);
            assert_eq!(b.get("/").await.status, StatusCode::OK);
        }
    }
    // Past the 10 s a server process may hold its counts back.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let (statements, transactions) = (statements_on_our_tables(&c.pg), c.pg.transactions("tfa"));

    for n in 0..1_000 {
        let b = &mut users[n % 3];
        c.at(b, n / 3);
        let r = b.get("/").await;
        assert_eq!(r.status, StatusCode::OK, "request {n}");
    }

    assert_eq!(
        statements_on_our_tables(&c.pg) - statements,
        0,
        "a signed-in request ran a statement on the gateway's tables"
    );
    c.replicas.clear();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let more = c.pg.transactions("tfa") - transactions;
    // Three listeners ping every 2 s (and publish those counts only as they
    // close); a transaction per request would be over a thousand.
    assert!(more < 100, "{more} transactions during 1,000 signed-in requests");
}
