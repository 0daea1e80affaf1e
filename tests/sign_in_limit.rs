//! Sign-in attempts per client address, end to end: one client signing in
//! in a loop gets 429 with `Retry-After` once its allowance for the minute
//! is spent, and the upstream never sees those attempts; other clients sign
//! in as before, and a client cannot refill its allowance by claiming to be
//! someone else in `X-Forwarded-For`.

mod common;

use bytes::Bytes;
use common::recorder::Recorder;
use common::{start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};

/// A sign-in from `source`, with `extra` headers; returns the status and
/// the `Retry-After` header.
async fn sign_in(gw: &Gateway, source: &str, extra: &[(&str, &str)]) -> (StatusCode, Option<String>) {
    let mut b = Browser::from_ip(gw.addr, source);
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra);
    let form = Bytes::from_static(b"email=mallory%40example.test&password=guess");
    let r = b.send(Method::POST, "/login", &headers, form).await;
    (r.status, r.header("retry-after").map(str::to_string))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_signing_in_in_a_loop_is_refused_past_its_allowance_without_reaching_the_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, rec) = Recorder::start().await;
    let gw = Gateway::start_configured(upstream, dir.path(), &[("sign_ins_per_minute", "5")]).await;

    for i in 0..5 {
        assert_eq!(
            sign_in(&gw, "127.0.0.2", &[]).await.0,
            StatusCode::OK,
            "attempt {}",
            i + 1
        );
    }
    for _ in 0..20 {
        let (status, retry) = sign_in(&gw, "127.0.0.2", &[]).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        let secs: u64 = retry.expect("a Retry-After").parse().expect("seconds");
        assert!((1..=12).contains(&secs), "one more attempt within 12 s: {secs}");
    }
    assert_eq!(rec.count("/login"), 5, "refused attempts never reach the upstream");

    let claimed = [("x-forwarded-for", "203.0.113.77")];
    assert_eq!(
        sign_in(&gw, "127.0.0.2", &claimed).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "an untrusted X-Forwarded-For does not make a new client"
    );
    assert_eq!(sign_in(&gw, "127.0.0.3", &[]).await.0, StatusCode::OK, "another client");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spelling_of_the_sign_in_route_is_a_sign_in_and_counts_against_the_allowance() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, rec) = Recorder::start().await;
    let gw = Gateway::start_configured(upstream, dir.path(), &[("sign_ins_per_minute", "2")]).await;
    for _ in 0..2 {
        assert_eq!(sign_in(&gw, "127.0.0.1", &[]).await.0, StatusCode::OK);
    }
    // A dashboard's server may read each of these as its sign-in (Rails and
    // Express ignore a trailing slash, Symfony upper-cases the method): a
    // password guessed there would go uncounted, and a sign-in there would
    // reach the browser without its second factor.
    let form = "email=mallory%40example.test&password=guess";
    for (method, target) in [
        ("POST", "/login/"),
        ("POST", "/LOGIN"),
        ("POST", "/login;jsessionid=1"),
        ("POST", "//login"),
        ("POST", "/x/../login"),
        ("POST", "/%6cogin"),
        ("POST", "/login.json"),
        ("post", "/login"),
    ] {
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
            gw.addr,
            form.len()
        );
        let answer = common::tools::raw(gw.addr, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 429"), "{method} {target}: {answer}");
    }
    assert_eq!(rec.total(), 2, "no spelling reached the dashboard");
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_each_client_it_names_has_its_own_allowance() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, rec) = Recorder::start().await;
    let settings = [("sign_ins_per_minute", "2"), ("trusted_proxies", "[\"127.0.0.1/32\"]")];
    let gw = Gateway::start_configured(upstream, dir.path(), &settings).await;

    for i in 1..=6 {
        let client = format!("198.51.100.{i}");
        let status = sign_in(&gw, "127.0.0.1", &[("x-forwarded-for", &client)]).await.0;
        assert_eq!(status, StatusCode::OK, "{client} through the proxy");
    }
    let one = [("x-forwarded-for", "198.51.100.1")];
    assert_eq!(sign_in(&gw, "127.0.0.1", &one).await.0, StatusCode::OK);
    assert_eq!(sign_in(&gw, "127.0.0.1", &one).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rec.count("/login"), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_limit_holds_for_right_passwords_too_and_at_the_real_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &[("sign_ins_per_minute", "3")]).await;
    for _ in 0..3 {
        let mut b = Browser::from_ip(gw.addr, "127.0.0.2");
        assert_eq!(
            b.login("carol@globex.test", "carol-password").await.status,
            StatusCode::SEE_OTHER
        );
    }
    let mut b = Browser::from_ip(gw.addr, "127.0.0.2");
    let r = b.login("carol@globex.test", "carol-password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.text().contains("Too many sign-in attempts"), "{}", r.text());
    assert!(!b.jar.contains_key("dash_session"));
}
