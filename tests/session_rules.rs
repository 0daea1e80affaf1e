//! OWASP's session rules at the gateway, over real sockets: a new sign-in
//! ends the session the browser had, and a sign-out is over for good, even
//! when the gateway is killed right after it. Each check replays the old
//! cookies exactly as a thief holding them would.

mod common;

use bytes::Bytes;
use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};

/// Whether the gateway still treats `b`'s cookies as a signed-in session:
/// its own API, forward auth, and whether the upstream gets the cookie.
async fn gateway_accepts(b: &Browser) -> bool {
    let mut b = b.clone();
    let json = [("accept", "application/json")];
    let status = b.get_with("/_2fa/api/status", &json).await.status;
    let verify = b.get_with("/_2fa/verify", &[("x-original-uri", "/")]).await.status;
    let echo = b.get("/echo/headers").await.json();
    let forwarded = echo["cookie"].as_str().is_some_and(|c| c.contains("dash_session="));
    assert_eq!(
        [status == StatusCode::OK, verify == StatusCode::OK],
        [forwarded, forwarded],
        "the gateway's answers disagree: status {status}, verify {verify}, echo {echo}"
    );
    forwarded
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_again_ends_the_gateway_session_the_browser_had() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut setup = Browser::new(gw.addr);
    setup.login("carol@globex.test", "carol-password").await;
    let (_, codes) = enable_totp(&mut setup, "carol-password").await;

    let mut carol = Browser::new(gw.addr);
    try_held_sign_in(&mut carol, "carol@globex.test", "carol-password")
        .await
        .expect("up");
    assert_eq!(try_challenge(&mut carol, &codes[0]).await, Some(StatusCode::NO_CONTENT));
    let page = carol.get("/").await;
    assert!(
        page.text().contains("Signed in as carol@globex.test"),
        "{}",
        page.text()
    );
    let old = carol.clone();
    assert!(gateway_accepts(&old).await);

    // The same browser signs in again, sending its current cookies along.
    let again = carol.login("carol@globex.test", "carol-password").await;
    let location = again.header("location").unwrap_or_default();
    assert!(location.starts_with("/_2fa/challenge"), "held again: {location}");
    assert_ne!(carol.jar["tfa_session"], old.jar["tfa_session"], "a new gateway token");
    assert_eq!(try_challenge(&mut carol, &codes[1]).await, Some(StatusCode::NO_CONTENT));
    assert_ne!(carol.jar["dash_session"], old.jar["dash_session"]);

    // The old pair is refused although the dashboard never ended its half.
    assert!(!gateway_accepts(&old).await, "the replaced gateway session still works");
    let mut replay = old.clone();
    let page = replay.get("/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text());
    assert_eq!(page.header("location"), Some("/login"));

    assert!(gateway_accepts(&carol).await, "the new session works");
    let page = carol.get("/").await;
    assert!(
        page.text().contains("Signed in as carol@globex.test"),
        "{}",
        page.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_out_session_stays_ended_when_the_gateway_is_killed_right_after() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut alice = Browser::new(gw.addr);
    alice.login("alice@acme.test", "alice-password").await;
    let mut bob = Browser::new(gw.addr);
    bob.login("bob@acme.test", "bob-password").await;
    let before = bob.clone();
    assert!(gateway_accepts(&before).await);

    let out = bob.send(Method::POST, "/logout", &[], Bytes::new()).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let (addr, config) = gw.crash();

    let _gw = Gateway::start_with(addr, config).await;
    assert!(
        !gateway_accepts(&before).await,
        "bob's signed-out session came back after the restart"
    );
    // Not an empty store: a session nobody ended was restored.
    assert!(gateway_accepts(&alice).await, "alice's session was lost");
    let page = alice.get("/").await;
    assert!(page.text().contains("Signed in as alice@acme.test"), "{}", page.text());
}
