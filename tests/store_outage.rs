//! The shared database goes away under running replicas and comes back:
//! signed-in users go on from memory, anything that must write answers 503
//! with a plain message, no replica exits, the outage is logged once and
//! shown by `tfa_store_up`, and each replica catches up by itself, also
//! with a change it missed while its listening connection was gone.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::api::try_json;
use common::cluster::{cluster, status_at, within_a_second, Cluster};
use common::{admin_of, signed_in_as, Browser};
use http::{Method, StatusCode};
use serde_json::json;

/// A request to replica `i`'s admin API.
async fn admin(c: &Cluster, i: usize, method: Method, path: &str, body: &str) -> common::Response {
    let (addr, token) = admin_of(&c.replicas[i].config);
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    Browser::new(addr)
        .send(method, path, &headers, Bytes::from(body.to_string()))
        .await
}

async fn store_up(c: &Cluster, i: usize) -> Option<u64> {
    common::try_metric(&c.replicas[i].config, "tfa_store_up").await
}

/// Waits up to `secs` for replica `i`'s gauge to read `want`.
async fn gauge_becomes(c: &Cluster, i: usize, want: u64, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while store_up(c, i).await != Some(want) {
        assert!(
            Instant::now() < deadline,
            "replica {i}: tfa_store_up never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_fails_closed_and_the_replicas_recover_by_themselves() {
    let mut c = cluster(2).await;
    let mut bob = signed_in_as(c.addr(0), "bob@acme.test").await;
    assert_eq!(status_at(&c, &mut bob, 1).await, StatusCode::OK, "seen by both");
    gauge_becomes(&c, 0, 1, 5).await;

    c.pg.stop();
    // Signed-in users go on from memory, on both replicas.
    for i in 0..2 {
        c.at(&mut bob, i);
        let home = bob.get("/").await;
        assert!(home.text().contains("Signed in as bob@acme.test"), "replica {i}");
    }
    // A sign-in cannot be recorded: 503, in words.
    let mut carol = Browser::new(c.addr(0));
    let refused = carol.login("carol@globex.test", "carol-password").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        refused.text().contains("could not record your sign-in"),
        "{}",
        refused.text()
    );
    assert!(
        !carol.jar.contains_key("dash_session"),
        "no dashboard session handed out"
    );
    // A change a user asks for: 503 with a plain message.
    c.at(&mut bob, 1);
    let change = try_json(
        &mut bob,
        Method::POST,
        "/_2fa/api/totp/enroll",
        json!({"password": "bob-password"}),
    )
    .await
    .unwrap();
    assert_eq!(change.status, StatusCode::SERVICE_UNAVAILABLE, "{}", change.text());
    assert_eq!(change.json()["error"], "unavailable");
    // An operator's change: 503.
    let activation = admin(
        &c,
        0,
        Method::PUT,
        "/admin/accounts/acme/activation",
        r#"{"active":false}"#,
    )
    .await;
    assert_eq!(activation.status, StatusCode::SERVICE_UNAVAILABLE);
    for i in 0..2 {
        gauge_becomes(&c, i, 0, 10).await;
        assert!(
            c.replicas[i].child.try_wait().unwrap().is_none(),
            "replica {i} must not exit"
        );
        // Still serving (bob, from memory), and saying the store is down.
        let health = Browser::new(c.addr(i)).get("/_2fa/health").await;
        assert_eq!(health.status, StatusCode::OK, "replica {i}");
        assert_eq!(health.json(), json!({"status": "ok", "store": "down"}), "replica {i}");
    }
    // More refused requests add no log lines: the outage is said once.
    for _ in 0..5 {
        Browser::new(c.addr(0))
            .login("carol@globex.test", "carol-password")
            .await;
    }

    c.pg.start_again();
    for i in 0..2 {
        gauge_becomes(&c, i, 1, 15).await;
    }
    let mut carol = signed_in_as(c.addr(1), "carol@globex.test").await;
    assert_eq!(
        status_at(&c, &mut carol, 0).await,
        StatusCode::OK,
        "served by the other too"
    );
    for i in 0..2 {
        let log = c.log(i);
        assert_eq!(
            log.matches("the store is unreachable:").count(),
            1,
            "replica {i}: {log}"
        );
        assert_eq!(
            log.matches("the store is reachable again").count(),
            1,
            "replica {i}: {log}"
        );
        assert!(
            !log.contains("cannot record a sign-in"),
            "a log line per refused request: {log}"
        );
    }
}

/// A change announced while a replica's listening connection was gone is
/// not lost: the replica re-reads what it holds when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_missed_while_disconnected_is_caught_up() {
    let c = cluster(2).await;
    let mut bob = signed_in_as(c.addr(0), "bob@acme.test").await;
    assert_eq!(status_at(&c, &mut bob, 1).await, StatusCode::OK, "replica 1 holds it");
    // Replica 1's listener is cut off (it reconnects after half a second);
    // bob signs out through replica 0 meanwhile.
    let listeners = c.pg.psql(
        "tfa",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'tfa-gateway listener'",
    );
    assert_eq!(listeners, "2");
    let jar = bob.jar.clone();
    c.at(&mut bob, 0);
    bob.send(Method::POST, "/logout", &[], Bytes::new()).await;
    bob.jar = jar;
    within_a_second(&c, &mut bob, 0, StatusCode::UNAUTHORIZED, "signed out here").await;
    // Within the reconnection and a resync, replica 1 has let it go too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while status_at(&c, &mut bob, 1).await != StatusCode::UNAUTHORIZED {
        assert!(
            Instant::now() < deadline,
            "replica 1 still serves a session ended elsewhere"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The sessions leave first; the line comes once the users are read
    // again, a few store queries later.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.log(1).contains("caught up with the store") {
        assert!(Instant::now() < deadline, "{}", c.log(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
