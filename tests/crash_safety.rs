//! The gateway killed with SIGKILL in the middle of work: enrollments being
//! turned on and off, challenges passed with TOTP and recovery codes, and
//! unrelated traffic, all at once. After a restart on the same data, every
//! answer the gateway gave before it died still holds: a confirmed
//! enrollment is there, a disabled one is gone, and no code it accepted is
//! accepted again. Both on the embedded store and on PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::api::{enable_totp, try_begin_totp, try_challenge, try_confirm_totp, try_held_sign_in, try_json};
use common::tools::oathtool;
use common::{start_dashboard, Browser, Gateway, StoreKind};
use http::{Method, StatusCode};
use serde_json::json;

/// What an enrolling user was last told, and what was in flight.
#[derive(Debug, Default, Clone)]
struct Enroller {
    /// Recovery codes of the last confirmed enrollment, if TOTP is on.
    enabled: Option<Vec<String>>,
    /// A request that changes the state was sent and not answered.
    in_flight: bool,
    changes: u32,
}

/// What a signing-in user had accepted.
#[derive(Debug, Default, Clone)]
struct Challenger {
    totp_accepted: Option<String>,
    recovery_accepted: Vec<String>,
    in_flight: Option<String>,
}

/// Turns TOTP on and off until the gateway dies, or until `changes` state
/// changes were confirmed.
async fn enroll_and_disable(mut b: Browser, password: &'static str, changes: u32, log: Arc<Mutex<Enroller>>) {
    for change in 0..changes {
        if change % 2 == 0 {
            let Some(secret) = try_begin_totp(&mut b, password).await else {
                return;
            };
            log.lock().unwrap().in_flight = true;
            let Some(codes) = try_confirm_totp(&mut b, &oathtool(&secret, 0)).await else {
                return;
            };
            log.lock().unwrap().enabled = Some(codes);
        } else {
            log.lock().unwrap().in_flight = true;
            let body = json!({ "password": password });
            let Some(r) = try_json(&mut b, Method::POST, "/_2fa/api/totp/disable", body).await else {
                return;
            };
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            log.lock().unwrap().enabled = None;
        }
        let mut l = log.lock().unwrap();
        l.in_flight = false;
        l.changes += 1;
    }
}

/// Signs in with the next TOTP code, then with recovery codes, each in a
/// new browser, until the gateway dies or three codes are left.
async fn sign_in_again_and_again(
    addr: std::net::SocketAddr,
    email: &'static str,
    password: &'static str,
    secret: String,
    codes: Vec<String>,
    log: Arc<Mutex<Challenger>>,
) {
    // The current step was spent confirming the enrollment: use the next.
    let code = oathtool(&secret, 30);
    let mut b = Browser::new(addr);
    let Some(()) = try_held_sign_in(&mut b, email, password).await else {
        return;
    };
    log.lock().unwrap().in_flight = Some(code.clone());
    let Some(status) = try_challenge(&mut b, &code).await else {
        return;
    };
    assert_eq!(status, StatusCode::NO_CONTENT, "{email}'s TOTP code");
    *log.lock().unwrap() = Challenger {
        totp_accepted: Some(code),
        ..Default::default()
    };
    for code in &codes[..codes.len() - 3] {
        let mut b = Browser::new(addr);
        let Some(()) = try_held_sign_in(&mut b, email, password).await else {
            return;
        };
        log.lock().unwrap().in_flight = Some(code.clone());
        let Some(status) = try_challenge(&mut b, code).await else {
            return;
        };
        assert_eq!(status, StatusCode::NO_CONTENT, "{email}'s recovery code");
        let mut l = log.lock().unwrap();
        l.recovery_accepted.push(code.clone());
        l.in_flight = None;
    }
}

/// Requests that need no store write, to keep the event loop busy.
async fn background_traffic(addr: std::net::SocketAddr) {
    let mut b = Browser::new(addr);
    for path in ["/", "/_2fa/health", "/login"].iter().cycle() {
        if b.try_send(Method::GET, path, &[], bytes::Bytes::new()).await.is_err() {
            return;
        }
    }
}

async fn signed_in(addr: std::net::SocketAddr, email: &str, password: &str) -> Browser {
    let mut b = Browser::new(addr);
    assert_eq!(b.login(email, password).await.status, StatusCode::SEE_OTHER);
    assert!(
        b.jar.contains_key("dash_session"),
        "{email} signs in without a second factor"
    );
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_enrollment_and_revives_no_spent_code() {
    crash_under_load(StoreKind::Sled).await;
}

/// The same with the state in PostgreSQL: the database outlives the
/// process, and what it committed is what the gateway answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_on_postgres_loses_nothing_either() {
    crash_under_load(StoreKind::postgres()).await;
}

async fn crash_under_load(store: StoreKind) {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_on(&store, start_dashboard(), dir.path(), &[]).await;
    let addr = gw.addr;

    let mut carol = signed_in(addr, "carol@globex.test", "carol-password").await;
    let (carol_secret, carol_codes) = enable_totp(&mut carol, "carol-password").await;
    let mut dave = signed_in(addr, "dave@globex.test", "dave-password").await;
    let (dave_secret, dave_codes) = enable_totp(&mut dave, "dave-password").await;

    // Alice turns TOTP on and off without end, so a change is likely in
    // flight at the kill; Bob turns it on, off and on, and then the kill
    // comes within milliseconds of his last answer.
    let enrollers = [
        ("alice@acme.test", "alice-password", u32::MAX),
        ("bob@acme.test", "bob-password", 3),
    ];
    let mut enroll_logs = Vec::new();
    let mut tasks = Vec::new();
    for (email, password, changes) in enrollers {
        let log = Arc::new(Mutex::new(Enroller::default()));
        let b = signed_in(addr, email, password).await;
        tasks.push(tokio::spawn(enroll_and_disable(b, password, changes, log.clone())));
        enroll_logs.push((email, password, log));
    }
    let challengers = [
        ("carol@globex.test", "carol-password", carol_secret, carol_codes),
        ("dave@globex.test", "dave-password", dave_secret, dave_codes),
    ];
    let mut challenge_logs = Vec::new();
    for (email, password, secret, codes) in challengers {
        let log = Arc::new(Mutex::new(Challenger::default()));
        let task = sign_in_again_and_again(addr, email, password, secret, codes.clone(), log.clone());
        tasks.push(tokio::spawn(task));
        challenge_logs.push((email, password, codes, log));
    }
    for _ in 0..4 {
        tasks.push(tokio::spawn(background_traffic(addr)));
    }

    // Kill once every worker has had answers and more requests are coming.
    let started = Instant::now();
    loop {
        let enrolled = enroll_logs.iter().all(|(_, _, l)| l.lock().unwrap().changes >= 3);
        let challenged = challenge_logs
            .iter()
            .all(|(.., l)| l.lock().unwrap().recovery_accepted.len() >= 2);
        if enrolled && challenged {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the workers made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (addr, config) = gw.crash();
    let killed_at = Instant::now();
    for t in tasks {
        t.await.expect("a worker failed before the kill");
    }

    let _gw = Gateway::start_with(addr, config).await;
    for (email, password, log) in &enroll_logs {
        let log = log.lock().unwrap().clone();
        let mut b = Browser::new(addr);
        b.login(email, password).await;
        let on = !b.jar.contains_key("dash_session");
        if log.in_flight {
            continue; // Either answer is right for a change that was never confirmed.
        }
        match &log.enabled {
            Some(codes) => {
                assert!(on, "{email}'s confirmed enrollment was lost: {log:?}");
                let passed = try_challenge(&mut b, &codes[0]).await;
                assert_eq!(passed, Some(StatusCode::NO_CONTENT), "{email}'s recovery code");
            }
            None => assert!(!on, "{email}'s confirmed disable was lost: {log:?}"),
        }
    }
    let mut refused = 0;
    for (email, password, codes, log) in &challenge_logs {
        let log = log.lock().unwrap().clone();
        let spent = log.totp_accepted.iter().chain(log.recovery_accepted.iter().take(4));
        for code in spent {
            let mut b = Browser::new(addr);
            try_held_sign_in(&mut b, email, password).await.expect("gateway up");
            let again = try_challenge(&mut b, code).await;
            assert_eq!(again, Some(StatusCode::UNAUTHORIZED), "{email} reused {code}: {log:?}");
            refused += 1;
        }
        // The refusals above are not a broken store: an unspent code works.
        let unspent = codes
            .iter()
            .rev()
            .find(|c| Some(*c) != log.in_flight.as_ref())
            .expect("a code left");
        let mut b = Browser::new(addr);
        try_held_sign_in(&mut b, email, password).await.expect("gateway up");
        assert_eq!(
            try_challenge(&mut b, unspent).await,
            Some(StatusCode::NO_CONTENT),
            "{email}"
        );
    }
    assert!(
        killed_at.elapsed() < Duration::from_secs(60),
        "the TOTP codes were checked after they had expired anyway"
    );
    let states: Vec<String> = enroll_logs
        .iter()
        .map(|(e, _, l)| format!("{e}: {:?}", l.lock().unwrap().enabled.is_some()))
        .collect();
    println!(
        "after SIGKILL: {refused} spent codes refused; TOTP on: {}",
        states.join(", ")
    );
}
