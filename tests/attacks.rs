//! An adversary's requests against the real gateway and demo dashboard. The
//! victims: alice, whose sign-in waits at the challenge (her dashboard cookie
//! is held back) or whose gateway session was signed out or has expired, and
//! bob, signed in with his dashboard cookie in hand while his account
//! requires a second factor he has not set up. Their cookies are also mixed
//! with carol's (fully signed in) and with a dashboard cookie of alice's got
//! by signing in at the dashboard's own address, around the gateway. Single
//! sign-on adds alice held after the callback, that callback replayed, and
//! carol's browser after a callback that signed alice in on it.
//!
//! No attack may reach the dashboard as anyone: the demo dashboard names
//! the user it saw in `X-Demo-User` on every answer, whatever the route, so
//! a forwarded session cookie shows even on a 404 or a `HEAD`
//! (`attacks/detector.rs`). Nor may a header the gateway sets or trusts, or a
//! session cookie, reach it in a spelling a CGI-style dashboard reads as the
//! real one (`X_Tfa_User`, `dash.session`). Requests are written raw, so malformed ones reach
//! the gateway as sent (`attacks/catalogue.rs`).
//!
//! The expired cookie needs the gateway's shortest idle timeout (60 s) to
//! pass, so this test takes about a minute; the other attacks run meanwhile.

mod common;

#[path = "attacks/catalogue.rs"]
mod catalogue;
#[path = "attacks/detector.rs"]
mod detector;
#[path = "attacks/victims.rs"]
mod victims;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::tools::{csrf_token, enc};
use common::{start_dashboard, Browser, Gateway, StoreKind};
use detector::{body_user, header_user, raw, seen_as, Attack};
use http::StatusCode;
use victims::Cookies;

/// The shortest idle timeout the configuration accepts, and when a session
/// last used at second s has surely passed it (times are whole seconds).
const IDLE_TIMEOUT: (&str, &str) = ("idle_timeout_seconds", "60");
const IDLE_EXPIRED: Duration = Duration::from_secs(62);

#[tokio::test(flavor = "multi_thread")]
async fn no_attack_reaches_the_upstream_as_a_user_without_a_passed_second_factor() {
    attack_suite(StoreKind::Sled, "sled").await;
}

/// The same suite with the gateway's state in PostgreSQL, where a session
/// unknown to the gateway's memory is looked up in the store.
#[tokio::test(flavor = "multi_thread")]
async fn no_attack_gets_through_a_gateway_on_postgres_either() {
    attack_suite(StoreKind::postgres(), "postgres").await;
}

async fn attack_suite(store: StoreKind, name: &str) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let dashboard = start_dashboard();

    // First, a session that will expire while everything else runs.
    let short = Gateway::start_on(&store, dashboard, &dir.path().join("short"), &[IDLE_TIMEOUT]).await;
    let expiring = common::signed_in_as(short.addr, "alice@acme.test").await;
    let last_used = Instant::now();
    let expired = Cookies::of(&expiring);
    let live = raw(short.addr, &get("/no-such-page", &short.addr, &expired.header(), "")).await;
    assert_eq!(
        header_user(&live).as_deref(),
        Some("alice@acme.test"),
        "live before: {live}"
    );

    let gw = Gateway::start_on(&store, dashboard, &dir.path().join("main"), &[]).await;
    let cast = victims::cast(&gw, dashboard).await;
    let mut attacks: Vec<Attack> = Vec::new();
    for (who, cookies) in &cast.pairings() {
        attacks.extend(catalogue::all(who, gw.addr, dashboard, cookies));
    }
    attacks.extend(replayed_callback(&cast, gw.addr));
    let mut leaks = detector::leaks(&attacks).await;
    // Look-alike headers and cookies, also for carol, fully signed in: the
    // gateway sets headers for her, and must still drop the client's.
    let mut lookalikes = Vec::new();
    for (who, cookies) in cast.pairings().iter().chain([&("carol", cast.carol.clone())]) {
        lookalikes.extend(catalogue::lookalikes(who, gw.addr, cookies, &cast.alice_direct));
    }
    leaks.extend(detector::forgeries(&lookalikes).await);
    attacks.extend(lookalikes);

    let signed_in = open_redirects(&gw, &cast.recovery, &mut attacks).await;

    let wait = IDLE_EXPIRED.saturating_sub(last_used.elapsed());
    tokio::time::sleep(wait).await;
    let late = catalogue::all("alice after the idle timeout", short.addr, dashboard, &expired);
    leaks.extend(detector::leaks(&late).await);
    attacks.extend(late);

    detector_sees_a_signed_in_user(&gw, &signed_in).await;
    let count = format!(
        "attack suite ({name} store): {} attacks, {} got through",
        attacks.len(),
        leaks.len()
    );
    println!("{count}");
    let file = format!("{}/attacks-count-{name}.txt", env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(file, format!("{count}\n")).expect("write the count for CI");
    let first: Vec<_> = leaks.iter().take(40).collect();
    assert!(leaks.is_empty(), "reached the upstream (first 40): {first:#?}");
}

/// The spent single sign-on callback, sent again with every cast's cookies
/// and none: the dashboard refuses the ticket and sets no cookie, and the
/// gateway lets no one through on the way.
fn replayed_callback(cast: &victims::Cast, to: SocketAddr) -> Vec<Attack> {
    let mut pairings = cast.pairings();
    pairings.push(("no cookies", Cookies::default()));
    let mut out = Vec::new();
    for (who, cookies) in &pairings {
        for method in ["GET", "HEAD", "POST"] {
            let request = format!(
                "{method} {} HTTP/1.1\r\nHost: {to}\r\nCookie: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                cast.spent_callback,
                cookies.header()
            );
            out.push(Attack {
                name: format!("{who}: replayed callback, {method}"),
                to,
                bytes: request.into_bytes(),
            });
        }
    }
    out
}

/// A plain request with `extra` header lines; the connection then closes.
fn get(path: &str, host: &SocketAddr, cookie: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n{extra}Connection: close\r\n\r\n").into_bytes()
}

/// A right code still only ever leads to a path on this site, whatever the
/// destination says. Each round passes the challenge with a recovery code;
/// returns the last, now fully signed-in, browser.
async fn open_redirects(gw: &Gateway, recovery: &[String], attacks: &mut Vec<Attack>) -> Browser {
    let mut last = Browser::new(gw.addr);
    for (next, code) in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ]
    .iter()
    .zip(recovery)
    {
        // From an address of its own: the attacks, from 127.0.0.1, spent
        // that address's sign-in allowance on spellings of the callback.
        let mut b = Browser::from_ip(gw.addr, "127.0.0.2");
        b.login("alice@acme.test", "alice-password").await;
        let page = b.get("/_2fa/challenge").await.text();
        let form = format!("csrf_token={}&code={code}&next={}", csrf_token(&page), enc(next));
        let r = b.post_form("/_2fa/challenge", &form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        assert_eq!(r.header("location"), Some("/"), "next={next}");
        attacks.push(Attack {
            name: format!("open redirect {next}"),
            to: gw.addr,
            bytes: Vec::new(),
        });
        last = b;
    }
    last
}

/// The detector works, and the attacks broke nothing: a user who passed the
/// second factor is seen reaching the dashboard, by the header on any route
/// and method and by the body where the dashboard shows who is signed in.
async fn detector_sees_a_signed_in_user(gw: &Gateway, alice: &Browser) {
    let cookie = alice.cookie_header().expect("alice's cookies");
    let ws = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        gw.addr
    );
    let head = |method: &str, path: &str| {
        format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", gw.addr)
            .into_bytes()
    };
    let home = raw(gw.addr, &get("/", &gw.addr, &cookie, "")).await;
    assert_eq!(body_user(&home).as_deref(), Some("alice@acme.test"), "{home}");
    let me = raw(
        gw.addr,
        &get("/api/me", &gw.addr, &cookie, "Accept: application/json\r\n"),
    )
    .await;
    assert_eq!(body_user(&me).as_deref(), Some("alice@acme.test"), "{me}");
    for (what, request) in [
        ("home page", get("/", &gw.addr, &cookie, "")),
        ("a 404", get("/no-such-page", &gw.addr, &cookie, "")),
        ("HEAD", head("HEAD", "/api/me")),
        ("POST", head("POST", "/api/me")),
        ("DELETE", head("DELETE", "/")),
        ("WebSocket 101", ws.into_bytes()),
    ] {
        let answer = raw(gw.addr, &request).await;
        assert_eq!(
            header_user(&answer).as_deref(),
            Some("alice@acme.test"),
            "{what}: {answer}"
        );
    }
    // Malformed, even from her: HTTP/1.1 must name its host (RFC 9112 §3.2).
    let hostless = format!("GET /api/me HTTP/1.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
    let answer = raw(gw.addr, hostless.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "no Host: {answer}");
    assert_eq!(seen_as(&answer), None, "no Host: {answer}");
}
