//! Session timeouts enforced by the gateway itself: the browser keeps
//! sending the very same cookies, the dashboard never ends its own session,
//! and still the gateway stops forwarding once a timeout has passed. The
//! configuration allows no timeout under 60 s, so each test sleeps a little
//! over a minute: two tests, which the test runner's two threads run side
//! by side.

mod common;

use std::time::Duration;

use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::{signed_out_at_dashboard, start_dashboard, Browser, Gateway};
use http::StatusCode;

const TIMEOUT: u64 = 60;

/// What `b`'s cookies get on the dashboard's home page: forwarded as a
/// signed-in user, or sent to sign in.
async fn forwarded(b: &Browser) -> bool {
    let page = b.clone().get("/").await;
    match page.status {
        StatusCode::OK => {
            assert!(page.text().contains("Signed in as"), "{}", page.text());
            true
        }
        StatusCode::SEE_OTHER => {
            assert_eq!(page.header("location"), Some("/login"), "sent to sign in");
            false
        }
        other => panic!("unexpected {other}: {}", page.text()),
    }
}

async fn signed_in(gw: &Gateway, email: &str, password: &str) -> Browser {
    let mut b = Browser::new(gw.addr);
    b.login(email, password).await;
    assert!(forwarded(&b).await, "{email} is signed in");
    b
}

async fn sleep_secs(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_and_an_unfinished_sign_in_end_at_their_timeouts_while_a_used_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = TIMEOUT.to_string();
    let settings = [
        ("idle_timeout_seconds", timeout.as_str()),
        ("pending_timeout_seconds", timeout.as_str()),
        ("lifetime_seconds", "3600"),
    ];
    let dashboard = start_dashboard();
    let gw = Gateway::start_configured(dashboard, dir.path(), &settings).await;
    let mut setup = signed_in(&gw, "carol@globex.test", "carol-password").await;
    let (_, codes) = enable_totp(&mut setup, "carol-password").await;
    let left = signed_in(&gw, "bob@acme.test", "bob-password").await;
    let used = signed_in(&gw, "alice@acme.test", "alice-password").await;
    let mut unfinished = Browser::new(gw.addr);
    try_held_sign_in(&mut unfinished, "carol@globex.test", "carol-password")
        .await
        .expect("up");

    // In use every 20 s: never idle for long, though older than the timeout.
    for _ in 0..3 {
        sleep_secs(TIMEOUT / 3).await;
        assert!(forwarded(&used).await, "a session in use is kept");
    }
    sleep_secs(2).await;
    assert!(forwarded(&used).await, "a session in use is kept past the idle timeout");
    assert!(
        !forwarded(&left).await,
        "a session unused for {}s was still forwarded",
        TIMEOUT + 2
    );
    let echo = left.clone().get("/echo/headers").await.json();
    assert_eq!(echo["cookie"], serde_json::Value::Null, "{echo}");
    assert!(
        signed_out_at_dashboard(dashboard, &left.jar["dash_session"]).await,
        "the idle session's dashboard session was left alive at the dashboard"
    );

    assert_eq!(
        try_challenge(&mut unfinished, &codes[0]).await,
        Some(StatusCode::UNAUTHORIZED),
        "a sign-in held for {}s was completed",
        TIMEOUT + 2
    );
    assert!(!unfinished.jar.contains_key("dash_session"), "nothing released");
    // The code was good: a fresh sign-in passes with it.
    let mut fresh = Browser::new(gw.addr);
    try_held_sign_in(&mut fresh, "carol@globex.test", "carol-password")
        .await
        .expect("up");
    assert_eq!(try_challenge(&mut fresh, &codes[0]).await, Some(StatusCode::NO_CONTENT));
    assert!(forwarded(&fresh).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_in_use_still_ends_at_its_configured_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let lifetime = TIMEOUT.to_string();
    let settings = [
        ("lifetime_seconds", lifetime.as_str()),
        ("idle_timeout_seconds", "3600"),
    ];
    let dashboard = start_dashboard();
    let gw = Gateway::start_configured(dashboard, dir.path(), &settings).await;
    let bob = signed_in(&gw, "bob@acme.test", "bob-password").await;

    for _ in 0..3 {
        sleep_secs(TIMEOUT / 4).await;
        assert!(forwarded(&bob).await, "within its lifetime");
    }
    sleep_secs(TIMEOUT / 4 + 2).await;
    assert!(
        !forwarded(&bob).await,
        "a session used every {}s was still forwarded {}s after sign-in",
        TIMEOUT / 4,
        TIMEOUT + 2
    );
    assert!(
        signed_out_at_dashboard(dashboard, &bob.jar["dash_session"]).await,
        "the session past its lifetime left its dashboard session alive"
    );
}
