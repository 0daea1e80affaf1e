//! Who the client is, end to end. Behind a trusted proxy (here 127.0.0.1)
//! the client is the rightmost address in the proxy's header that is not a
//! trusted proxy; from anyone else the header is a client's claim and is
//! ignored, so an attacker cannot be a new client with each request. The
//! upstream gets the resolved client in `X-Forwarded-For` and no other claim.

mod common;

use bytes::Bytes;
use common::api::enable_totp;
use common::recorder::Recorder;
use common::{crowd, Browser, Gateway};
use http::{Method, StatusCode};

const BEHIND_LOOPBACK: (&str, &str) = ("trusted_proxies", "[\"127.0.0.1/32\"]");

/// What the upstream was told about the client of a GET sent from `source`
/// with `headers`.
async fn upstream_sees(gw: &Gateway, rec: &Recorder, source: &str, headers: &[(&str, &str)]) -> Vec<String> {
    let mut b = Browser::from_ip(gw.addr, source);
    let r = b.send(Method::GET, "/page", headers, Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    rec.last("/page", "x-forwarded-for")
}

#[tokio::test(flavor = "multi_thread")]
async fn x_forwarded_for_is_believed_from_a_trusted_proxy_only_and_read_from_the_right() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, rec) = Recorder::start().await;
    let gw = Gateway::start_configured(upstream, dir.path(), &[BEHIND_LOOPBACK]).await;

    let chain = [("x-forwarded-for", "198.51.100.7, 203.0.113.9")];
    assert_eq!(
        upstream_sees(&gw, &rec, "127.0.0.1", &chain).await,
        ["203.0.113.9"],
        "the proxy's own hop"
    );
    let through_two = [
        ("x-forwarded-for", "198.51.100.7"),
        ("x-forwarded-for", "203.0.113.9, 127.0.0.1"),
    ];
    assert_eq!(
        upstream_sees(&gw, &rec, "127.0.0.1", &through_two).await,
        ["203.0.113.9"],
        "the rightmost address that is not a trusted proxy, across header lines"
    );
    let spoofed = [
        ("x-forwarded-for", "203.0.113.50"),
        ("forwarded", "for=203.0.113.51"),
        ("x-real-ip", "203.0.113.52"),
    ];
    assert_eq!(
        upstream_sees(&gw, &rec, "127.0.0.2", &spoofed).await,
        ["127.0.0.2"],
        "a client's own claim is ignored"
    );
    assert!(
        rec.last("/page", "forwarded").is_empty(),
        "no Forwarded reaches the upstream"
    );
    assert!(
        rec.last("/page", "x-real-ip").is_empty(),
        "no X-Real-IP reaches the upstream"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_is_read_instead_when_the_proxy_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, rec) = Recorder::start().await;
    let settings = [BEHIND_LOOPBACK, ("client_address_header", "\"forwarded\"")];
    let gw = Gateway::start_configured(upstream, dir.path(), &settings).await;

    let v6 = [(
        "forwarded",
        r#"for=198.51.100.1;proto=http, for="[2001:db8:cafe::17]:4711""#,
    )];
    assert_eq!(upstream_sees(&gw, &rec, "127.0.0.1", &v6).await, ["2001:db8:cafe::17"]);
    let v4 = [("forwarded", r#"For="192.0.2.60:8080";by=10.0.0.1"#)];
    assert_eq!(upstream_sees(&gw, &rec, "127.0.0.1", &v4).await, ["192.0.2.60"]);
    // This proxy maintains Forwarded; an X-Forwarded-For it passed through
    // was written by the client.
    let other = [("x-forwarded-for", "203.0.113.9")];
    assert_eq!(upstream_sees(&gw, &rec, "127.0.0.1", &other).await, ["127.0.0.1"]);
}

/// Answers the challenge by API, claiming to come from `claimed`.
async fn challenge_claiming(b: &mut Browser, claimed: &str, code: &str) -> StatusCode {
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("x-forwarded-for", claimed),
    ];
    let body = Bytes::from(serde_json::json!({ "code": code }).to_string());
    b.send(Method::POST, "/_2fa/api/challenge", &headers, body).await.status
}

/// `email` signed in and held at the challenge, from `source` claiming `claimed`.
async fn held(gw: &Gateway, source: &str, claimed: &str, email: &str) -> Browser {
    let mut b = Browser::from_ip(gw.addr, source);
    let form = format!("email={}&password={}", email.replace('@', "%40"), crowd::PASSWORD);
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-forwarded-for", claimed),
    ];
    let r = b.send(Method::POST, "/login", &headers, Bytes::from(form)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    b
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_codes_count_against_the_resolved_client_and_a_spoofed_header_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        BEHIND_LOOPBACK,
        ("max_failures_per_user", "10"),
        ("max_failures_per_client", "4"),
    ];
    let gw = Gateway::start_configured(crowd::start(), dir.path(), &settings).await;
    for i in 0..4 {
        let mut b = Browser::new(gw.addr);
        b.login(&crowd::email(i), crowd::PASSWORD).await;
        enable_totp(&mut b, crowd::PASSWORD).await;
    }
    let mut fresh = (1..).map(|i| format!("203.0.113.{i}"));
    let wrong = "zzzz-zzzz-0000";

    // An untrusted address claims a new client with every request: the
    // claims are ignored, and its own address reaches its limit of four.
    let attacker = "127.0.0.2";
    let mut users = [
        held(&gw, attacker, &fresh.next().unwrap(), &crowd::email(0)).await,
        held(&gw, attacker, &fresh.next().unwrap(), &crowd::email(1)).await,
    ];
    for (user, expected) in [
        (0, StatusCode::UNAUTHORIZED),
        (0, StatusCode::UNAUTHORIZED),
        (1, StatusCode::UNAUTHORIZED),
        (1, StatusCode::TOO_MANY_REQUESTS),
        (0, StatusCode::TOO_MANY_REQUESTS),
    ] {
        let claimed = fresh.next().unwrap();
        let status = challenge_claiming(&mut users[user], &claimed, wrong).await;
        assert_eq!(status, expected, "user {user}, claiming {claimed}");
    }

    // Behind the trusted proxy, the client it names is counted, not the
    // proxy: one client reaches its limit, the next is still checked.
    let proxy = "127.0.0.1";
    let mut users = [
        held(&gw, proxy, "198.51.100.1", &crowd::email(2)).await,
        held(&gw, proxy, "198.51.100.1", &crowd::email(3)).await,
    ];
    for (user, expected) in [
        (0, StatusCode::UNAUTHORIZED),
        (0, StatusCode::UNAUTHORIZED),
        (1, StatusCode::UNAUTHORIZED),
        (1, StatusCode::TOO_MANY_REQUESTS),
    ] {
        let status = challenge_claiming(&mut users[user], "198.51.100.1", wrong).await;
        assert_eq!(status, expected, "user {}", user + 2);
    }
    let status = challenge_claiming(&mut users[0], "198.51.100.2", wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another client behind the same proxy");
}
