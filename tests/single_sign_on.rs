//! Single sign-on: the demo dashboard's callback (`[[upstream.sign_in]]
//! path = "/sso/callback"`) signs people in like the password form: the
//! gateway sees the answer first, looks the user up, and holds the
//! dashboard's cookie back while a second factor is due. The provider's
//! redirect and query pass through untouched; a replayed or forged ticket
//! signs no one in.

mod common;

use common::api::enable_totp;
use common::{signed_in_as, start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::json;

/// `/sso/start` for `email`: the callback address the provider sends to.
async fn provider_says_yes(b: &mut Browser, email: &str) -> String {
    let r = b.get(&format!("/sso/start?email={}", email.replace('@', "%40"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.header("location").expect("a redirect").to_string();
    assert!(location.starts_with("/sso/callback?ticket="), "{location}");
    assert!(
        location.ends_with("&state=demo"),
        "the query passes untouched: {location}"
    );
    location
}

#[tokio::test(flavor = "multi_thread")]
async fn erin_signs_in_through_single_sign_on_and_a_user_with_2fa_is_asked_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;

    // erin has no password; the callback's answer signs her in.
    let mut erin = Browser::new(gw.addr);
    let refused = erin.login("erin@acme.test", "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let callback = provider_says_yes(&mut erin, "erin@acme.test").await;
    let r = erin.get(&callback).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location"), Some("/"), "the dashboard's own redirect");
    assert!(erin.jar.contains_key("dash_session") && erin.jar.contains_key("tfa_session"));
    let me = erin.get("/api/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], "erin@acme.test");
    let status = erin.get("/_2fa/api/status").await;
    assert_eq!(status.json()["user"], "erin@acme.test", "the gateway knows her");

    // The same ticket again, or a made-up one: no cookie, no session.
    let mut replay = Browser::new(gw.addr);
    let again = replay.get(&callback).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(replay.jar.is_empty(), "{:?}", replay.jar);
    let forged = replay.get("/sso/callback?ticket=made-up&state=demo").await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(replay.jar.is_empty());

    // alice has 2FA: through SSO too, her dashboard cookie waits for it.
    let mut setup = signed_in_as(gw.addr, "alice@acme.test").await;
    let (_, codes) = enable_totp(&mut setup, "alice-password").await;
    let mut alice = Browser::new(gw.addr);
    let callback = provider_says_yes(&mut alice, "alice@acme.test").await;
    let held = alice.get(&callback).await;
    assert_eq!(held.status, StatusCode::SEE_OTHER);
    assert_eq!(held.header("location"), Some("/_2fa/challenge?next=/"));
    assert!(
        !held.set_cookies().iter().any(|c| c.starts_with("dash_session=")),
        "the dashboard's cookie never reaches the browser before the challenge"
    );
    assert!(!alice.jar.contains_key("dash_session"));
    assert_eq!(
        alice.get("/api/me").await.status,
        StatusCode::SEE_OTHER,
        "to the challenge"
    );
    let passed = alice
        .send_json(Method::POST, "/_2fa/api/challenge", json!({ "code": codes[0] }))
        .await;
    assert_eq!(passed.status, StatusCode::NO_CONTENT);
    assert!(alice.jar.contains_key("dash_session"));
    assert_eq!(alice.get("/api/me").await.json()["email"], "alice@acme.test");

    // An owner's requirement applies to single sign-on users too.
    let require = setup
        .send_json(
            Method::PUT,
            "/_2fa/api/accounts/acme/require",
            json!({ "require": true }),
        )
        .await;
    assert_eq!(require.status, StatusCode::OK, "{}", require.text());
    let mut erin = Browser::new(gw.addr);
    let callback = provider_says_yes(&mut erin, "erin@acme.test").await;
    erin.get(&callback).await;
    let sent = erin.get_with("/", &[("accept", "text/html")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    assert!(
        sent.header("location").unwrap_or("").starts_with("/_2fa/enroll"),
        "{:?}",
        sent.header("location")
    );
}

/// erin through the demo's single sign-on, into `b`.
async fn sso_sign_in(b: &mut Browser, email: &str) -> common::Response {
    let callback = provider_says_yes(b, email).await;
    b.get(&callback).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_a_password_confirms_by_a_recent_sign_in_and_signs_in_again_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [("password_confirmation_seconds", "30")];
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &settings).await;
    let mut erin = Browser::new(gw.addr);
    sso_sign_in(&mut erin, "erin@acme.test").await;

    // Just signed in: no password is asked, whatever is typed.
    let page = erin.get("/_2fa/settings").await.text();
    assert!(
        page.contains("no password is needed") && !page.contains("type=\"password\""),
        "{page}"
    );
    let (secret, codes) = enable_totp(&mut erin, "").await;
    assert_eq!(codes.len(), 10);
    // A user with a password still types it.
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let wrong = alice
        .send_json(Method::POST, "/_2fa/api/totp/enroll", json!({ "password": "" }))
        .await;
    assert_eq!(wrong.json()["error"], "wrong_password");

    // Past the window, the change is refused with where to sign in again.
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    let refused = erin
        .send_json(
            Method::POST,
            "/_2fa/api/totp/disable",
            json!({ "password": "anything" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let body = refused.json();
    assert_eq!(body["error"], "reauthentication_required");
    assert_eq!(body["sign_in"], "/login");
    let page = erin.get("/_2fa/settings").await.text();
    assert!(page.contains(r#"<a href="/login">sign in again</a>"#), "{page}");
    assert_eq!(erin.get("/_2fa/api/status").await.json()["totp_enabled"], true);

    // Signed in again (2FA first), the change goes through.
    let mut again = Browser::new(gw.addr);
    let held = sso_sign_in(&mut again, "erin@acme.test").await;
    assert!(held.header("location").unwrap_or("").starts_with("/_2fa/challenge"));
    let code = common::tools::oathtool(&secret, 30);
    let passed = again
        .send_json(Method::POST, "/_2fa/api/challenge", json!({ "code": code }))
        .await;
    assert_eq!(passed.status, StatusCode::NO_CONTENT, "{}", passed.text());
    let off = again
        .send_json(Method::POST, "/_2fa/api/totp/disable", json!({ "password": "" }))
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text());
}
