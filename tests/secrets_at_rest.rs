//! What an attacker with a copy of the data folder finds: no TOTP secret
//! (neither its base32 text nor its bytes), no recovery code, no phone
//! number, no session token or upstream cookie.

mod common;

use common::tools::{last_code, oathtool};
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::json;

fn base32_decode(s: &str) -> Vec<u8> {
    let (mut bits, mut acc, mut out) = (0u32, 0u64, Vec::new());
    for c in s.bytes() {
        let v = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .iter()
            .position(|&a| a == c)
            .expect("base32") as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(all_bytes(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.extend(b);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_holds_no_secret_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut alice = Browser::new(gw.addr);
    alice.login("alice@acme.test", "alice-password").await;
    let e = alice
        .send_json(
            Method::POST,
            "/_2fa/api/totp/enroll",
            json!({"password": "alice-password"}),
        )
        .await
        .json();
    let secret = e["secret"].as_str().unwrap().to_string();
    let v = alice
        .send_json(
            Method::POST,
            "/_2fa/api/totp/verify",
            json!({"code": oathtool(&secret, 0)}),
        )
        .await;
    assert_eq!(v.status, StatusCode::OK);
    let codes: Vec<String> = serde_json::from_value(v.json()["recovery_codes"].clone()).unwrap();
    let sms = json!({"password": "alice-password", "country": "GB", "phone": "07400 123456"});
    assert_eq!(
        alice.send_json(Method::POST, "/_2fa/api/sms/enroll", sms).await.status,
        StatusCode::OK
    );
    let data = gw.config.parent().unwrap().join("data");
    let sms_code = last_code(&data.join("sms-outbox.jsonl"), "+447400123456");
    let verified = alice
        .send_json(Method::POST, "/_2fa/api/sms/verify", json!({ "code": sms_code }))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text());
    let tokens = [alice.jar["tfa_session"].clone(), alice.jar["dash_session"].clone()];
    let _ = gw.stop();

    let raw = all_bytes(&data.join("store"));
    assert!(raw.len() > 1000, "the store was read ({} bytes)", raw.len());
    assert!(!contains(&raw, secret.as_bytes()), "base32 secret found");
    assert!(!contains(&raw, &base32_decode(&secret)), "raw secret bytes found");
    for c in &codes {
        assert!(
            !contains(&raw, c.as_bytes()) && !contains(&raw, c.replace('-', "").as_bytes()),
            "recovery code {c} found"
        );
    }
    assert!(!contains(&raw, b"7400123456"), "phone number found");
    for t in &tokens {
        assert!(
            !contains(&raw, t.as_bytes()),
            "a session token or upstream cookie found"
        );
    }
}
