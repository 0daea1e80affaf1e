//! Forward authentication: `GET /_2fa/verify` answers a proxy in front
//! (nginx `auth_request`) with 200 and the user's id for a fully signed-in
//! session, and 401 for everything else: no session, a sign-in still
//! waiting for its second factor, forged or mismatched cookies, a session
//! that signed out. Never a redirect, whatever the client asks for.

mod common;

use bytes::Bytes;
use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::tools::oathtool;
use common::{start_dashboard, Browser, Gateway, Response};
use http::{Method, StatusCode};

/// Asks as nginx would (about the front page), and as a browser
/// navigation would: same answer.
async fn verify(b: &mut Browser) -> Response {
    let asked = ("x-original-uri", "/");
    let api = b.get_with("/_2fa/verify", &[asked]).await;
    let page = b.get_with("/_2fa/verify", &[asked, ("accept", "text/html")]).await;
    assert_eq!(api.status, page.status, "the client kind does not matter");
    assert!(page.header("location").is_none(), "never a redirect");
    api
}

fn assert_refused(r: &Response, why: &str) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}: {}", r.text());
    assert!(r.header("x-tfa-user").is_none(), "{why}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_admits_only_a_session_that_passed_its_second_factor() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;

    let mut nobody = Browser::new(gw.addr);
    assert_refused(&verify(&mut nobody).await, "no session");

    // Without a second factor yet, a signed-in session is a signed-in session.
    let mut bob = Browser::new(gw.addr);
    assert_eq!(
        bob.login("bob@acme.test", "bob-password").await.status,
        StatusCode::SEE_OTHER
    );
    let ok = verify(&mut bob).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.header("x-tfa-user"), Some("u-bob"));
    assert!(ok.body.is_empty());
    let (secret, _) = enable_totp(&mut bob, "bob-password").await;

    let mut again = Browser::new(gw.addr);
    try_held_sign_in(&mut again, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    assert_refused(&verify(&mut again).await, "second factor still due");
    assert_eq!(
        try_challenge(&mut again, &oathtool(&secret, 30)).await,
        Some(StatusCode::NO_CONTENT)
    );
    let ok = verify(&mut again).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.header("x-tfa-user"), Some("u-bob"));
    assert_eq!(ok.header("cache-control"), Some("no-store"));

    let mut forged = again.clone();
    forged.jar.insert("tfa_session".into(), "forged-token".into());
    assert_refused(&verify(&mut forged).await, "forged gateway token");
    let mut other_upstream = again.clone();
    other_upstream.jar.insert("dash_session".into(), "someone-elses".into());
    assert_refused(&verify(&mut other_upstream).await, "upstream cookie of another session");
    let mut token_only = again.clone();
    token_only.jar.remove("dash_session");
    assert_refused(&verify(&mut token_only).await, "no upstream cookie");
    // A second dashboard cookie that some server would read: its name
    // percent-encoded, or after white space inside another pair's value.
    for (name, value) in [
        ("dash%5Fsession", "someone-elses".to_string()),
        ("theme", "dark dash_session=someone-elses".to_string()),
        ("theme", "dark\ttfa_session=someone-elses".to_string()),
        ("theme", "dark dash_session = someone-elses".to_string()),
        ("dash+session", "someone-elses".to_string()),
    ] {
        let mut hidden = again.clone();
        hidden.jar.insert(name.into(), value.clone());
        assert_refused(&verify(&mut hidden).await, &format!("{name}={value}"));
    }

    let kept = again.clone();
    let out = again.send(Method::POST, "/logout", &[], Bytes::new()).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_refused(&verify(&mut again).await, "signed out");
    let mut replayed = kept;
    assert_refused(&verify(&mut replayed).await, "cookies kept from before the sign-out");

    let post = nobody.send(Method::POST, "/_2fa/verify", &[], Bytes::new()).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED, "GET and HEAD only");
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

/// `verify` with the target the proxy in front asks about, as nginx
/// (`X-Original-URI`) or Traefik and Caddy (`X-Forwarded-Uri`) send it.
async fn verify_for(b: &mut Browser, asked: &[(&str, &str)]) -> Response {
    b.get_with("/_2fa/verify", asked).await
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_holds_the_step_up_rules_of_the_request_it_is_asked_about() {
    let dir = tempfile::tempdir().unwrap();
    // The demo configuration: /settings/billing needs a factor of the last 300 s.
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut bob = Browser::new(gw.addr);
    bob.login("bob@acme.test", "bob-password").await;
    let billing = [("x-original-uri", "/settings/billing?tab=cards")];
    let ok = verify_for(&mut bob, &billing).await;
    assert_eq!(ok.status, StatusCode::OK, "no factor yet, nothing to ask for");
    assert_eq!(
        verify_for(&mut bob, &[]).await.status,
        StatusCode::OK,
        "nor a path to know"
    );

    // bob turns TOTP on in this session, which never passed it.
    let (secret, _) = enable_totp(&mut bob, "bob-password").await;
    let asked = verify_for(&mut bob, &billing).await;
    assert_refused(&asked, "a step-up path, no factor passed in this session");
    assert_eq!(asked.json()["error"], "step_up_required");
    assert_eq!(
        asked.header("location"),
        Some("/_2fa/challenge?step_up=1&next=/settings/billing%3Ftab%3Dcards"),
        "where the proxy sends the browser"
    );
    for spelling in ["/Settings//Billing/", "/settings/%62illing", "/x/../settings/billing"] {
        let r = verify_for(&mut bob, &[("x-forwarded-uri", spelling)]).await;
        assert_refused(&r, spelling);
    }
    let other = verify_for(&mut bob, &[("x-forwarded-uri", "/projects")]).await;
    assert_eq!(other.status, StatusCode::OK, "the rest of the dashboard is open");
    assert_eq!(other.header("x-tfa-user"), Some("u-bob"));

    // Which path? With rules set the gateway does not guess.
    let unsaid = verify_for(&mut bob, &[]).await;
    assert_eq!(unsaid.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", unsaid.text());
    assert_eq!(unsaid.json()["error"], "original_uri_missing");
    let both = [
        ("x-original-uri", "/settings/billing"),
        ("x-forwarded-uri", "/projects"),
    ];
    assert_eq!(
        verify_for(&mut bob, &both).await.status,
        StatusCode::UNAUTHORIZED,
        "two names that disagree: a client's own may be one of them"
    );

    // A fresh sign-in that passed the factor opens it.
    let mut again = Browser::new(gw.addr);
    try_held_sign_in(&mut again, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    assert_eq!(
        try_challenge(&mut again, &oathtool(&secret, 30)).await,
        Some(StatusCode::NO_CONTENT)
    );
    let ok = verify_for(&mut again, &billing).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
}
