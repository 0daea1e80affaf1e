//! The gateway's own HTML pages as a browser receives them: each carries the
//! headers that keep it out of frames and caches, keep its address out of
//! other sites' logs, and stop content sniffing and inline script.

mod common;

use common::api::{held_at_challenge, HeldAtChallenge};
use common::{start_dashboard, Gateway, Response};
use http::StatusCode;

/// Every header a page must have, and what is wrong with it if anything.
fn missing_protections(r: &Response) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut expect = |name: &str, ok: &dyn Fn(&str) -> bool| {
        let value = r.header(name);
        if !value.is_some_and(ok) {
            wrong.push(format!("{name}: {value:?}"));
        }
    };
    expect("content-type", &|v| v.starts_with("text/html"));
    expect("cache-control", &|v| v.contains("no-store"));
    expect("x-frame-options", &|v| v.eq_ignore_ascii_case("deny"));
    expect("x-content-type-options", &|v| v.eq_ignore_ascii_case("nosniff"));
    expect("referrer-policy", &|v| ["same-origin", "no-referrer"].contains(&v));
    expect("content-security-policy", &|v| {
        let directive = |name: &str| v.split(';').map(str::trim).find(|d| d.starts_with(name));
        directive("frame-ancestors") == Some("frame-ancestors 'none'")
            && directive("script-src").is_some_and(|d| !d.contains("'unsafe-inline'"))
    });
    wrong
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_challenge_and_error_pages_carry_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let HeldAtChallenge {
        setup: mut carol,
        mut held,
        ..
    } = held_at_challenge(gw.addr, "carol@globex.test", "carol-password").await;

    let pages = [
        ("settings", carol.get("/_2fa/settings").await, StatusCode::OK),
        ("challenge", held.get("/_2fa/challenge?next=/").await, StatusCode::OK),
        (
            "not found",
            carol.get("/_2fa/no-such-page").await,
            StatusCode::NOT_FOUND,
        ),
    ];
    let mut problems = Vec::new();
    for (name, page, status) in &pages {
        assert_eq!(page.status, *status, "{name}: {}", page.text());
        assert!(page.text().starts_with("<!"), "{name} is an HTML page: {}", page.text());
        for wrong in missing_protections(page) {
            problems.push(format!("{name} page: {wrong}"));
        }
    }
    assert!(problems.is_empty(), "missing or wrong:\n{}", problems.join("\n"));
}
