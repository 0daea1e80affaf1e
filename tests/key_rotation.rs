//! Rotating the key that encrypts secrets at rest: stop the gateway, run
//! `tfa-gateway rotate-key`, point the configuration at the new key, start
//! again; second factors keep working.

mod common;

use std::process::Command;

use common::tools::{csrf_token, enc, oathtool};
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn secrets_survive_a_key_rotation() {
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
    let (addr, config) = (gw.addr, gw.config.clone());
    assert!(gw.stop().success());

    let new_key = dir.path().join("new.key");
    let (_, text) = tfa_gateway::secretbox::SecretKey::generate(&tfa_gateway::env::Env::real());
    std::fs::write(&new_key, text).unwrap();
    let out = Command::new(common::BIN)
        .args(["rotate-key", "--config"])
        .arg(&config)
        .arg("--new-key-file")
        .arg(&new_key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 user(s)"));

    let old_key = dir.path().join("data").join("secret.key");
    let rewritten = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&old_key.display().to_string(), &new_key.display().to_string());
    std::fs::write(&config, rewritten).unwrap();
    std::fs::remove_file(&old_key).unwrap();
    let gw = Gateway::start_with(addr, config).await;

    let mut alice = Browser::new(gw.addr);
    let r = alice.login("alice@acme.test", "alice-password").await;
    let page = alice.get(r.header("location").unwrap()).await.text();
    let form = format!(
        "csrf_token={}&next=%2F&code={}",
        csrf_token(&page),
        enc(&oathtool(&secret, 30))
    );
    let passed = alice.post_form("/_2fa/challenge", &form).await;
    assert_eq!(passed.status, StatusCode::SEE_OTHER, "{}", passed.text());
}
