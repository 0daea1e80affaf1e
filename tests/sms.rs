//! The legacy SMS factor end to end: the demo's outbox provider for dave's
//! enrollment and sign-in, and a webhook provider that fails, then recovers.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::tools::{csrf_token, last_code};
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;

async fn enable_sms(dave: &mut Browser, outbox: &std::path::Path) {
    let settings = dave.get("/_2fa/settings").await.text();
    assert!(settings.contains("SMS codes"), "{settings}");
    let form = format!(
        "csrf_token={}&password=dave-password&country=GB&phone=07400+123456",
        csrf_token(&settings)
    );
    let sent = dave.post_form("/_2fa/settings/sms/enable", &form).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text());
    let setup = dave.get("/_2fa/settings/sms/setup").await.text();
    assert!(setup.contains("+44••••••••56"), "{setup}");
    let code = last_code(outbox, "+447400123456");
    let ok = dave
        .post_form(
            "/_2fa/settings/sms/verify",
            &format!("csrf_token={}&code={code}", csrf_token(&setup)),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert!(dave.get("/_2fa/api/status").await.json()["sms_enabled"] == true);
}

#[tokio::test(flavor = "multi_thread")]
async fn dave_enrolls_sms_and_signs_in_with_a_code_from_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    // The default send limit (the demo allows more). Expiry is counted in
    // whole seconds, so a code lives at least TTL - 1 s: 4 s leaves each
    // code 3 s for the steps that must come before it expires.
    let settings = [("code_ttl_seconds", "4"), ("max_sends", "3")];
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &settings).await;
    let outbox = dir.path().join("data").join("sms-outbox.jsonl");
    let mut dave = Browser::new(gw.addr);
    dave.login("dave@globex.test", "dave-password").await;
    enable_sms(&mut dave, &outbox).await;
    dave.send(Method::POST, "/logout", &[], Bytes::new()).await;

    let r = dave.login("dave@globex.test", "dave-password").await;
    let challenge = r.header("location").unwrap().to_string();
    assert!(challenge.starts_with("/_2fa/challenge"), "{challenge}");
    let page = dave.get(&challenge).await.text();
    assert!(page.contains("Send a code by SMS to +44••••••••56"), "{page}");
    let send_form = format!("csrf_token={}&next=%2F", csrf_token(&page));
    let sent = dave.post_form("/_2fa/challenge/sms", &send_form).await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.text().contains("We sent a code"), "{}", sent.text());

    // An expired code is refused.
    let stale = last_code(&outbox, "+447400123456");
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    let csrf = csrf_token(&page);
    let late = dave
        .post_form("/_2fa/challenge", &format!("csrf_token={csrf}&next=%2F&code={stale}"))
        .await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED, "expired code");

    // A fresh code works once.
    let sent = dave.post_form("/_2fa/challenge/sms", &send_form).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text());
    let code = last_code(&outbox, "+447400123456");
    let passed = dave
        .post_form("/_2fa/challenge", &format!("csrf_token={csrf}&next=%2F&code={code}"))
        .await;
    assert_eq!(passed.status, StatusCode::SEE_OTHER, "{}", passed.text());
    assert!(dave.get("/").await.text().contains("Signed in as dave@globex.test"));
    dave.send(Method::POST, "/logout", &[], Bytes::new()).await;
    let r = dave.login("dave@globex.test", "dave-password").await;
    let page = dave.get(r.header("location").unwrap()).await.text();
    let reused = dave
        .post_form(
            "/_2fa/challenge",
            &format!("csrf_token={}&next=%2F&code={code}", csrf_token(&page)),
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "a code works once");

    // Not sent as JSON (a cross-site page can post with no Content-Type,
    // or text/plain, without a preflight): refused before anything else.
    for headers in [&[][..], &[("content-type", "text/plain")][..]] {
        let refused = dave
            .send(Method::POST, "/_2fa/api/challenge/sms", headers, Bytes::new())
            .await;
        assert_eq!(refused.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{headers:?}");
    }

    // The send limit: three per window, and three were sent above.
    let json = [("content-type", "application/json")];
    let limited = dave
        .send(Method::POST, "/_2fa/api/challenge/sms", &json, Bytes::new())
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{}", limited.text());
    assert_eq!(limited.json()["error"], "too_many_codes");
}

/// A webhook that answers 500 to the first `failures` messages, then 200.
async fn flaky_webhook(failures: usize) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let status = if n < failures { 500 } else { 200 };
                    async move {
                        Ok::<_, Infallible>(
                            http::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_provider_leaves_the_user_able_to_retry_and_logs_no_code() {
    let dir = tempfile::tempdir().unwrap();
    let (hook, seen) = flaky_webhook(1).await;
    let addr = common::free_addr();
    let config = dir.path().join("hook.toml");
    let text = common::config_text(addr, start_dashboard(), &dir.path().join("data"))
        .replace("provider = \"outbox\"", "provider = \"webhook\"")
        + &format!("\n[sms.webhook]\nurl = \"http://{hook}/send\"\nauth_header = \"Authorization\"\nauth_value_env = \"HOOK_AUTH\"\n");
    std::fs::write(&config, text).unwrap();
    common::write_secrets(&dir.path().join("data"));
    let log_path = dir.path().join("gateway.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let gw = Gateway::start_logging(addr, config, log.into(), &[("HOOK_AUTH", "Bearer t0ken")]).await;

    let mut dave = Browser::new(gw.addr);
    dave.login("dave@globex.test", "dave-password").await;
    let settings = dave.get("/_2fa/settings").await.text();
    let form = format!(
        "csrf_token={}&password=dave-password&country=GB&phone=07400+123456",
        csrf_token(&settings)
    );
    let failed = dave.post_form("/_2fa/settings/sms/enable", &form).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY);
    assert!(failed.text().contains("could not be sent"), "{}", failed.text());
    let retried = dave.post_form("/_2fa/settings/sms/enable", &form).await;
    assert_eq!(
        retried.status,
        StatusCode::SEE_OTHER,
        "the retry goes through: {}",
        retried.text()
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2);

    let metrics = {
        let (a, token) = common::admin_of(&gw.config);
        let mut b = Browser::new(a);
        b.get_with("/metrics", &[("authorization", &format!("Bearer {token}"))])
            .await
            .text()
    };
    assert!(metrics.contains("tfa_sms_failures_total 1"), "{metrics}");
    drop(gw);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("SMS could not be sent"), "{log}");
    assert!(!log.contains("security code"), "no message text in the log: {log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn where_an_account_disallows_sms_its_users_are_asked_to_move_to_totp() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("data").join("sms-outbox.jsonl");
    // dave enables SMS while globex still allows it...
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut dave = Browser::new(gw.addr);
    dave.login("dave@globex.test", "dave-password").await;
    enable_sms(&mut dave, &outbox).await;
    let (addr, config) = gw.crash();

    // ...then the operator disallows SMS for globex, and carol requires 2FA.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "send_window_seconds = 600",
        "send_window_seconds = 600\ndisallowed_accounts = [\"globex\"]",
    );
    std::fs::write(&config, text).unwrap();
    let gw = Gateway::start_with(addr, config).await;
    let mut carol = Browser::new(gw.addr);
    carol.login("carol@globex.test", "carol-password").await;
    let headers = [("content-type", "application/json")];
    let nope = carol
        .send(
            Method::POST,
            "/_2fa/api/sms/enroll",
            &headers,
            Bytes::from(r#"{"password":"carol-password","country":"GB","phone":"07400 123457"}"#),
        )
        .await;
    assert_eq!(nope.status, StatusCode::FORBIDDEN, "{}", nope.text());
    assert_eq!(nope.json()["error"], "sms_not_allowed");

    // dave can still sign in with SMS, but is told to move, and SMS does not
    // satisfy an account requirement.
    let r = dave.login("dave@globex.test", "dave-password").await;
    let page = dave.get(r.header("location").unwrap()).await.text();
    let sent = dave
        .post_form(
            "/_2fa/challenge/sms",
            &format!("csrf_token={}&next=%2F", csrf_token(&page)),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text());
    let code = last_code(&outbox, "+447400123456");
    let passed = dave
        .post_form(
            "/_2fa/challenge",
            &format!("csrf_token={}&next=%2F&code={code}", csrf_token(&page)),
        )
        .await;
    assert_eq!(passed.status, StatusCode::SEE_OTHER, "{}", passed.text());
    let settings = dave.get("/_2fa/settings").await.text();
    assert!(
        settings.contains("SMS is no longer allowed for your account"),
        "{settings}"
    );
}
