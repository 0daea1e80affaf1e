//! Forward authentication with a real nginx in front, configured by
//! `docs/nginx-forward-auth.conf` as written (only its three addresses
//! changed): nginx serves the dashboard and asks the gateway's
//! `/_2fa/verify` about every request. A signed-in user gets through as
//! themself, with their second factor; a request that pairs their gateway
//! cookie with another user's dashboard cookie gets through as nobody; the
//! gateway's own forms work through nginx (Host kept); spellings of the user
//! header a CGI-style dashboard would read never reach the dashboard.
//! Needs `nginx` (Debian package `nginx`, installed by `.ci/run`).

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::api::try_confirm_totp;
use common::nginx::Nginx;
use common::tools::oathtool;
use common::{free_addr, start_dashboard, Browser, Gateway, Response};
use http::{Method, StatusCode};

const EXAMPLE: &str = include_str!("../docs/nginx-forward-auth.conf");

/// nginx with the example's addresses put in.
async fn start_nginx(dir: &Path, dashboard: SocketAddr, gateway: SocketAddr) -> Nginx {
    let addr = free_addr();
    let example = EXAMPLE
        .replace("127.0.0.1:3000;", &format!("{dashboard};"))
        .replace("127.0.0.1:8080;", &format!("{gateway};"))
        .replace("listen 127.0.0.1:8000;", &format!("listen {addr};"));
    assert_ne!(example, EXAMPLE, "the example's addresses were found");
    Nginx::start(dir, addr, &example).await
}

/// The user the dashboard served, if any.
fn served_as(r: &Response) -> Option<&str> {
    r.header("x-demo-user")
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_with_the_example_config_serves_only_the_sessions_own_dashboard_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, dir.path()).await;
    let nginx = start_nginx(dir.path(), dashboard, gw.addr).await;

    // Not signed in: nginx sends the browser to the sign-in page.
    let mut alice = Browser::new(nginx.addr);
    let first = alice.get("/").await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.text());
    assert_eq!(first.header("location").map(|l| l.ends_with("/login")), Some(true));

    // alice turns on TOTP through nginx: the gateway's JSON forms are
    // same-origin only, so this fails if nginx does not pass the Host on.
    assert_eq!(
        alice.login("alice@acme.test", "alice-password").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(served_as(&alice.get("/").await), Some("alice@acme.test"));
    let origin = format!("http://{}", nginx.addr);
    let enroll = alice
        .send(
            Method::POST,
            "/_2fa/api/totp/enroll",
            &[("content-type", "application/json"), ("origin", &origin)],
            serde_json::json!({"password": "alice-password"}).to_string().into(),
        )
        .await;
    assert_eq!(
        enroll.status,
        StatusCode::OK,
        "a same-origin form through nginx: {}",
        enroll.text()
    );
    let secret = enroll.json()["secret"].as_str().unwrap().to_string();
    try_confirm_totp(&mut alice, &oathtool(&secret, 0)).await.unwrap();

    // Signing in again holds alice at her challenge; nginx lets nothing through.
    let mut again = Browser::new(nginx.addr);
    let held = again.login("alice@acme.test", "alice-password").await;
    assert!(
        held.header("location").unwrap_or("").contains("/_2fa/challenge"),
        "{}",
        held.text()
    );
    assert_eq!(served_as(&again.get("/api/me").await), None, "second factor still due");
    let passed = again
        .send(
            Method::POST,
            "/_2fa/api/challenge",
            &[("content-type", "application/json"), ("origin", &origin)],
            serde_json::json!({"code": oathtool(&secret, 30)}).to_string().into(),
        )
        .await;
    assert_eq!(passed.status, StatusCode::NO_CONTENT, "{}", passed.text());
    assert_eq!(served_as(&again.get("/api/me").await), Some("alice@acme.test"));

    // bob is signed in without a second factor, and has carol's dashboard
    // cookie from somewhere. Paired with his own session, nginx must not
    // hand it to the dashboard, which serves the first live one it is given.
    let mut bob = Browser::new(nginx.addr);
    assert_eq!(
        bob.login("bob@acme.test", "bob-password").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(served_as(&bob.get("/").await), Some("bob@acme.test"));
    let carol = common::signed_in_as(dashboard, "carol@globex.test").await;
    let carols = carol.jar.get("dash_session").unwrap().clone();
    let token = bob.jar.get("tfa_session").unwrap().clone();
    let bobs = bob.jar.get("dash_session").unwrap().clone();
    let mut alices_signed_in = again.clone();
    alices_signed_in.jar.remove("tfa_session");
    let paired = [
        format!("tfa_session={token}; dash_session={carols}; dash_session={bobs}"),
        format!("tfa_session={token}; dash_session={bobs}; dash_session={carols}"),
        format!("dash_session={carols}; tfa_session={token}; dash_session={bobs}"),
        format!("tfa_session={token}; dash.session={carols}; dash_session={bobs}"),
        format!("tfa_session={token}; DASH_SESSION={carols}; dash_session={bobs}"),
        format!("tfa_session={token}; dash_session={bobs}; tfa_session=other"),
        format!("tfa_session={token}; dash_session={carols}"),
        format!(
            "tfa_session={token}; dash_session={}; dash_session={bobs}",
            again.jar.get("dash_session").unwrap()
        ),
        // Read as carol's by servers that percent-decode cookie names, or
        // that end a value at white space (Python's SimpleCookie).
        format!("tfa_session={token}; dash%5Fsession={carols}; dash_session={bobs}"),
        format!("tfa_session={token}; dash_session={bobs}; theme=dark dash_session={carols}"),
    ];
    for cookie in &paired {
        for path in ["/", "/api/me", "/echo/headers"] {
            let r = bob.get_with(path, &[("cookie", cookie)]).await;
            assert_eq!(served_as(&r), None, "{path} with `{cookie}` was served: {}", r.text());
            assert_ne!(r.status, StatusCode::OK, "{path} with `{cookie}`");
        }
    }
    assert_eq!(
        served_as(&bob.get("/").await),
        Some("bob@acme.test"),
        "bob's own cookies still work"
    );

    // Spellings of the user header: nginx sets X-Tfa-User itself and drops
    // the others, so the dashboard sees only the gateway's answer.
    let echo = bob
        .get_with(
            "/echo/headers",
            &[
                ("x-tfa-user", "u-alice"),
                ("x_tfa_user", "u-alice"),
                ("x.tfa.user", "u-alice"),
            ],
        )
        .await;
    assert_eq!(echo.status, StatusCode::OK, "{}", echo.text());
    let headers = echo.json()["headers"].clone();
    let spellings: Vec<(&String, &serde_json::Value)> = headers
        .as_object()
        .unwrap()
        .iter()
        .filter(|(n, _)| tfa_gateway::lookalike::same(n, "x-tfa-user"))
        .collect();
    assert_eq!(spellings.len(), 1, "{headers}");
    assert_eq!(spellings[0].1, "u-bob");

    // Step-up holds behind nginx too (the demo's billing page, 300 s).
    // alice turned TOTP on in her first session and never passed it there:
    // nginx sends her to the challenge, which comes back to the page.
    let asked = alice.get("/settings/billing?tab=cards").await;
    assert_eq!(asked.status, StatusCode::FOUND, "{}", asked.text());
    let to = asked.header("location").unwrap_or_default();
    assert!(
        to.ends_with("/_2fa/challenge?step_up=1&next=/settings/billing%3Ftab%3Dcards"),
        "{to}"
    );
    assert_eq!(served_as(&alice.get("/settings/billing").await), None);
    assert_eq!(
        served_as(&alice.get("/settings/Billing/").await),
        None,
        "in any spelling"
    );
    assert_eq!(
        served_as(&alice.get("/projects").await),
        Some("alice@acme.test"),
        "the rest is open"
    );
    // Her second session passed the challenge a moment ago.
    let billing = again.get("/settings/billing").await;
    assert_eq!(served_as(&billing), Some("alice@acme.test"), "{}", billing.text());
    // A client's own X-Forwarded-Uri does not stand in for nginx's: nginx
    // clears it (were it passed on, the gateway would refuse the two names'
    // disagreement, and /projects would not be served either).
    let claimed = alice
        .get_with("/projects", &[("x-forwarded-uri", "/settings/billing")])
        .await;
    assert_eq!(served_as(&claimed), Some("alice@acme.test"), "{}", claimed.text());
    // Spellings of the sign-in and sign-out reach the dashboard only
    // through the gateway: nginx routes their exact spelling there, and
    // verify refuses the rest.
    for path in ["/LOGIN", "/login/", "/Logout", "/logout;x"] {
        let r = bob.get(path).await;
        assert_eq!(served_as(&r), None, "{path}: {}", r.text());
    }
    assert_eq!(
        served_as(&bob.get("/").await),
        Some("bob@acme.test"),
        "bob is still signed in"
    );
    // Nor do the client's own claims of address or path reach the dashboard.
    let echo = bob
        .get_with(
            "/echo/headers",
            &[
                ("client-ip", "203.0.113.66"),
                ("true-client-ip", "203.0.113.66"),
                ("wl-proxy-client-ip", "203.0.113.66"),
                ("http-client-ip", "203.0.113.66"),
                ("x-original-url", "/settings/billing"),
            ],
        )
        .await;
    assert_eq!(echo.status, StatusCode::OK, "{}", echo.text());
    let headers = echo.json()["headers"].to_string();
    assert!(!headers.contains("203.0.113.66"), "{headers}");
    assert!(!headers.contains("/settings/billing"), "{headers}");
}
