//! A burst of wrong codes, sent all at once on many connections: the
//! per-user limit still bounds how many are checked (each check may cost a
//! hash), and a signed-in user's traffic keeps flowing meanwhile.

mod common;

use std::time::{Duration, Instant};

use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::{start_dashboard, Browser, Gateway};
use http::StatusCode;

/// Well-formed recovery codes (so they are hashed and compared) that are wrong.
fn wrong_recovery_code(i: usize) -> String {
    format!("zzzz-zzzz-{:04}", i % 10_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_codes_is_bounded_and_does_not_hold_up_signed_in_users() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut carol = Browser::new(gw.addr);
    carol.login("carol@globex.test", "carol-password").await;
    enable_totp(&mut carol, "carol-password").await;
    let mut attacker = Browser::new(gw.addr);
    try_held_sign_in(&mut attacker, "carol@globex.test", "carol-password")
        .await
        .expect("up");

    let mut alice = Browser::new(gw.addr);
    alice.login("alice@acme.test", "alice-password").await;
    let mut before = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        assert_eq!(alice.get("/").await.status, StatusCode::OK);
        before.push(t.elapsed());
    }

    let burst: Vec<_> = (0..200)
        .map(|i| {
            let mut b = attacker.clone();
            tokio::spawn(async move { try_challenge(&mut b, &wrong_recovery_code(i)).await.expect("up") })
        })
        .collect();
    let mut during = Vec::new();
    while during.len() < 50 || burst.iter().any(|t| !t.is_finished()) {
        let t = Instant::now();
        assert_eq!(alice.get("/").await.status, StatusCode::OK, "signed-in traffic goes on");
        during.push(t.elapsed());
    }
    let mut checked = 0;
    let mut refused = 0;
    for t in burst {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected answer to a wrong code: {other}"),
        }
    }
    assert!(
        checked <= 10,
        "{checked} wrong codes were checked; the limit is 10 per user"
    );
    assert_eq!(checked + refused, 200);

    before.sort();
    during.sort();
    let median = |v: &[Duration]| v[v.len() / 2];
    println!(
        "wrong codes: {checked} checked, {refused} refused; signed-in GET median {:?} before, {:?} during (max {:?})",
        median(&before),
        median(&during),
        during.last().unwrap()
    );
    assert!(
        *during.last().unwrap() < Duration::from_secs(2),
        "a signed-in request waited {:?} behind the burst",
        during.last().unwrap()
    );
}
