//! The wrong-code limits across client addresses, end to end. Each browser
//! here connects from its own loopback address (127.0.0.2, .3, ...), and the
//! gateway, which trusts no X-Forwarded-For, counts by that socket address:
//! a user's limit holds whichever addresses the guesses come from, and an
//! address's limit holds whichever users it guesses for.

mod common;

use common::api::{enable_totp, try_challenge, try_held_sign_in, wrong_recovery_code};
use common::{crowd, start_dashboard, Browser, Gateway};
use http::StatusCode;

/// A challenge answered from `ip` after a fresh sign-in from there.
async fn answer_from(gw: &Gateway, ip: &str, email: &str, password: &str, code: &str) -> StatusCode {
    let mut b = Browser::from_ip(gw.addr, ip);
    try_held_sign_in(&mut b, email, password).await.expect("up");
    try_challenge(&mut b, code).await.expect("up")
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_codes_for_one_user_from_many_addresses_lock_that_user_at_every_address() {
    let dir = tempfile::tempdir().unwrap();
    // Ten addresses, one guess each: each stays far below its own limit of 30.
    let settings = [("max_failures_per_user", "10"), ("max_failures_per_client", "30")];
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &settings).await;
    let mut codes = Vec::new();
    for (email, password) in [
        ("carol@globex.test", "carol-password"),
        ("dave@globex.test", "dave-password"),
    ] {
        let mut b = Browser::new(gw.addr);
        b.login(email, password).await;
        codes.push(enable_totp(&mut b, password).await.1);
    }
    let (carol, dave) = (&codes[0], &codes[1]);

    for i in 0..10 {
        let ip = format!("127.0.0.{}", 2 + i);
        let status = answer_from(&gw, &ip, "carol@globex.test", "carol-password", &wrong_recovery_code(i)).await;
        let expected = if i < 9 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "wrong code {} from {ip}", i + 1);
    }
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.42"] {
        let status = answer_from(&gw, ip, "carol@globex.test", "carol-password", &carol[0]).await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "carol is locked, even for her right code from {ip}"
        );
    }
    // The addresses themselves are not locked: another user passes from one.
    let status = answer_from(&gw, "127.0.0.2", "dave@globex.test", "dave-password", &dave[0]).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "dave from an address that guessed once");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_guessing_for_many_users_is_stopped_while_other_addresses_may_still_try() {
    let dir = tempfile::tempdir().unwrap();
    let users = 8;
    let settings = [("max_failures_per_user", "10"), ("max_failures_per_client", "6")];
    let gw = Gateway::start_configured(crowd::start(), dir.path(), &settings).await;
    let codes = crowd::enroll(gw.addr, users).await;

    // One guess per user, far below each user's limit of 10.
    let attacker = "127.0.0.2";
    for i in 0..6 {
        let status = answer_from(
            &gw,
            attacker,
            &crowd::email(i),
            crowd::PASSWORD,
            &wrong_recovery_code(i),
        )
        .await;
        let expected = if i < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(
            status,
            expected,
            "guess {} from {attacker}, for {}",
            i + 1,
            crowd::email(i)
        );
    }
    let status = answer_from(&gw, attacker, &crowd::email(6), crowd::PASSWORD, &codes[6][0]).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is locked, even for a user it never guessed for, with a right code"
    );

    // Another address may still try, for the same users, and gets through.
    let other = "127.0.0.3";
    let status = answer_from(&gw, other, &crowd::email(7), crowd::PASSWORD, &wrong_recovery_code(7)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a wrong code from {other} is checked");
    for i in [0, 6] {
        let status = answer_from(&gw, other, &crowd::email(i), crowd::PASSWORD, &codes[i][0]).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{} from {other}", crowd::email(i));
    }
}
