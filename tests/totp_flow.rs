//! TOTP end to end through the HTML pages, with real clients: the QR code is
//! read by zbarimg, codes come from oathtool, forms carry their CSRF tokens.

mod common;

use bytes::Bytes;
use common::tools::{between, codes_in, csrf_token, enc, oathtool, scan_qr_svg};
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Signs in and returns the browser; asserts the dashboard is reached directly.
async fn signed_in(gw: &Gateway, email: &str, password: &str) -> Browser {
    let mut b = Browser::new(gw.addr);
    let r = b.login(email, password).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/"), "no challenge expected yet");
    b
}

/// Enables TOTP through the pages; returns the base32 secret and the recovery codes.
async fn enable_through_pages(b: &mut Browser, dir: &std::path::Path) -> (String, Vec<String>) {
    let settings = b.get("/_2fa/settings").await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(settings.text().contains("Off"), "{}", settings.text());
    let csrf = csrf_token(&settings.text());

    let wrong = b
        .post_form(
            "/_2fa/settings/totp/enable",
            &format!("csrf_token={csrf}&password=nope"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.text().contains("password is not right"), "{}", wrong.text());
    let beside = between(&wrong.text(), "aria-describedby=\"password-error\"", "</p>").unwrap_or_default();
    assert!(
        beside.contains("password is not right"),
        "the error is said next to the password field: {}",
        wrong.text()
    );

    let forged = b
        .post_form(
            "/_2fa/settings/totp/enable",
            "csrf_token=forged&password=alice-password",
        )
        .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "a form without the session's CSRF token is refused"
    );

    let ok = b
        .post_form(
            "/_2fa/settings/totp/enable",
            &format!("csrf_token={csrf}&password=alice-password"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    let setup = b.get(ok.header("location").unwrap()).await;
    assert_eq!(setup.status, StatusCode::OK);
    let page = setup.text();
    let shown = between(&page, "id=\"secret\" aria-labelledby=\"secret-label\">", "</code>").expect("secret shown");
    assert!(
        shown.split(' ').all(|g| g.len() == 4),
        "grouped by four for manual entry: {shown}"
    );
    let secret = shown.replace(' ', "");
    let svg = between(
        &page,
        "<figure class=\"qr\" aria-label=\"QR code to scan with your authenticator app\">",
        "</figure>",
    )
    .expect("inline QR code");
    let uri = scan_qr_svg(&svg, dir);
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(
        uri.contains("issuer=Demo%20Dashboard") || uri.contains("issuer=Demo+Dashboard"),
        "{uri}"
    );
    assert!(
        uri.contains("alice%40acme.test") || uri.contains("alice@acme.test"),
        "{uri}"
    );

    let csrf = csrf_token(&page);
    let bad = b
        .post_form("/_2fa/settings/totp/verify", &format!("csrf_token={csrf}&code=000000"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let code = oathtool(&secret, 0);
    let done = b
        .post_form("/_2fa/settings/totp/verify", &format!("csrf_token={csrf}&code={code}"))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert!(done.text().contains("safe place"), "{}", done.text());
    assert!(done.text().contains("download=\"recovery-codes.txt\""));
    let codes = codes_in(&done.text());
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert!(
        codes.iter().all(|c| c.len() == 14 && c.matches('-').count() == 2),
        "{codes:?}"
    );
    (secret, codes)
}

async fn log_out(b: &mut Browser) {
    let r = b.send(Method::POST, "/logout", &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

/// Signs in a user with 2FA: the upstream cookie must be held back.
async fn sign_in_to_challenge(b: &mut Browser, email: &str, password: &str) -> String {
    let r = b.login(email, password).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let location = r.header("location").unwrap().to_string();
    assert!(location.starts_with("/_2fa/challenge?next="), "{location}");
    assert!(
        !b.jar.contains_key("dash_session"),
        "upstream cookie must be held back: {:?}",
        r.set_cookies()
    );
    assert!(b.jar.contains_key("tfa_session"));
    location
}

async fn submit_code(b: &mut Browser, challenge: &str, code: &str) -> common::Response {
    let page = b.get(challenge).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let csrf = csrf_token(&page.text());
    b.post_form(
        "/_2fa/challenge",
        &format!("csrf_token={csrf}&next=%2F&code={}", enc(code)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn alice_enables_totp_and_then_needs_a_code_at_every_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, dir.path()).await;
    let mut alice = signed_in(&gw, "alice@acme.test", "alice-password").await;
    let (secret, recovery) = enable_through_pages(&mut alice, dir.path()).await;
    log_out(&mut alice).await;

    let challenge = sign_in_to_challenge(&mut alice, "alice@acme.test", "alice-password").await;
    let pending_token = alice.jar["tfa_session"].clone();
    assert_eq!(
        alice
            .get("/")
            .await
            .header("location")
            .map(|l| l.starts_with("/_2fa/challenge")),
        Some(true)
    );
    let api = alice.get_with("/api/me", &[("accept", "application/json")]).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.json()["error"], "second_factor_required");
    let echo = alice
        .get_with("/echo/headers", &[("x-requested-with", "XMLHttpRequest")])
        .await;
    assert_eq!(
        echo.status,
        StatusCode::UNAUTHORIZED,
        "nothing of the upstream before the challenge"
    );
    let mut ws = format!("ws://{}/ws", gw.addr).into_client_request().unwrap();
    ws.headers_mut()
        .insert("cookie", alice.cookie_header().unwrap().parse().unwrap());
    match tokio_tungstenite::connect_async(ws).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), StatusCode::UNAUTHORIZED),
        other => panic!("a WebSocket before the challenge must get 401, got {other:?}"),
    }

    let wrong = submit_code(&mut alice, &challenge, "123456").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text().contains("not right"), "{}", wrong.text());

    // The enrollment consumed the current step; the next step's code is fresh.
    let code = oathtool(&secret, 30);
    let passed = submit_code(&mut alice, &challenge, &code).await;
    assert_eq!(passed.status, StatusCode::SEE_OTHER, "{}", passed.text());
    assert_eq!(passed.header("location"), Some("/"));
    assert!(alice.jar.contains_key("dash_session"), "upstream cookie released");
    assert_ne!(
        alice.jar["tfa_session"], pending_token,
        "a new session id after the second factor"
    );
    assert!(alice.get("/").await.text().contains("Signed in as alice@acme.test"));
    assert_eq!(
        alice
            .get_with("/api/me", &[("accept", "application/json")])
            .await
            .status,
        StatusCode::OK
    );

    // The token from before the challenge is worth nothing now.
    let mut fixated = Browser::new(gw.addr);
    fixated.jar.insert("tfa_session".into(), pending_token);
    fixated
        .jar
        .insert("dash_session".into(), alice.jar["dash_session"].clone());
    assert_eq!(fixated.get("/").await.status, StatusCode::SEE_OTHER);

    // The same code again, in a new sign-in: refused.
    log_out(&mut alice).await;
    let challenge = sign_in_to_challenge(&mut alice, "alice@acme.test", "alice-password").await;
    let replay = submit_code(&mut alice, &challenge, &code).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "a replayed code is refused");

    // A recovery code works once, typed loosely.
    let loose = recovery[0].to_uppercase().replace('-', " ");
    let ok = submit_code(&mut alice, &challenge, &loose).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    let settings = alice.get("/_2fa/settings").await.text();
    assert!(settings.contains("9 recovery codes left"), "{settings}");
    log_out(&mut alice).await;
    let challenge = sign_in_to_challenge(&mut alice, "alice@acme.test", "alice-password").await;
    let again = submit_code(&mut alice, &challenge, &recovery[0]).await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "a recovery code works once only"
    );

    // Everything survives a crash of the gateway: secret, replay guard, codes.
    let (addr, config) = gw.crash();
    let gw = Gateway::start_with(addr, config).await;
    let mut alice = Browser::new(gw.addr);
    let challenge = sign_in_to_challenge(&mut alice, "alice@acme.test", "alice-password").await;
    assert_eq!(
        submit_code(&mut alice, &challenge, &code).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        submit_code(&mut alice, &challenge, &recovery[0]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let ok = submit_code(&mut alice, &challenge, &recovery[1]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());

    // Disable: a wrong password is refused, the right one turns 2FA off.
    let settings = alice.get("/_2fa/settings").await.text();
    let csrf = csrf_token(&settings);
    let refused = alice
        .post_form(
            "/_2fa/settings/totp/disable",
            &format!("csrf_token={csrf}&password=wrong"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let off = alice
        .post_form(
            "/_2fa/settings/totp/disable",
            &format!("csrf_token={csrf}&password=alice-password"),
        )
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER);
    assert!(alice
        .get(off.header("location").unwrap())
        .await
        .text()
        .contains("is off"));
    log_out(&mut alice).await;
    let back = alice.login("alice@acme.test", "alice-password").await;
    assert_eq!(back.header("location"), Some("/"), "no challenge once 2FA is off");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_codes_lock_the_user_out_of_every_sign_in_but_not_out_of_live_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut first = signed_in(&gw, "alice@acme.test", "alice-password").await;
    let (secret, _) = enable_through_pages(&mut first, dir.path()).await;

    // Ten wrong codes across two sign-ins lock alice out.
    let mut a = Browser::new(gw.addr);
    let mut b = Browser::new(gw.addr);
    let ca = sign_in_to_challenge(&mut a, "alice@acme.test", "alice-password").await;
    let cb = sign_in_to_challenge(&mut b, "alice@acme.test", "alice-password").await;
    for i in 0..10 {
        let (browser, challenge) = if i % 2 == 0 { (&mut a, &ca) } else { (&mut b, &cb) };
        let r = submit_code(browser, challenge, "000000").await;
        let expected = if i < 9 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status, expected, "attempt {i}: {}", r.text());
    }
    // The sign-ins held when the lockout began are over (their dashboard
    // sessions signed out); a new one must wait out the lockout, even with
    // a right code.
    for (browser, challenge) in [(&mut a, &ca), (&mut b, &cb)] {
        let gone = browser.get(challenge).await;
        assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.text());
        assert_eq!(gone.header("location"), Some("/login"));
    }
    let mut a = Browser::new(gw.addr);
    let ca = sign_in_to_challenge(&mut a, "alice@acme.test", "alice-password").await;
    let locked = submit_code(&mut a, &ca, &oathtool(&secret, 30)).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even a right code waits out the lockout"
    );
    assert!(locked
        .header("retry-after")
        .is_some_and(|s| s.parse::<u64>().unwrap() > 0));

    // The session alice had before is untouched.
    assert!(first.get("/").await.text().contains("Signed in as alice@acme.test"));

    // A restart does not lift the lockout.
    let (addr, config) = (gw.addr, gw.config.clone());
    assert!(gw.stop().success());
    let gw = Gateway::start_with(addr, config).await;
    let mut c = Browser::new(gw.addr);
    let cc = sign_in_to_challenge(&mut c, "alice@acme.test", "alice-password").await;
    let still = submit_code(&mut c, &cc, &oathtool(&secret, 30)).await;
    assert_eq!(
        still.status,
        StatusCode::TOO_MANY_REQUESTS,
        "lockout survives a restart"
    );
}
