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

/// The answer to alice's `PUT .../require` with `headers` added: its
/// `error` code, or `None` if it was not a refusal.
async fn require_with(alice: &mut Browser, headers: &[(&str, &str)]) -> Option<String> {
    let mut all = vec![("content-type", "application/json"), ("accept", "application/json")];
    all.extend_from_slice(headers);
    let r = alice
        .send(
            Method::PUT,
            "/_2fa/api/accounts/acme/require",
            &all,
            Bytes::from(r#"{"require":false}"#),
        )
        .await;
    (r.status.as_u16() >= 400).then(|| r.json()["error"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn on_plain_http_only_an_http_origin_of_this_host_and_port_may_change_state() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut alice = common::signed_in_as(gw.addr, "alice@acme.test").await;
    let cross = Some("cross_origin".to_string());
    let (http, https) = (format!("http://{}", gw.addr), format!("https://{}", gw.addr));

    assert_eq!(require_with(&mut alice, &[("origin", &http)]).await, None);
    assert_eq!(
        require_with(&mut alice, &[("origin", &https)]).await,
        cross,
        "HTTPS origin"
    );
    let other_port = format!("http://{}:{}", gw.addr.ip(), gw.addr.port() + 1);
    assert_eq!(require_with(&mut alice, &[("origin", &other_port)]).await, cross);
    assert_eq!(require_with(&mut alice, &[("origin", "null")]).await, cross);

    // Without an Origin, the Referer says where the request comes from.
    let referer = |base: &str| format!("{base}/_2fa/settings");
    assert_eq!(require_with(&mut alice, &[("referer", &referer(&http))]).await, None);
    assert_eq!(require_with(&mut alice, &[("referer", &referer(&https))]).await, cross);
    let evil = "http://evil.example/_2fa/settings";
    assert_eq!(require_with(&mut alice, &[("referer", evil)]).await, cross);
}

#[test]
fn on_https_only_an_https_origin_may_change_state() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_tls(start_dashboard(), dir.path());
    let base = format!("https://{}", gw.addr);
    let jar = dir.path().join("cookies.txt");
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-sk", "--max-time", "10", "-b"])
            .arg(&jar)
            .arg("-c")
            .arg(&jar)
            .args(args)
            .output()
            .expect("curl is installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    curl(&[
        "-d",
        "email=alice%40acme.test&password=alice-password",
        &format!("{base}/login"),
    ]);
    let require = |origin: &str| {
        curl(&[
            "-w",
            "\n%{http_code}",
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "-H",
            &format!("origin: {origin}"),
            "-d",
            r#"{"require":false}"#,
            &format!("{base}/_2fa/api/accounts/acme/require"),
        ])
    };
    let http = require(&format!("http://{}", gw.addr));
    assert!(http.contains("cross_origin"), "{http}");
    let https = require(&base);
    assert!(https.ends_with("\n200"), "{https}");
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_load_balancer_that_ends_tls_the_https_origin_is_this_sites() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &[("secure", "\"always\"")]).await;
    let mut alice = common::signed_in_as(gw.addr, "alice@acme.test").await;
    let https = format!("https://{}", gw.addr);
    assert_eq!(require_with(&mut alice, &[("origin", &https)]).await, None);
    let http = format!("http://{}", gw.addr);
    let refused = require_with(&mut alice, &[("origin", &http)]).await;
    assert_eq!(refused.as_deref(), Some("cross_origin"), "a plain-HTTP page");
}
