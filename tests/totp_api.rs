//! The JSON API for the same TOTP operations, as a single-page dashboard or
//! a script would use it.

mod common;

use bytes::Bytes;
use common::tools::{oathtool, scan_qr_svg};
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn bob_enrolls_verifies_regenerates_and_passes_the_challenge_by_api() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut bob = Browser::new(gw.addr);
    bob.login("bob@acme.test", "bob-password").await;

    let status = bob.get("/_2fa/api/status").await.json();
    assert_eq!(status["user"], "bob@acme.test");
    assert_eq!(status["totp_enabled"], false);
    assert_eq!(status["accounts"][0]["id"], "acme");
    assert_eq!(status["accounts"][0]["role"], "member");

    // A form post cannot reach the JSON API (CSRF defence).
    let form = bob
        .send(
            Method::POST,
            "/_2fa/api/totp/enroll",
            &[("content-type", "text/plain")],
            Bytes::from("{}"),
        )
        .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let wrong = bob
        .send_json(Method::POST, "/_2fa/api/totp/enroll", json!({"password": "nope"}))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.json()["error"], "wrong_password");

    let enroll = bob
        .send_json(
            Method::POST,
            "/_2fa/api/totp/enroll",
            json!({"password": "bob-password"}),
        )
        .await;
    assert_eq!(enroll.status, StatusCode::OK, "{}", enroll.text());
    let e = enroll.json();
    let secret = e["secret"].as_str().unwrap().to_string();
    assert_eq!(
        scan_qr_svg(e["qr_svg"].as_str().unwrap(), dir.path()),
        e["otpauth_uri"].as_str().unwrap()
    );
    assert_eq!(secret.len(), 32, "160-bit secret in base32");

    let verify = bob
        .send_json(
            Method::POST,
            "/_2fa/api/totp/verify",
            json!({"code": oathtool(&secret, 0)}),
        )
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.text());
    let first_codes: Vec<String> = serde_json::from_value(verify.json()["recovery_codes"].clone()).unwrap();
    assert_eq!(first_codes.len(), 10);
    let status = bob.get("/_2fa/api/status").await.json();
    assert_eq!(status["totp_enabled"], true);
    assert_eq!(status["recovery_codes_left"], 10);

    let again = bob
        .send_json(
            Method::POST,
            "/_2fa/api/totp/enroll",
            json!({"password": "bob-password"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "already enabled");

    let regen = bob
        .send_json(
            Method::POST,
            "/_2fa/api/recovery-codes/regenerate",
            json!({"password": "bob-password"}),
        )
        .await;
    assert_eq!(regen.status, StatusCode::OK);
    let new_codes: Vec<String> = serde_json::from_value(regen.json()["recovery_codes"].clone()).unwrap();
    assert!(new_codes.iter().all(|c| !first_codes.contains(c)));

    // A new sign-in is held at the challenge; the API answers 401 meanwhile.
    let mut spa = Browser::new(gw.addr);
    spa.login("bob@acme.test", "bob-password").await;
    assert!(!spa.jar.contains_key("dash_session"));
    let held = spa.get_with("/api/me", &[("accept", "application/json")]).await;
    assert_eq!(held.status, StatusCode::UNAUTHORIZED);
    let old = spa
        .send_json(Method::POST, "/_2fa/api/challenge", json!({"code": first_codes[0]}))
        .await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "regenerated codes void the old set"
    );
    assert_eq!(old.json()["error"], "wrong_code");
    let passed = spa
        .send_json(Method::POST, "/_2fa/api/challenge", json!({"code": new_codes[3]}))
        .await;
    assert_eq!(passed.status, StatusCode::NO_CONTENT, "{}", passed.text());
    assert!(spa.jar.contains_key("dash_session"));
    assert_eq!(
        spa.get_with("/api/me", &[("accept", "application/json")]).await.json()["email"],
        "bob@acme.test"
    );
    assert_eq!(spa.get("/_2fa/api/status").await.json()["recovery_codes_left"], 9);

    let disable = spa
        .send_json(
            Method::POST,
            "/_2fa/api/totp/disable",
            json!({"password": "bob-password"}),
        )
        .await;
    assert_eq!(disable.status, StatusCode::OK);
    assert_eq!(disable.json(), json!({}));
    assert_eq!(spa.get("/_2fa/api/status").await.json()["totp_enabled"], false);
}
