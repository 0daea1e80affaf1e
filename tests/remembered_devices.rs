//! "Remember this device": a browser that passed the second factor with
//! the box ticked skips the challenge at its next sign-ins, for its own user
//! only; the cookie never reaches the dashboard; the user lists and forgets
//! devices; turning 2FA off and new recovery codes forget them all.

mod common;

use common::api::{enable_totp, held_at_challenge};
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::json;

/// Signs in; `true` when the dashboard session came back at once (no
/// challenge), `false` when the sign-in waits at the challenge.
async fn let_straight_in(b: &mut Browser, email: &str, password: &str) -> bool {
    let r = b.login(email, password).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let straight = b.jar.contains_key("dash_session");
    let location = r.header("location").unwrap_or_default();
    assert_eq!(!straight, location.starts_with("/_2fa/challenge"), "{location}");
    straight
}

async fn pass(b: &mut Browser, code: &str, remember: bool) -> common::Response {
    let body = json!({ "code": code, "remember_device": remember });
    let r = b.send_json(Method::POST, "/_2fa/api/challenge", body).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    r
}

/// A new browser holding only `device`'s cookie.
fn with_device(gw: &Gateway, device: &str) -> Browser {
    let mut b = Browser::new(gw.addr);
    b.jar.insert("tfa_device".into(), device.into());
    b
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remembered_browser_skips_the_challenge_for_its_own_user_until_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut alice = held_at_challenge(gw.addr, "alice@acme.test", "alice-password").await;

    // Not ticked: no device cookie.
    let plain = pass(&mut alice.held, &alice.codes[0], false).await;
    assert!(!plain.set_cookies().iter().any(|c| c.starts_with("tfa_device=")));

    let mut b = Browser::new(gw.addr);
    assert!(!let_straight_in(&mut b, "alice@acme.test", "alice-password").await);
    let r = pass(&mut b, &alice.codes[1], true).await;
    let cookie = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("tfa_device="))
        .expect("a device cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(cookie.contains("Max-Age=2592000"), "30 days by default: {cookie}");
    let device = b.jar["tfa_device"].clone();
    assert!(device.len() >= 40, "a random token: {device}");

    // The dashboard never sees it.
    let echo = b.get("/echo/headers").await.json();
    assert!(!echo["cookie"].as_str().unwrap_or("").contains("tfa_device"), "{echo}");

    // Next time, that browser goes straight in; the store keeps only a hash.
    let mut again = with_device(&gw, &device);
    assert!(let_straight_in(&mut again, "alice@acme.test", "alice-password").await);
    assert_eq!(again.get("/api/me").await.status, StatusCode::OK);
    let data = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| std::fs::read(e.path()).unwrap_or_default());
    for bytes in data {
        assert!(
            !bytes.windows(device.len()).any(|w| w == device.as_bytes()),
            "the token is on disk"
        );
    }

    // Another user with alice's device cookie is still asked.
    let mut bob = Browser::new(gw.addr);
    let _ = enable_totp(
        &mut common::signed_in_as(gw.addr, "bob@acme.test").await,
        "bob-password",
    )
    .await;
    bob.jar.insert("tfa_device".into(), device.clone());
    assert!(!let_straight_in(&mut bob, "bob@acme.test", "bob-password").await);
    // A made-up token too.
    let mut forged = with_device(&gw, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert!(!let_straight_in(&mut forged, "alice@acme.test", "alice-password").await);

    // Listed, named by the browser, and forgotten on request.
    let list = again.get("/_2fa/api/devices").await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert!(list[0]["last_used"].is_u64(), "{list}");
    assert!(list.to_string().find(&device).is_none(), "never the token: {list}");
    let path = format!("/_2fa/api/devices/{id}");
    assert_eq!(
        again.send_json(Method::DELETE, &path, json!({})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        again.send_json(Method::DELETE, &path, json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let mut after = with_device(&gw, &device);
    assert!(!let_straight_in(&mut after, "alice@acme.test", "alice-password").await);

    // New recovery codes forget every device.
    pass(&mut after, &alice.codes[2], true).await;
    let second = after.jar["tfa_device"].clone();
    assert!(let_straight_in(&mut with_device(&gw, &second), "alice@acme.test", "alice-password").await);
    let regenerate = alice
        .setup
        .send_json(
            Method::POST,
            "/_2fa/api/recovery-codes/regenerate",
            json!({ "password": "alice-password" }),
        )
        .await;
    assert_eq!(regenerate.status, StatusCode::OK);
    let codes: Vec<String> = serde_json::from_value(regenerate.json()["recovery_codes"].clone()).unwrap();
    assert!(!let_straight_in(&mut with_device(&gw, &second), "alice@acme.test", "alice-password").await);

    // Turning 2FA off forgets them too: on again, the device is asked.
    let mut third = Browser::new(gw.addr);
    assert!(!let_straight_in(&mut third, "alice@acme.test", "alice-password").await);
    pass(&mut third, &codes[0], true).await;
    let token = third.jar["tfa_device"].clone();
    let off = alice
        .setup
        .send_json(
            Method::POST,
            "/_2fa/api/totp/disable",
            json!({ "password": "alice-password" }),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text());
    let (_, codes) = enable_totp(&mut alice.setup, "alice-password").await;
    assert!(!let_straight_in(&mut with_device(&gw, &token), "alice@acme.test", "alice-password").await);

    // And so does an operator's reset.
    let mut fourth = Browser::new(gw.addr);
    assert!(!let_straight_in(&mut fourth, "alice@acme.test", "alice-password").await);
    pass(&mut fourth, &codes[0], true).await;
    let token = fourth.jar["tfa_device"].clone();
    let (admin, admin_token) = common::admin_of(&gw.config);
    let reset = Browser::new(admin)
        .send(
            Method::DELETE,
            "/admin/users/u-alice/2fa",
            &[("authorization", &format!("Bearer {admin_token}"))],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text());
    enable_totp(&mut alice.setup, "alice-password").await;
    assert!(!let_straight_in(&mut with_device(&gw, &token), "alice@acme.test", "alice-password").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_remember_device_days_0_the_box_is_not_offered_and_no_device_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [("remember_device_days", "0")];
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &settings).await;
    let mut alice = held_at_challenge(gw.addr, "alice@acme.test", "alice-password").await;
    let page = alice.held.get("/_2fa/challenge").await.text();
    assert!(!page.contains("remember_device"), "{page}");
    let r = pass(&mut alice.held, &alice.codes[0], true).await;
    assert!(!r.set_cookies().iter().any(|c| c.starts_with("tfa_device=")));
}
