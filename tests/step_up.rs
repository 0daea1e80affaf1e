//! Step-up: the demo's billing page (`[[step_up]] path_prefix =
//! "/settings/billing"`, 300 s) needs a second factor passed in the last
//! five minutes. A session that never passed one there (2FA turned on in
//! it, or let in by a remembered device) is asked; the browser comes back
//! where it was, a script is told why, every spelling of the path is held,
//! and passing renews the session.

mod common;

use common::api::enable_totp;
use common::tools::raw;
use common::{signed_in_as, start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::json;

const BILLING: &str = "/settings/billing";

async fn page(b: &mut Browser, path: &str) -> common::Response {
    b.get_with(path, &[("accept", "text/html")]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_billing_page_asks_for_the_second_factor_again_and_lets_in_once_passed() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;

    // Without 2FA there is nothing to ask for.
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let open = page(&mut alice, BILLING).await;
    assert_eq!(open.status, StatusCode::OK);
    assert!(open.text().contains("<h1>Billing</h1>"));

    // 2FA turned on in this session: it never passed it, so it is asked.
    let (_, codes) = enable_totp(&mut alice, "alice-password").await;
    let asked = page(&mut alice, &format!("{BILLING}?tab=cards")).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        asked.header("location"),
        Some("/_2fa/challenge?step_up=1&next=/settings/billing%3Ftab%3Dcards")
    );
    let script = alice.get_with(BILLING, &[("accept", "application/json")]).await;
    assert_eq!(script.status, StatusCode::UNAUTHORIZED);
    assert_eq!(script.json()["error"], "step_up_required");
    // Every spelling the dashboard may read as the billing page.
    for spelling in [
        "/Settings/Billing",
        "/settings//billing",
        "/settings/./billing",
        "/x/../settings/billing",
        "/settings/%62illing",
        "/settings/billing;v=1",
        "/settings/billing/",
        "/settings/billing.json",
    ] {
        let r = page(&mut alice, spelling).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{spelling}");
        assert!(r.header("location").unwrap_or("").contains("step_up=1"), "{spelling}");
    }
    // A target that is not a path is read as one by some servers
    // (`foo:/settings/billing` as `/settings/billing`): refused, never
    // forwarded as the path `/`.
    let cookie = alice.cookie_header().expect("alice's cookies");
    for target in ["foo:/settings/billing", "x:/settings/billing?tab=1", "*"] {
        let answer = raw(
            gw.addr,
            format!(
                "GET {target} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n",
                gw.addr
            )
            .as_bytes(),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        assert!(
            answer.contains("The request target must be a path."),
            "{target}: {answer}"
        );
        assert!(
            !answer.to_ascii_lowercase().contains("x-demo-user"),
            "{target}: {answer}"
        );
    }
    // The rest of the dashboard is not held.
    assert_eq!(page(&mut alice, "/projects").await.status, StatusCode::OK);
    assert_eq!(
        page(&mut alice, "/settings/billingx").await.status,
        StatusCode::NOT_FOUND
    );

    // The challenge says why; a wrong code is counted like any other.
    let challenge = page(&mut alice, "/_2fa/challenge?step_up=1&next=/settings/billing").await;
    assert_eq!(challenge.status, StatusCode::OK);
    assert!(challenge.text().contains("needs your second factor again"));
    assert!(
        !challenge.text().contains("remember_device"),
        "a step-up remembers no device"
    );
    let failed = common::metric(&gw.config, "tfa_challenges_failed_total").await;
    let wrong = alice
        .send_json(Method::POST, "/_2fa/api/challenge", json!({ "code": "000000" }))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        common::metric(&gw.config, "tfa_challenges_failed_total").await,
        failed + 1
    );

    // Passed: a new session id, and the page opens.
    let old_token = alice.jar["tfa_session"].clone();
    let csrf_page = alice.get("/_2fa/challenge?next=/settings/billing").await.text();
    let csrf = csrf_page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let form = format!("csrf_token={csrf}&next=%2Fsettings%2Fbilling&code={}", codes[0]);
    let passed = alice.post_form("/_2fa/challenge", &form).await;
    assert_eq!(passed.status, StatusCode::SEE_OTHER, "{}", passed.text());
    assert_eq!(passed.header("location"), Some(BILLING), "back where she was");
    assert_ne!(alice.jar["tfa_session"], old_token, "a new session id after the step");
    assert_eq!(common::metric(&gw.config, "tfa_step_ups_total").await, 1);
    let billing = page(&mut alice, BILLING).await;
    assert_eq!(billing.status, StatusCode::OK);
    assert!(billing.text().contains("<h1>Billing</h1>"));
    assert_eq!(page(&mut alice, "/").await.status, StatusCode::OK, "still signed in");
    // The old token is worth nothing.
    let mut stale = Browser::new(gw.addr);
    stale.jar.insert("tfa_session".into(), old_token);
    assert_eq!(page(&mut stale, BILLING).await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        stale
            .get_with("/api/me", &[("accept", "application/json")])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // A sign-in that just passed the challenge opens it at once.
    let mut fresh = Browser::new(gw.addr);
    fresh.login("alice@acme.test", "alice-password").await;
    let r = fresh
        .send_json(
            Method::POST,
            "/_2fa/api/challenge",
            json!({ "code": codes[1], "remember_device": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(page(&mut fresh, BILLING).await.status, StatusCode::OK);

    // A remembered device skips the sign-in challenge, not the step-up.
    let mut device = Browser::new(gw.addr);
    device.jar.insert("tfa_device".into(), fresh.jar["tfa_device"].clone());
    device.login("alice@acme.test", "alice-password").await;
    assert!(device.jar.contains_key("dash_session"), "let straight in");
    assert_eq!(page(&mut device, "/").await.status, StatusCode::OK);
    assert_eq!(page(&mut device, BILLING).await.status, StatusCode::SEE_OTHER);
}
