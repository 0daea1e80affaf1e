//! The request path of a signed-in user reads nothing from the store: the
//! session, the user's accounts and their 2FA state are all in memory. The
//! store counts its reads and the admin API's metrics show the count
//! (`tfa_store_reads_total`); a thousand authenticated requests, forwarded
//! and forward-auth checks alike, must leave it where it was.

mod common;

use common::api::{held_at_challenge, try_challenge, HeldAtChallenge};
use common::tools::oathtool;
use common::{admin_of, start_dashboard, Browser, Gateway};
use http::StatusCode;

async fn store_reads(gw: &Gateway) -> u64 {
    let (addr, token) = admin_of(&gw.config);
    let auth = format!("Bearer {token}");
    let r = Browser::new(addr)
        .get_with("/metrics", &[("authorization", &auth)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let text = r.text();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("tfa_store_reads_total "))
        .unwrap_or_else(|| panic!("no tfa_store_reads_total in {text}"));
    line.trim().parse().expect("a count")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_signed_in_requests_read_nothing_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    // The periodic identity refresh (a background upstream call whose answer
    // is saved) must not fall inside the measured requests.
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &[("identity_refresh_seconds", "3600")]).await;

    let HeldAtChallenge {
        held: mut bob, secret, ..
    } = held_at_challenge(gw.addr, "bob@acme.test", "bob-password").await;
    assert_eq!(
        try_challenge(&mut bob, &oathtool(&secret, 30)).await,
        Some(StatusCode::NO_CONTENT)
    );
    let before = store_reads(&gw).await;
    assert!(before > 0, "signing in reads the store, so the counter counts");

    for i in 0..1000 {
        let path = if i % 10 == 9 { "/_2fa/verify" } else { "/" };
        // As a proxy in front asks: about the request it was sent.
        let r = bob.get_with(path, &[("x-original-uri", "/")]).await;
        assert_eq!(r.status, StatusCode::OK, "request {i} to {path}: {}", r.text());
        if path == "/" {
            assert!(r.text().contains("Signed in as bob@acme.test"), "{}", r.text());
        }
    }
    assert_eq!(store_reads(&gw).await, before, "no store read on the request path");

    // The counter is live: a page that does read the store moves it.
    assert_eq!(bob.get("/_2fa/api/status").await.status, StatusCode::OK);
    assert!(
        store_reads(&gw).await > before,
        "the status API reads the user's factors"
    );
}
