//! However a gateway session ends (a new sign-in in the same browser, the
//! idle timeout, the per-user cap, a lockout), the dashboard session it held
//! is signed out at the dashboard too, not left alive behind it; and one
//! user signing in in a loop replaces sessions instead of growing the table.

mod common;

use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::{alive_at_dashboard, signed_in_as, signed_out_at_dashboard, start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};

fn dash(b: &Browser) -> String {
    b.jar.get("dash_session").expect("a dashboard cookie").clone()
}

async fn metric(gw: &Gateway, name: &str) -> u64 {
    common::metric(&gw.config, name).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_sign_in_in_the_same_browser_signs_the_old_dashboard_session_out() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, dir.path()).await;
    let mut bob = signed_in_as(gw.addr, "bob@acme.test").await;
    let first = dash(&bob);
    assert!(alive_at_dashboard(dashboard, &first).await);
    assert_eq!(
        bob.login("bob@acme.test", "bob-password").await.status,
        StatusCode::SEE_OTHER
    );
    assert_ne!(dash(&bob), first);
    assert!(
        signed_out_at_dashboard(dashboard, &first).await,
        "the replaced session's dashboard cookie still works at the dashboard"
    );
    assert!(alive_at_dashboard(dashboard, &dash(&bob)).await, "the new one works");
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_per_user_cap_the_oldest_session_ends_and_its_dashboard_session_too() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let settings = [("max_per_user", "3"), ("max_pending_per_user", "2")];
    let gw = Gateway::start_configured(dashboard, dir.path(), &settings).await;
    let carol = signed_in_as(gw.addr, "carol@globex.test").await;

    let mut browsers = Vec::new();
    for _ in 0..5 {
        browsers.push(signed_in_as(gw.addr, "bob@acme.test").await);
    }
    for (i, b) in browsers.iter().enumerate() {
        let seen = b.clone().get("/api/me").await;
        let live = i >= 2;
        assert_eq!(seen.header("x-demo-user").is_some(), live, "bob's session {i} of 5");
        if !live {
            assert!(
                signed_out_at_dashboard(dashboard, &dash(b)).await,
                "session {i} at the dashboard"
            );
        }
    }
    assert_eq!(
        carol.clone().get("/").await.header("x-demo-user"),
        Some("carol@globex.test"),
        "another user's session is not touched"
    );

    // A sign-in loop: the table holds carol's and bob's three, whatever the count.
    for _ in 0..40 {
        signed_in_as(gw.addr, "bob@acme.test").await;
    }
    assert_eq!(metric(&gw, "tfa_sessions").await, 4);

    // Pending sign-ins are capped apart: the oldest of three held ones ends.
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let (secret, _) = enable_totp(&mut alice, "alice-password").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut b = Browser::new(gw.addr);
        try_held_sign_in(&mut b, "alice@acme.test", "alice-password")
            .await
            .unwrap();
        held.push(b);
    }
    // The next step's code: the enrollment spent this step's.
    let code = common::tools::oathtool(&secret, 30);
    assert_eq!(
        try_challenge(&mut held[0], &code).await,
        Some(StatusCode::UNAUTHORIZED),
        "ended"
    );
    assert_eq!(try_challenge(&mut held[2], &code).await, Some(StatusCode::NO_CONTENT));

    // And the store: after a restart only the live sessions come back.
    let (addr, config) = (gw.addr, gw.config.clone());
    assert!(gw.stop().success());
    let gw = Gateway::start_with(addr, config).await;
    assert_eq!(
        metric(&gw, "tfa_sessions").await,
        7,
        "carol's, bob's three, alice's two, and alice's sign-in still waiting for its code"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lockout_ends_the_users_waiting_sign_ins() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, dir.path()).await;
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let (secret, _) = enable_totp(&mut alice, "alice-password").await;
    let mut other = Browser::new(gw.addr);
    try_held_sign_in(&mut other, "alice@acme.test", "alice-password")
        .await
        .unwrap();
    let mut guessing = Browser::new(gw.addr);
    try_held_sign_in(&mut guessing, "alice@acme.test", "alice-password")
        .await
        .unwrap();
    let mut last = None;
    for _ in 0..10 {
        last = try_challenge(&mut guessing, "000000").await;
    }
    assert_eq!(last, Some(StatusCode::TOO_MANY_REQUESTS), "locked out");
    let code = common::tools::oathtool(&secret, 0);
    for b in [&mut guessing, &mut other] {
        assert_eq!(
            try_challenge(b, &code).await,
            Some(StatusCode::UNAUTHORIZED),
            "a sign-in held during the lockout is over, not waiting for it to lift"
        );
    }
    assert_eq!(
        alice.get("/").await.header("x-demo-user"),
        Some("alice@acme.test"),
        "a session signed in before is not touched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_at_the_challenge_or_the_enroll_page_ends_the_gateway_and_dashboard_sessions() {
    use common::tools::csrf_token;
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, dir.path()).await;
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let (secret, _) = enable_totp(&mut alice, "alice-password").await;
    let r = alice
        .send_json(
            Method::PUT,
            "/_2fa/api/accounts/acme/require",
            serde_json::json!({ "require": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // At the challenge: "Sign in as someone else".
    let mut held = Browser::new(gw.addr);
    try_held_sign_in(&mut held, "alice@acme.test", "alice-password")
        .await
        .unwrap();
    let before = held.clone();
    let page = held.get("/_2fa/challenge").await.text();
    assert!(!page.contains("Back to Demo Dashboard"), "a link that loops: {page}");
    let form = format!("csrf_token={}", csrf_token(&page));
    let out = held.post_form("/_2fa/switch-user", &form).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.header("location"), Some("/login"));
    assert!(!held.jar.contains_key("tfa_session"), "the gateway cookie is cleared");
    let mut replay = before;
    assert_eq!(
        try_challenge(&mut replay, &common::tools::oathtool(&secret, 30)).await,
        Some(StatusCode::UNAUTHORIZED),
        "the held sign-in is over"
    );
    assert_eq!(held.get("/login").await.status, StatusCode::OK, "the sign-in form");

    // While enrollment is due: "Sign out".
    let mut bob = signed_in_as(gw.addr, "bob@acme.test").await;
    let cookie = dash(&bob);
    let to = bob.get("/").await;
    assert!(
        to.header("location").is_some_and(|l| l.starts_with("/_2fa/enroll")),
        "{:?}",
        to.header("location")
    );
    let before = bob.clone();
    let page = bob.get("/_2fa/enroll?next=%2F").await.text();
    let out = bob
        .post_form("/_2fa/sign-out", &format!("csrf_token={}", csrf_token(&page)))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.header("location"), Some("/"));
    assert!(
        signed_out_at_dashboard(dashboard, &cookie).await,
        "the dashboard session is signed out too"
    );
    let mut replay = before;
    let r = replay.get("/").await;
    assert_eq!(
        r.header("location"),
        Some("/login"),
        "the old cookies open nothing: the dashboard sees a signed-out visitor"
    );
}
