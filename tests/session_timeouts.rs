//! Session timeouts enforced by the gateway itself: the browser keeps
//! sending the very same cookies, the dashboard never ends its own session,
//! and still the gateway stops forwarding once a timeout has passed. The
//! configuration allows no timeout under 60 s, so each test sleeps a little
//! over a minute; they run side by side.

mod common;

use std::time::Duration;

use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::{start_dashboard, Browser, Gateway};
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
async fn a_session_left_idle_past_its_timeout_is_sent_to_sign_in_and_one_in_use_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let idle = TIMEOUT.to_string();
    let settings = [("idle_timeout_seconds", idle.as_str()), ("lifetime_seconds", "3600")];
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &settings).await;
    let left = signed_in(&gw, "bob@acme.test", "bob-password").await;
    let used = signed_in(&gw, "alice@acme.test", "alice-password").await;

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
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_in_use_still_ends_at_its_configured_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let lifetime = TIMEOUT.to_string();
    let settings = [
        ("lifetime_seconds", lifetime.as_str()),
        ("idle_timeout_seconds", "3600"),
    ];
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &settings).await;
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
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_left_at_the_challenge_past_its_timeout_cannot_be_completed() {
    let dir = tempfile::tempdir().unwrap();
    let pending = TIMEOUT.to_string();
    let settings = [("pending_timeout_seconds", pending.as_str())];
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &settings).await;
    let mut setup = signed_in(&gw, "carol@globex.test", "carol-password").await;
    let (_, codes) = enable_totp(&mut setup, "carol-password").await;

    let mut late = Browser::new(gw.addr);
    try_held_sign_in(&mut late, "carol@globex.test", "carol-password")
        .await
        .expect("up");
    sleep_secs(TIMEOUT + 2).await;
    assert_eq!(
        try_challenge(&mut late, &codes[0]).await,
        Some(StatusCode::UNAUTHORIZED),
        "a sign-in held for {}s was completed",
        TIMEOUT + 2
    );
    assert!(!late.jar.contains_key("dash_session"), "nothing released");

    // The code was good: a fresh sign-in passes with it.
    let mut fresh = Browser::new(gw.addr);
    try_held_sign_in(&mut fresh, "carol@globex.test", "carol-password")
        .await
        .expect("up");
    assert_eq!(try_challenge(&mut fresh, &codes[0]).await, Some(StatusCode::NO_CONTENT));
    assert!(forwarded(&fresh).await);
}
