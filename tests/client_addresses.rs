//! The wrong-code limits across client addresses, end to end. Each browser
//! here connects from its own loopback address (127.0.0.2, .3, ...), and the
//! gateway, which trusts no X-Forwarded-For, counts by that socket address:
//! a user's limit holds whichever addresses the guesses come from, and an
//! address's limit holds whichever users it guesses for, except that a
//! locked address still lets a user with a clean count in (behind a shared
//! address, one attacker must not lock out everyone), and one user's success
//! there does not wipe out its guesses for others.

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
async fn one_address_guessing_for_many_users_is_stopped_for_each_while_other_addresses_may_still_try() {
    let dir = tempfile::tempdir().unwrap();
    let users = 8;
    let settings = [("max_failures_per_user", "10"), ("max_failures_per_client", "6")];
    let gw = Gateway::start_configured(crowd::start(), dir.path(), &settings).await;
    let codes = crowd::enroll(gw.addr, users).await;
    let guess = |i: usize, ip: &'static str| {
        let gw = &gw;
        async move { answer_from(gw, ip, &crowd::email(i), crowd::PASSWORD, &wrong_recovery_code(i)).await }
    };

    // One guess per user, far below each user's limit of 10; the sixth
    // reaches the address's limit.
    let attacker = "127.0.0.2";
    for i in 0..6 {
        assert_eq!(
            guess(i, attacker).await,
            StatusCode::UNAUTHORIZED,
            "first guess for user {i}"
        );
    }
    // Past it, a user who already failed may fail once more from there (a
    // person may mistype twice), and then no longer: two guesses per user.
    for i in 0..6 {
        for nth in ["second", "third"] {
            let status = guess(i, attacker).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{nth} guess for user {i}");
        }
    }
    let status = answer_from(&gw, attacker, &crowd::email(6), crowd::PASSWORD, &codes[6][0]).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "a user the address never guessed for still passes from it with a right code"
    );

    // Another address may still try, for the same users, and gets through.
    let other = "127.0.0.3";
    assert_eq!(
        guess(7, other).await,
        StatusCode::UNAUTHORIZED,
        "a wrong code from {other} is checked"
    );
    let status = answer_from(&gw, other, &crowd::email(0), crowd::PASSWORD, &codes[0][0]).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{} from {other}", crowd::email(0));
}

/// `email` signed in from `ip` and held at the challenge, to answer it
/// several times in one pending session.
async fn held_from(gw: &Gateway, ip: &str, email: &str) -> Browser {
    let mut b = Browser::from_ip(gw.addr, ip);
    try_held_sign_in(&mut b, email, crowd::PASSWORD).await.expect("up");
    b
}

#[tokio::test(flavor = "multi_thread")]
async fn a_success_on_the_attackers_own_account_does_not_reset_what_the_address_did_to_others() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [("max_failures_per_user", "10"), ("max_failures_per_client", "30")];
    let gw = Gateway::start_configured(crowd::start(), dir.path(), &settings).await;
    let codes = crowd::enroll(gw.addr, 5).await;
    let attacker = "127.0.0.2";

    // Nine wrong codes for each of three victims: 27, each victim one short.
    let mut n = 0;
    for victim in 0..3 {
        let mut b = held_from(&gw, attacker, &crowd::email(victim)).await;
        for _ in 0..9 {
            n += 1;
            let status = try_challenge(&mut b, &wrong_recovery_code(n)).await.expect("up");
            assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong code {n}");
        }
    }
    // The attacker passes on an account of their own, from the same address.
    let mut own = held_from(&gw, attacker, &crowd::email(4)).await;
    assert_eq!(
        try_challenge(&mut own, &codes[4][0]).await,
        Some(StatusCode::NO_CONTENT)
    );

    // The address's count goes on from 27: the 30th wrong code locks it.
    let mut fourth = held_from(&gw, attacker, &crowd::email(3)).await;
    for expected in [
        StatusCode::UNAUTHORIZED,
        StatusCode::UNAUTHORIZED,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        n += 1;
        let status = try_challenge(&mut fourth, &wrong_recovery_code(n)).await.expect("up");
        assert_eq!(status, expected, "wrong code {n} from {attacker}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attacker_failing_on_their_own_accounts_behind_a_shared_address_locks_nobody_else_out() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [("max_failures_per_user", "10"), ("max_failures_per_client", "6")];
    let gw = Gateway::start_configured(crowd::start(), dir.path(), &settings).await;
    let codes = crowd::enroll(gw.addr, 4).await;
    // Everyone comes through one proxy the gateway does not know about.
    let proxy = "127.0.0.9";

    let mut own = held_from(&gw, proxy, &crowd::email(0)).await;
    for i in 0..6 {
        let status = try_challenge(&mut own, &wrong_recovery_code(i)).await.expect("up");
        let expected = if i < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(
            status,
            expected,
            "the attacker's wrong code {} on their own account",
            i + 1
        );
    }
    let mut second = held_from(&gw, proxy, &crowd::email(1)).await;
    let status = try_challenge(&mut second, &wrong_recovery_code(9)).await;
    assert_eq!(
        status,
        Some(StatusCode::UNAUTHORIZED),
        "one guess on another own account"
    );
    let status = try_challenge(&mut second, &wrong_recovery_code(10)).await;
    assert_eq!(status, Some(StatusCode::TOO_MANY_REQUESTS), "the second is the last");

    let mut clean = held_from(&gw, proxy, &crowd::email(2)).await;
    let status = try_challenge(&mut clean, &codes[2][0]).await;
    assert_eq!(
        status,
        Some(StatusCode::NO_CONTENT),
        "a user with a clean count signs in"
    );
    let mut typo = held_from(&gw, proxy, &crowd::email(3)).await;
    let status = try_challenge(&mut typo, &wrong_recovery_code(11)).await;
    assert_eq!(status, Some(StatusCode::UNAUTHORIZED), "a typo");
    let status = try_challenge(&mut typo, &codes[3][0]).await;
    assert_eq!(status, Some(StatusCode::NO_CONTENT), "then the right code");
}
