//! Cross-site request forgery against the gateway's forms and API: a form
//! without the session's token, with another session's token, or from
//! another origin changes nothing.

mod common;

use bytes::Bytes;
use common::tools::csrf_token;
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};

#[tokio::test(flavor = "multi_thread")]
async fn forged_forms_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut alice = Browser::new(gw.addr);
    alice.login("alice@acme.test", "alice-password").await;
    let mut mallory = Browser::new(gw.addr);
    mallory.login("bob@acme.test", "bob-password").await;
    let bobs_token = csrf_token(&mallory.get("/_2fa/settings").await.text());
    let alices_token = csrf_token(&alice.get("/_2fa/settings").await.text());
    let form = |token: &str| format!("csrf_token={token}&password=alice-password");

    let none = alice
        .post_form("/_2fa/settings/totp/enable", "password=alice-password")
        .await;
    assert_eq!(none.status, StatusCode::FORBIDDEN, "no token");
    let other = alice.post_form("/_2fa/settings/totp/enable", &form(&bobs_token)).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "another session's token");
    let cross = alice
        .send(
            Method::POST,
            "/_2fa/settings/totp/enable",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("origin", "https://evil.example"),
            ],
            Bytes::from(form(&alices_token)),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN, "another origin");
    let api = alice
        .send(
            Method::PUT,
            "/_2fa/api/accounts/acme/require",
            &[("content-type", "application/json"), ("origin", "https://evil.example")],
            Bytes::from(r#"{"require":false}"#),
        )
        .await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    assert_eq!(api.json()["error"], "cross_origin");

    // Nothing changed: no enrollment was started.
    assert!(alice.get("/_2fa/settings/totp/setup").await.status == StatusCode::SEE_OTHER);
    // The same form from this site works.
    let origin = format!("http://{}", gw.addr);
    let ok = alice
        .send(
            Method::POST,
            "/_2fa/settings/totp/enable",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("origin", &origin),
            ],
            Bytes::from(form(&alices_token)),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
}
