//! An adversary's requests against the real gateway and demo dashboard. Two
//! victims: alice, whose sign-in waits at the challenge (the upstream cookie
//! is held back), and bob, signed in with the upstream cookie in hand while
//! his account requires a second factor he has not set up. No attack may
//! reach the upstream as either of them: no answer may carry their identity.
//! Requests are written raw, so malformed ones reach the gateway as sent.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::tools::oathtool;
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends raw bytes and reads all the gateway answers within a short time.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(Duration::from_millis(400), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn leaked(answer: &str) -> bool {
    [
        "Signed in as alice",
        "Signed in as bob",
        "\"email\":\"alice@",
        "\"email\":\"bob@",
        "\"u-alice\"",
        "\"u-bob\"",
    ]
    .iter()
    .any(|needle| answer.contains(needle))
}

#[tokio::test(flavor = "multi_thread")]
async fn no_attack_reaches_the_upstream_as_a_user_without_a_passed_second_factor() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;

    // alice: TOTP on, then a sign-in held at the challenge.
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
    let code = oathtool(e["secret"].as_str().unwrap(), 0);
    let v = alice
        .send_json(Method::POST, "/_2fa/api/totp/verify", json!({ "code": code }))
        .await;
    assert_eq!(v.status, StatusCode::OK);
    let recovery: Vec<String> = serde_json::from_value(v.json()["recovery_codes"].clone()).unwrap();
    let on = alice
        .send_json(Method::PUT, "/_2fa/api/accounts/acme/require", json!({"require": true}))
        .await;
    assert_eq!(on.status, StatusCode::OK);
    let mut bob = Browser::new(gw.addr);
    bob.login("bob@acme.test", "bob-password").await;
    assert_eq!(
        bob.get("/").await.status,
        StatusCode::SEE_OTHER,
        "bob must enroll first"
    );
    let mut held = Browser::new(gw.addr);
    held.login("alice@acme.test", "alice-password").await;
    assert!(!held.jar.contains_key("dash_session"));

    let bob_cookie = bob.cookie_header().unwrap();
    let held_cookie = held.cookie_header().unwrap();
    let old_alice = format!(
        "tfa_session={}; dash_session={}",
        alice.jar["tfa_session"], alice.jar["dash_session"]
    );
    // alice's first session is legitimately signed in; sign it out so its
    // cookies become a replay.
    alice.send(Method::POST, "/logout", &[], Bytes::new()).await;

    let host = gw.addr.to_string();
    let mut attacks: Vec<(String, String)> = Vec::new();
    for cookie in [&bob_cookie, &held_cookie, &old_alice] {
        for target in [
            "/",
            "/api/me",
            "/_2fa/../api/me",
            "/_2fa/%2e%2e/api/me",
            "/_2fa/..%2fapi/me",
            "//api/me",
            "/./api/me",
            "/API/ME",
            "/api/me.",
            "/api/me%00",
            "/api/me/",
            "/%2fapi/me",
            "/_2fa/health/../../api/me",
            "/logout/../api/me",
            "/logout;/api/me",
            "http://evil.example/api/me",
            &format!("http://{host}/api/me"),
        ] {
            for method in [
                "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO",
            ] {
                attacks.push((
                    format!("{method} {target}"),
                    format!(
                        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                ));
            }
        }
        let smuggled = format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n");
        attacks.push((
            "CL+TE smuggling".into(),
            format!(
                "POST /_2fa/health HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
                5 + smuggled.len()
            ),
        ));
        attacks.push((
            "duplicate Content-Length".into(),
            format!(
                "POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}",
                smuggled.len()
            ),
        ));
        attacks.push((
            "obs-fold cookie".into(),
            format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: x=1\r\n {cookie}\r\n\r\n"),
        ));
        attacks.push((
            "HTTP/1.0 without Host".into(),
            format!("GET /api/me HTTP/1.0\r\nCookie: {cookie}\r\n\r\n"),
        ));
        attacks.push((
            "WebSocket upgrade".into(),
            format!("GET /ws HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
        ));
        attacks.push((
            "h2c upgrade".into(),
            format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"),
        ));
        attacks.push((
            "client identity header".into(),
            format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nX-Tfa-User: u-alice\r\n\r\n"),
        ));
        attacks.push((
            "duplicated cookies".into(),
            format!(
                "GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}; {cookie}\r\nCookie: dash_session=x\r\n\r\n"
            ),
        ));
        attacks.push((
            "oversized cookie".into(),
            format!(
                "GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}; pad={}\r\n\r\n",
                "a".repeat(70_000)
            ),
        ));
    }
    attacks.push((
        "forged gateway cookie".into(),
        format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: tfa_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; dash_session=forged\r\n\r\n"),
    ));

    let mut leaks = Vec::new();
    for (name, request) in &attacks {
        let answer = raw(gw.addr, request.as_bytes()).await;
        if leaked(&answer) {
            leaks.push(name.clone());
        }
    }
    // Open redirects through the destination: a right code still only ever
    // leads to a path on this site.
    for (i, next) in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ]
    .iter()
    .enumerate()
    {
        let mut b = Browser::new(gw.addr);
        b.login("alice@acme.test", "alice-password").await;
        let page = b.get("/_2fa/challenge").await.text();
        let token = common::tools::csrf_token(&page);
        let form = format!(
            "csrf_token={token}&code={}&next={}",
            recovery[i],
            common::tools::enc(next)
        );
        let r = b.post_form("/_2fa/challenge", &form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        assert_eq!(r.header("location"), Some("/"), "next={next}");
        attacks.push((format!("open redirect {next}"), String::new()));
    }

    // The detector works: a signed-in user's raw request is seen reaching
    // the upstream. And the attacks broke nothing.
    let mut carol = Browser::new(gw.addr);
    carol.login("carol@globex.test", "carol-password").await;
    let control = raw(
        gw.addr,
        format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
            carol.cookie_header().unwrap()
        )
        .as_bytes(),
    )
    .await;
    assert!(control.contains("Signed in as carol@globex.test"), "{control}");
    assert!(!leaked(&control), "carol is not a victim");
    println!("attack suite: {} attacks, {} got through", attacks.len(), leaks.len());
    assert!(leaks.is_empty(), "reached the upstream: {leaks:?}");
}
