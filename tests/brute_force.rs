//! Wrong codes in bulk. A burst for one user, sent all at once on many
//! connections: the per-user limit still bounds how many are checked (each
//! check may cost a hash). A flood for many users: the hashing waits for a
//! few permits on the blocking pool, so a gateway with a single event-loop
//! thread still serves signed-in users at once.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::api::{held_at_challenge, try_challenge, try_held_sign_in, wrong_recovery_code};
use common::{crowd, start_dashboard, Browser, Gateway};
use http::StatusCode;
use tfa_gateway::{env::Env, recovery};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_codes_for_one_user_checks_no_more_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let attacker = held_at_challenge(gw.addr, "carol@globex.test", "carol-password")
        .await
        .held;

    let burst: Vec<_> = (0..200)
        .map(|i| {
            let mut b = attacker.clone();
            tokio::spawn(async move { try_challenge(&mut b, &wrong_recovery_code(i)).await.expect("up") })
        })
        .collect();
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

    println!("wrong codes at once: {checked} checked, {refused} refused");
}

/// How long one recovery-code check's hash takes on this machine, measured
/// here while the gateway is idle: the median of a few.
fn one_hash() -> Duration {
    let env = Env::real();
    let code = recovery::generate(&env).swap_remove(0);
    let stored = recovery::hash_set(&env, &[code]).expect("a hash");
    let mut times: Vec<Duration> = (0..5)
        .map(|i| {
            let t = Instant::now();
            assert_eq!(recovery::find(&wrong_recovery_code(i), &[Some(&stored[0])]), None);
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_wrong_codes_for_many_users_does_not_slow_signed_in_requests_on_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    // One event-loop thread: a hash run on it would stall every request.
    // Limits high enough that no attacker is locked out during the flood.
    let settings = [
        ("threads", "1"),
        ("max_failures_per_user", "100"),
        ("max_failures_per_client", "1000"),
    ];
    let gw = Gateway::start_configured(crowd::start(), dir.path(), &settings).await;
    let attackers = 24;
    crowd::enroll(gw.addr, attackers).await;
    let mut user = Browser::new(gw.addr);
    user.login(&crowd::email(attackers), crowd::PASSWORD).await;
    assert!(user.jar.contains_key("dash_session"), "signed in without 2FA");
    let hash = one_hash();

    let stop = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..attackers)
        .map(|i| {
            let (stop, checked) = (stop.clone(), checked.clone());
            let mut b = Browser::from_ip(gw.addr, &format!("127.0.0.{}", 2 + i % 4));
            tokio::spawn(async move {
                try_held_sign_in(&mut b, &crowd::email(i), crowd::PASSWORD)
                    .await
                    .expect("up");
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    match try_challenge(&mut b, &wrong_recovery_code(n)).await.expect("up") {
                        StatusCode::UNAUTHORIZED => checked.fetch_add(1, Ordering::Relaxed),
                        // The user's limit: only if the measurement dragged on.
                        StatusCode::TOO_MANY_REQUESTS => break,
                        other => panic!("wrong code {n} of user {i}: {other}"),
                    };
                    n += 1;
                }
            })
        })
        .collect();

    // Measure once the first answers came back: every attacker has a code
    // in flight from then on, one hashing and the rest waiting their turn.
    let started = Instant::now();
    while checked.load(Ordering::Relaxed) < 3 {
        assert!(started.elapsed() < Duration::from_secs(60), "the flood never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut during = Vec::new();
    let measuring = Instant::now();
    // Sixty samples, or fewer if they are slow: slow enough to fail anyway.
    while during.len() < 60 && (during.len() < 5 || measuring.elapsed() < Duration::from_secs(10)) {
        let t = Instant::now();
        assert_eq!(user.get("/").await.status, StatusCode::OK, "signed-in traffic goes on");
        during.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let checked_meanwhile = checked.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for t in flood {
        t.await.expect("an attacker failed");
    }

    during.sort();
    let median = during[during.len() / 2];
    println!(
        "one hash {hash:?}; {attackers} users flooding, {checked_meanwhile} wrong codes checked; \
         signed-in GET median {median:?}, max {:?}",
        during[during.len() - 1]
    );
    assert!(
        checked_meanwhile >= 10,
        "only {checked_meanwhile} codes were checked: no flood to measure against"
    );
    assert!(
        median < hash,
        "signed-in requests took {median:?} (median) while wrong codes were hashed; one hash is {hash:?}"
    );
}
