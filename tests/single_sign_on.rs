//! Single sign-on: the demo dashboard's callback (`[[upstream.sign_in]]
//! path = "/sso/callback"`) signs people in like the password form: the
//! gateway sees the answer first, looks the user up, and holds the
//! dashboard's cookie back while a second factor is due. The provider's
//! redirect and query pass through untouched; a replayed or forged ticket
//! signs no one in.

mod common;

use common::api::enable_totp;
use common::{signed_in_as, start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::json;

/// `/sso/start` for `email` (and any more of its query, such as `&next=`):
/// the callback address the provider sends to.
async fn provider_says_yes(b: &mut Browser, email: &str) -> String {
    let r = b.get(&format!("/sso/start?email={}", email.replace('@', "%40"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.header("location").expect("a redirect").to_string();
    assert!(location.starts_with("/sso/callback?ticket="), "{location}");
    assert!(
        location.ends_with("&state=demo"),
        "the query passes untouched: {location}"
    );
    location
}

#[tokio::test(flavor = "multi_thread")]
async fn erin_signs_in_through_single_sign_on_and_a_user_with_2fa_is_asked_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;

    // erin has no password; the callback's answer signs her in.
    let mut erin = Browser::new(gw.addr);
    let refused = erin.login("erin@acme.test", "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let callback = provider_says_yes(&mut erin, "erin@acme.test").await;
    let r = erin.get(&callback).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location"), Some("/"), "the dashboard's own redirect");
    assert!(erin.jar.contains_key("dash_session") && erin.jar.contains_key("tfa_session"));
    let me = erin.get("/api/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], "erin@acme.test");
    let status = erin.get("/_2fa/api/status").await;
    assert_eq!(status.json()["user"], "erin@acme.test", "the gateway knows her");

    // The same ticket again, or a made-up one: no cookie, no session.
    let mut replay = Browser::new(gw.addr);
    let again = replay.get(&callback).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(replay.jar.is_empty(), "{:?}", replay.jar);
    let forged = replay.get("/sso/callback?ticket=made-up&state=demo").await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(replay.jar.is_empty());

    // alice has 2FA: through SSO too, her dashboard cookie waits for it.
    let mut setup = signed_in_as(gw.addr, "alice@acme.test").await;
    let (_, codes) = enable_totp(&mut setup, "alice-password").await;
    let mut alice = Browser::new(gw.addr);
    let callback = provider_says_yes(&mut alice, "alice@acme.test").await;
    let held = alice.get(&callback).await;
    assert_eq!(held.status, StatusCode::SEE_OTHER);
    assert_eq!(held.header("location"), Some("/_2fa/challenge?next=/"));
    assert!(
        !held.set_cookies().iter().any(|c| c.starts_with("dash_session=")),
        "the dashboard's cookie never reaches the browser before the challenge"
    );
    assert!(!alice.jar.contains_key("dash_session"));
    assert_eq!(
        alice.get("/api/me").await.status,
        StatusCode::SEE_OTHER,
        "to the challenge"
    );
    let passed = alice
        .send_json(Method::POST, "/_2fa/api/challenge", json!({ "code": codes[0] }))
        .await;
    assert_eq!(passed.status, StatusCode::NO_CONTENT);
    assert!(alice.jar.contains_key("dash_session"));
    assert_eq!(alice.get("/api/me").await.json()["email"], "alice@acme.test");

    // An owner's requirement applies to single sign-on users too.
    let require = setup
        .send_json(
            Method::PUT,
            "/_2fa/api/accounts/acme/require",
            json!({ "require": true }),
        )
        .await;
    assert_eq!(require.status, StatusCode::OK, "{}", require.text());
    let mut erin = Browser::new(gw.addr);
    let callback = provider_says_yes(&mut erin, "erin@acme.test").await;
    erin.get(&callback).await;
    let sent = erin.get_with("/", &[("accept", "text/html")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    assert!(
        sent.header("location").unwrap_or("").starts_with("/_2fa/enroll"),
        "{:?}",
        sent.header("location")
    );
}

/// erin through the demo's single sign-on, into `b`.
async fn sso_sign_in(b: &mut Browser, email: &str) -> common::Response {
    let callback = provider_says_yes(b, email).await;
    b.get(&callback).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_a_password_confirms_by_a_recent_sign_in_and_signs_in_again_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [("password_confirmation_seconds", "30")];
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &settings).await;
    let mut erin = Browser::new(gw.addr);
    sso_sign_in(&mut erin, "erin@acme.test").await;

    // Just signed in: no password is asked, whatever is typed.
    let page = erin.get("/_2fa/settings").await.text();
    assert!(
        page.contains("no password is needed") && !page.contains("type=\"password\""),
        "{page}"
    );
    let (secret, codes) = enable_totp(&mut erin, "").await;
    assert_eq!(codes.len(), 10);
    // A user with a password still types it.
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let wrong = alice
        .send_json(Method::POST, "/_2fa/api/totp/enroll", json!({ "password": "" }))
        .await;
    assert_eq!(wrong.json()["error"], "wrong_password");

    // Past the window, the change is refused with where to sign in again.
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    let refused = erin
        .send_json(
            Method::POST,
            "/_2fa/api/totp/disable",
            json!({ "password": "anything" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let body = refused.json();
    assert_eq!(body["error"], "reauthentication_required");
    let sign_in = body["sign_in"].as_str().expect("where to sign in again");
    assert_eq!(sign_in, "/login?next=/_2fa/settings");
    let page = erin.get("/_2fa/settings").await.text();
    assert!(
        page.contains(r#"<a href="/login?next=/_2fa/settings">sign in again</a>"#),
        "{page}"
    );
    assert_eq!(erin.get("/_2fa/api/status").await.json()["totp_enabled"], true);

    // Signing in again leads through the dashboard's single sign-on (2FA
    // first) and back to the settings, where the change goes through.
    let login = erin.get(sign_in).await.text();
    assert!(login.contains(r#"name="next" value="/_2fa/settings""#), "{login}");
    let callback = provider_says_yes(&mut erin, "erin@acme.test&next=/_2fa/settings").await;
    let held = erin.get(&callback).await;
    assert_eq!(
        held.header("location"),
        Some("/_2fa/challenge?next=/_2fa/settings"),
        "{}",
        held.text()
    );
    let code = common::tools::oathtool(&secret, 30);
    let passed = erin
        .send_json(Method::POST, "/_2fa/api/challenge", json!({ "code": code }))
        .await;
    assert_eq!(passed.status, StatusCode::NO_CONTENT, "{}", passed.text());
    let page = erin.get("/_2fa/settings").await.text();
    assert!(page.contains("no password is needed"), "{page}");
    let off = erin
        .send_json(Method::POST, "/_2fa/api/totp/disable", json!({ "password": "" }))
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text());
}

/// A dashboard route the gateway was not told signs people in (here the
/// demo's callback, left out of `[[upstream.sign_in]]`) may still answer a
/// signed-in request with a new session cookie. The gateway follows it only
/// when the dashboard names the same user behind it: the same user's new
/// cookie (a rotated session id) is followed, another user's is withheld, so
/// carol's passed session never becomes alice's without alice's code.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_cookie_for_another_user_on_a_signed_in_request_is_withheld() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let addr = common::free_addr();
    let declared = "[[upstream.sign_in]]\npath = \"/sso/callback\"\nmethod = \"GET\"\n";
    let text = common::config_text(addr, dashboard, &dir.path().join("data"));
    assert!(text.contains(declared), "the demo declares its callback");
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, text.replace(declared, "")).unwrap();
    common::write_secrets(&dir.path().join("data"));
    let gw = Gateway::start_with(addr, config).await;

    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    enable_totp(&mut alice, "alice-password").await;
    let mut carol = signed_in_as(gw.addr, "carol@globex.test").await;
    let carols_gateway_cookie = carol.jar["tfa_session"].clone();

    // carol's own new dashboard session: followed, under the same gateway session.
    let before = carol.jar["dash_session"].clone();
    let callback = provider_says_yes(&mut carol, "carol@globex.test").await;
    let renewed = carol.get(&callback).await;
    assert_eq!(renewed.status, StatusCode::SEE_OTHER, "{}", renewed.text());
    assert_ne!(carol.jar["dash_session"], before, "the new cookie reaches carol");
    assert_eq!(carol.jar["tfa_session"], carols_gateway_cookie);
    assert_eq!(carol.get("/api/me").await.json()["email"], "carol@globex.test");
    let stale = format!("tfa_session={carols_gateway_cookie}; dash_session={before}");
    let mut other = Browser::new(gw.addr);
    let refused = other.get_with("/api/me", &[("cookie", &stale)]).await;
    assert_eq!(refused.header("x-demo-user"), None, "the old cookie no longer pairs");

    // alice's, answered on carol's signed-in request: withheld.
    let now = carol.jar["dash_session"].clone();
    let callback = provider_says_yes(&mut carol, "alice@acme.test").await;
    let answer = carol.get(&callback).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    assert_eq!(carol.jar["dash_session"], now, "alice's cookie never reaches carol");
    let me = carol.get("/api/me").await;
    assert_eq!(me.json()["email"], "carol@globex.test", "{}", me.text());
}
