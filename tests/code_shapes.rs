//! Input that cannot be any code (letters where digits go, too long, empty)
//! is refused with a message saying what a code looks like, and is not a
//! guess: it never counts towards the lockout. A code of the right shape
//! that is wrong, a recovery code included, still counts.

mod common;

use common::api::{held_at_challenge, try_begin_totp, try_json, wrong_recovery_code};
use common::tools::{csrf_token, oathtool};
use common::{signed_in_as, start_dashboard, Gateway};
use http::{Method, StatusCode};
use serde_json::json;

/// More than the demo's 10 failures per user: counted, these would lock out.
const MANY: usize = 12;
const NOT_CODES: [&str; 6] = ["abcdef", "", "  ", "1234567", "12 34", "hunter2hunter2hunter2"];

#[tokio::test(flavor = "multi_thread")]
async fn input_that_is_no_code_is_refused_at_the_challenge_without_counting_and_a_wrong_recovery_code_counts() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut carol = held_at_challenge(gw.addr, "carol@globex.test", "carol-password").await;

    for i in 0..MANY {
        let typed = NOT_CODES[i % NOT_CODES.len()];
        let r = try_json(
            &mut carol.held,
            Method::POST,
            "/_2fa/api/challenge",
            json!({ "code": typed }),
        )
        .await
        .expect("gateway up");
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{typed:?}: {}", r.text());
        assert_eq!(r.json()["error"], "not_a_code", "{typed:?}");
    }
    // The page says it beside the field, in words.
    let page = carol.held.get("/_2fa/challenge").await.text();
    let form = format!("csrf_token={}&next=%2F&code=abcdef", csrf_token(&page));
    let r = carol.held.post_form("/_2fa/challenge", &form).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text().contains("That is not a code: enter the 6 digits"),
        "{}",
        r.text()
    );

    let r = try_json(
        &mut carol.held,
        Method::POST,
        "/_2fa/api/challenge",
        json!({ "code": wrong_recovery_code(1) }),
    )
    .await
    .expect("gateway up");
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "That code is not right. 9 attempts left.",
        "a well-formed recovery code is a guess, and the first one counted"
    );

    let r = try_json(
        &mut carol.held,
        Method::POST,
        "/_2fa/api/challenge",
        json!({ "code": oathtool(&carol.secret, 30) }),
    )
    .await
    .expect("gateway up");
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn input_that_is_no_code_is_refused_at_enrollment_without_counting() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut dave = signed_in_as(gw.addr, "dave@globex.test").await;
    let secret = try_begin_totp(&mut dave, "dave-password").await.expect("gateway up");
    for i in 0..MANY {
        let typed = NOT_CODES[i % NOT_CODES.len()];
        let r = try_json(
            &mut dave,
            Method::POST,
            "/_2fa/api/totp/verify",
            json!({ "code": typed }),
        )
        .await
        .expect("gateway up");
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{typed:?}: {}", r.text());
        assert_eq!(r.json()["error"], "not_a_code", "{typed:?}");
    }
    let recovery_shaped = wrong_recovery_code(2);
    let r = try_json(
        &mut dave,
        Method::POST,
        "/_2fa/api/totp/verify",
        json!({ "code": recovery_shaped }),
    )
    .await
    .expect("gateway up");
    assert_eq!(
        r.json()["error"],
        "not_a_code",
        "enrollment takes only the app's 6 digits"
    );
    let r = try_json(
        &mut dave,
        Method::POST,
        "/_2fa/api/totp/verify",
        json!({ "code": oathtool(&secret, 0) }),
    )
    .await
    .expect("gateway up");
    assert_eq!(r.status, StatusCode::OK, "not locked out: {}", r.text());
}
