//! The JSON API steps several tests repeat: turning TOTP on and passing the
//! challenge. The `try_` forms return `None` when the gateway is gone, for
//! tests that kill it mid-request.

use http::{Method, StatusCode};
use serde_json::json;

use super::tools::oathtool;
use super::{Browser, Response};

/// A user with TOTP on, signed in twice: `setup` passed no challenge (it
/// enrolled), `held` waits at the challenge.
pub struct HeldAtChallenge {
    pub setup: Browser,
    pub held: Browser,
    pub secret: String,
    pub codes: Vec<String>,
}

/// Signs `email` in, turns TOTP on, then signs in again in a new browser.
pub async fn held_at_challenge(gw: std::net::SocketAddr, email: &str, password: &str) -> HeldAtChallenge {
    let mut setup = Browser::new(gw);
    setup.login(email, password).await;
    let (secret, codes) = enable_totp(&mut setup, password).await;
    let mut held = Browser::new(gw);
    try_held_sign_in(&mut held, email, password).await.expect("gateway up");
    HeldAtChallenge {
        setup,
        held,
        secret,
        codes,
    }
}

/// Well-formed recovery codes (so they are hashed and compared like real
/// ones) that are wrong.
pub fn wrong_recovery_code(i: usize) -> String {
    format!("zzzz-zzzz-{:04}", i % 10_000)
}

/// A JSON request that may meet a dead gateway.
pub async fn try_json(b: &mut Browser, method: Method, path: &str, body: serde_json::Value) -> Option<Response> {
    let headers = [("content-type", "application/json"), ("accept", "application/json")];
    b.try_send(method, path, &headers, bytes::Bytes::from(body.to_string()))
        .await
        .ok()
}

/// Starts a TOTP enrollment; returns the secret.
pub async fn try_begin_totp(b: &mut Browser, password: &str) -> Option<String> {
    let r = try_json(
        b,
        Method::POST,
        "/_2fa/api/totp/enroll",
        json!({ "password": password }),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    Some(r.json()["secret"].as_str().expect("a secret").to_string())
}

/// Confirms an enrollment with `code`; returns the recovery codes.
pub async fn try_confirm_totp(b: &mut Browser, code: &str) -> Option<Vec<String>> {
    let r = try_json(b, Method::POST, "/_2fa/api/totp/verify", json!({ "code": code })).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    Some(serde_json::from_value(r.json()["recovery_codes"].clone()).expect("recovery codes"))
}

/// Turns TOTP on for a signed-in browser; returns the secret and recovery codes.
pub async fn enable_totp(b: &mut Browser, password: &str) -> (String, Vec<String>) {
    let secret = try_begin_totp(b, password).await.expect("gateway up");
    let codes = try_confirm_totp(b, &oathtool(&secret, 0)).await.expect("gateway up");
    (secret, codes)
}

/// Signs in a user who has 2FA on; `None` if the gateway is gone.
pub async fn try_held_sign_in(b: &mut Browser, email: &str, password: &str) -> Option<()> {
    let form = format!("email={}&password={}", email.replace('@', "%40"), password);
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let r = b
        .try_send(Method::POST, "/login", &headers, bytes::Bytes::from(form))
        .await
        .ok()?;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(
        !b.jar.contains_key("dash_session"),
        "{email} must be held at the challenge"
    );
    Some(())
}

/// Answers the challenge by API; the status tells the outcome.
pub async fn try_challenge(b: &mut Browser, code: &str) -> Option<StatusCode> {
    let r = try_json(b, Method::POST, "/_2fa/api/challenge", json!({ "code": code })).await?;
    Some(r.status)
}
