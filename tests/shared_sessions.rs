//! One session held by several gateways on one PostgreSQL, each with its
//! own copy in memory: what one replica knows must not undo what another
//! did. A replica that saw a session idle does not end it while the user
//! works through another (each saves its sessions' activity to the store
//! every minute, or every quarter of a shorter idle timeout, and when it
//! stops), neither on a request nor in its sweep; and the activity a
//! replica saves does not write over a password confirmed through another.

mod common;

use std::time::{Duration, Instant};

use common::api::try_begin_totp;
use common::cluster::{cluster, cluster_with, Cluster};
use common::{alive_at_dashboard, signed_in_as, signed_out_at_dashboard, Browser};
use http::StatusCode;

/// The configuration's shortest idle timeout.
const IDLE: u64 = 60;

/// Whether replica `i` forwards `b` to the dashboard as signed in.
async fn forwarded_at(c: &Cluster, b: &mut Browser, i: usize) -> bool {
    c.at(b, i);
    let page = b.clone().get("/").await;
    match page.status {
        StatusCode::OK => page.text().contains("Signed in as carol@globex.test"),
        StatusCode::SEE_OTHER => false,
        other => panic!("replica {i}: unexpected {other}: {}", page.text()),
    }
}

/// Requests through replica `i` every 5 s, each forwarded, until `until`.
async fn use_through(c: &Cluster, b: &mut Browser, i: usize, until: Instant, what: &str) {
    while Instant::now() < until {
        assert!(forwarded_at(c, b, i).await, "{what}");
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_secs(5))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_in_use_through_one_replica_is_not_ended_by_those_that_saw_it_idle() {
    let idle = IDLE.to_string();
    let c = cluster_with(3, &[("idle_timeout_seconds", &idle)]).await;
    let mut carol = signed_in_as(c.addr(0), "carol@globex.test").await;
    let dashboard_cookie = carol.jar["dash_session"].clone();
    let start = Instant::now();
    let until = |secs: u64| start + Duration::from_secs(secs);
    // Replica 0 sees her once, at the start, and replica 2 once, 7 s in; 1
    // serves her throughout, and saves her activity every quarter of the
    // idle timeout.
    let what = "in use through replica 1, ended by a replica that saw it idle";
    assert!(forwarded_at(&c, &mut carol, 0).await);
    use_through(&c, &mut carol, 1, until(7), what).await;
    assert!(forwarded_at(&c, &mut carol, 2).await);
    use_through(&c, &mut carol, 1, until(IDLE + 8), what).await;
    // Replica 2's copy has just idled out, half-way between two of its
    // sweeps (each replica sweeps every 15 s from its start, just before
    // the sign-in): the request finds it so.
    assert!(
        forwarded_at(&c, &mut carol, 2).await,
        "replica 2 ended, on a request, a session in use through replica 1"
    );
    // Replica 0's sweep has met its idle copy by now.
    let what = "replica 0's sweep ended a session in use through replica 1";
    use_through(&c, &mut carol, 1, until(IDLE + 8 + IDLE / 4 + 5), what).await;
    assert!(forwarded_at(&c, &mut carol, 0).await, "read again through replica 0");
    assert!(
        alive_at_dashboard(c.dashboard, &dashboard_cookie).await,
        "her dashboard session was signed out"
    );

    // Unused everywhere for the timeout, it ends wherever it is seen next.
    tokio::time::sleep(Duration::from_secs(IDLE + 5)).await;
    assert!(
        !forwarded_at(&c, &mut carol, 2).await,
        "idle everywhere, still forwarded"
    );
    assert!(!forwarded_at(&c, &mut carol, 1).await, "ended on one, alive on another");
    assert!(
        signed_out_at_dashboard(c.dashboard, &dashboard_cookie).await,
        "her dashboard session outlived her session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_saved_by_one_replica_keeps_a_password_confirmed_through_another() {
    let mut c = cluster(3).await;
    let mut carol = signed_in_as(c.addr(0), "carol@globex.test").await;
    assert!(forwarded_at(&c, &mut carol, 1).await, "replica 1 holds her session");
    // The password confirmed through 0 (enrollment begun there)...
    c.at(&mut carol, 0);
    let secret = try_begin_totp(&mut carol, "carol-password").await.expect("up");
    // ...while replica 1 saves its own copy's activity, as it stops.
    c.stop_and_start(1).await;
    // Replica 2 reads the session from the store: the confirmation is
    // there, so the enrollment's page shows (it asks for the password
    // again otherwise).
    c.at(&mut carol, 2);
    let page = carol.get("/_2fa/settings/totp/setup").await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the confirmation made through replica 0 was lost: {:?}",
        page.header("location")
    );
    let shown: String = page
        .text()
        .split("id=\"secret\"")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect();
    let key: String = shown
        .split(['>', '<'])
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(key, secret, "the enrollment begun through replica 0");
}
