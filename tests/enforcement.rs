//! Account-wide enforcement and the operator's side, against the demo
//! dashboard: owners require 2FA, members are sent to enrollment at their
//! next request, the operator activates accounts and resets users, and every
//! step is in the audit trail and the metrics.

mod common;

use std::process::Command;

use bytes::Bytes;
use common::api::enable_totp;
use common::tools::csrf_token;
use common::{admin_of, signed_in_as, start_dashboard, Browser, Gateway, Response};
use http::{Method, StatusCode};
use serde_json::{json, Value};

async fn admin(gw: &Gateway, method: Method, path: &str, body: Option<Value>) -> Response {
    let (addr, token) = admin_of(&gw.config);
    let mut b = Browser::new(addr);
    let auth = format!("Bearer {token}");
    let body = body.map(|v| Bytes::from(v.to_string())).unwrap_or_default();
    b.send(
        method,
        path,
        &[("authorization", &auth), ("content-type", "application/json")],
        body,
    )
    .await
}

fn is_prometheus_text(text: &str) -> bool {
    text.lines().filter(|l| !l.is_empty()).all(|l| {
        if let Some(rest) = l.strip_prefix("# ") {
            return rest.starts_with("HELP ") || rest.starts_with("TYPE ");
        }
        let Some((series, value)) = l.rsplit_once(' ') else {
            return false;
        };
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        let labels_ok = name_end == series.len() || (series.ends_with('}') && series[name_end..].contains('='));
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && labels_ok
            && (value.parse::<f64>().is_ok() || value == "+Inf")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn owner_requires_2fa_and_members_must_enroll_at_their_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut bob = signed_in_as(gw.addr, "bob@acme.test").await;
    let mut carol = signed_in_as(gw.addr, "carol@globex.test").await;
    let mut dave = signed_in_as(gw.addr, "dave@globex.test").await;
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    assert_eq!(bob.get("/").await.status, StatusCode::OK);

    // The owner cannot require 2FA before she has it herself.
    let early = alice
        .send_json(Method::PUT, "/_2fa/api/accounts/acme/require", json!({"require": true}))
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text());
    assert_eq!(early.json()["error"], "owner_needs_2fa");
    let settings = alice.get("/_2fa/settings").await.text();
    assert!(
        settings.contains("Require two-factor authentication for all account users"),
        "{settings}"
    );
    assert!(
        settings.contains("You need two-factor authentication yourself"),
        "{settings}"
    );
    let member = bob
        .send_json(Method::PUT, "/_2fa/api/accounts/acme/require", json!({"require": true}))
        .await;
    assert_eq!(member.status, StatusCode::FORBIDDEN);
    assert!(
        !bob.get("/_2fa/settings").await.text().contains("Require two-factor"),
        "members see no toggle"
    );

    // She enables it and requires it with the settings page's toggle.
    enable_totp(&mut alice, "alice-password").await;
    let page = alice.get("/_2fa/settings").await.text();
    let saved = alice
        .post_form(
            "/_2fa/settings/accounts/require",
            &format!("csrf_token={}&account=acme&require=on", csrf_token(&page)),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    assert!(alice.get("/_2fa/settings").await.text().contains("checked"));

    // Bob's existing session: the very next request goes to enrollment.
    let next = bob.get("/").await;
    assert_eq!(next.status, StatusCode::SEE_OTHER);
    assert_eq!(next.header("location"), Some("/_2fa/enroll?next=/"));
    let api = bob.get_with("/api/me", &[("accept", "application/json")]).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.json()["error"], "enrollment_required");
    let enroll = bob.get("/_2fa/enroll?next=/").await;
    assert!(
        enroll.text().contains("Acme Inc.") && enroll.text().contains("requires two-factor"),
        "{}",
        enroll.text()
    );
    // Another page, sent to enrollment again: the same session, one audit event.
    assert_eq!(
        bob.get("/reports").await.header("location"),
        Some("/_2fa/enroll?next=/reports")
    );
    assert_eq!(bob.get("/_2fa/enroll?next=/reports").await.status, StatusCode::OK);

    // Globex is untouched.
    assert_eq!(carol.get("/").await.status, StatusCode::OK);
    assert_eq!(
        dave.get_with("/api/me", &[("accept", "application/json")]).await.status,
        StatusCode::OK
    );

    // Bob enrolls and reaches the dashboard again.
    enable_totp(&mut bob, "bob-password").await;
    let home = bob.get("/").await;
    assert!(
        home.text().contains("Signed in as bob@acme.test"),
        "{:?} {}",
        home.headers,
        home.text()
    );

    // Alice lifts the requirement; the operator resets Bob's lost device.
    let off = alice
        .send_json(
            Method::PUT,
            "/_2fa/api/accounts/acme/require",
            json!({"require": false}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(off.json(), json!({}));
    let reset = admin(&gw, Method::DELETE, "/admin/users/u-bob/2fa", None).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text());
    assert_eq!(reset.json()["removed"], true);
    let mut bob = Browser::new(gw.addr);
    let again = bob.login("bob@acme.test", "bob-password").await;
    assert_eq!(again.header("location"), Some("/"), "no challenge after the reset");
    assert_eq!(bob.get("/").await.status, StatusCode::OK);

    // The compliance view.
    let acme = admin(&gw, Method::GET, "/admin/accounts/acme", None).await.json();
    assert_eq!(acme["require_2fa"], false);
    let users = acme["users"].as_array().unwrap();
    let state = |email: &str| {
        users
            .iter()
            .find(|u| u["email"] == email)
            .map(|u| u["totp_enabled"].clone())
    };
    assert_eq!(state("alice@acme.test"), Some(json!(true)));
    assert_eq!(state("bob@acme.test"), Some(json!(false)));

    // An account that is not activated shows no 2FA at all.
    let deact = admin(
        &gw,
        Method::PUT,
        "/admin/accounts/globex/activation",
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(deact.status, StatusCode::OK);
    let mut carol = signed_in_as(gw.addr, "carol@globex.test").await;
    assert_eq!(carol.get("/_2fa/settings").await.status, StatusCode::NOT_FOUND);
    assert_eq!(carol.get("/_2fa/api/status").await.status, StatusCode::NOT_FOUND);
    assert!(carol.get("/").await.text().contains("Signed in as carol@globex.test"));

    // The audit trail has every step, newest first. An account's trail is
    // its own events and its members' (bob's enrollment, alice's 2FA).
    let kind = |e: &Value| e["kind"].as_str().unwrap_or_default().to_string();
    let acme_events = admin(&gw, Method::GET, "/admin/audit?account=acme", None).await.json();
    let events = acme_events["events"].as_array().unwrap();
    let own: Vec<String> = events.iter().filter(|e| e["account_id"] == "acme").map(kind).collect();
    assert_eq!(own, ["requirement_off", "requirement_on"], "{acme_events}");
    let on = events.iter().find(|e| e["kind"] == "requirement_on").unwrap();
    assert_eq!(on["user_id"], "u-alice", "who switched it on");
    let of = |user: &str| -> Vec<String> { events.iter().filter(|e| e["user_id"] == user).map(kind).collect() };
    for k in ["admin_reset", "totp_enabled", "enrollment_forced", "login"] {
        assert!(
            of("u-bob").contains(&k.to_string()),
            "bob's {k} missing from {acme_events}"
        );
    }
    assert!(of("u-alice").contains(&"totp_enabled".to_string()), "{acme_events}");
    assert!(
        events
            .iter()
            .all(|e| e["account_id"] != "globex" && e["user_id"] != "u-carol"),
        "nothing of globex: {acme_events}"
    );
    let bob_events = admin(&gw, Method::GET, "/admin/audit?user=u-bob&limit=50", None)
        .await
        .json();
    let kinds: Vec<String> = bob_events["events"].as_array().unwrap().iter().map(kind).collect();
    for k in ["admin_reset", "totp_enabled", "enrollment_forced", "login"] {
        assert!(kinds.contains(&k.to_string()), "{k} missing from {kinds:?}");
    }
    let forced = kinds.iter().filter(|k| *k == "enrollment_forced").count();
    assert_eq!(forced, 1, "once per session, not per redirected request: {kinds:?}");
    let globex = admin(&gw, Method::GET, "/admin/audit?account=globex", None)
        .await
        .json();
    let globex_own: Vec<String> = globex["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["account_id"] == "globex")
        .map(kind)
        .collect();
    assert_eq!(globex_own, ["activation_off"], "{globex}");

    // Metrics, in the Prometheus text format.
    let metrics = admin(&gw, Method::GET, "/metrics", None).await.text();
    assert!(is_prometheus_text(&metrics), "{metrics}");
    assert!(metrics.contains("tfa_enrollments_total 2"), "{metrics}");
    assert!(
        metrics.contains("tfa_requests_total{decision=\"redirect\"}"),
        "{metrics}"
    );

    // Without the token: nothing.
    let (addr, _) = admin_of(&gw.config);
    let mut stranger = Browser::new(addr);
    assert_eq!(
        stranger.get("/admin/accounts/acme").await.status,
        StatusCode::UNAUTHORIZED
    );

    // The shell wrapper, for people and for scripts.
    let out = Command::new(common::BIN)
        .args(["admin", "--config"])
        .arg(&gw.config)
        .args(["account", "acme"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("bob@acme.test") && text.contains("2FA feature: on"),
        "{text}"
    );
    let out = Command::new(common::BIN)
        .args(["admin", "--json", "--config"])
        .arg(&gw.config)
        .args(["audit", "--account", "acme"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(v["events"], acme_events["events"], "the CLI shows the same trail");
}

#[tokio::test(flavor = "multi_thread")]
async fn during_a_grace_period_members_see_the_deadline_and_may_continue() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_configured(start_dashboard(), dir.path(), &[("grace_days", "7")]).await;

    let mut bob = signed_in_as(gw.addr, "bob@acme.test").await;
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    enable_totp(&mut alice, "alice-password").await;
    let on = alice
        .send_json(Method::PUT, "/_2fa/api/accounts/acme/require", json!({"require": true}))
        .await;
    assert_eq!(on.status, StatusCode::OK);

    let first = bob.get("/reports").await;
    assert_eq!(first.header("location"), Some("/_2fa/enroll?next=/reports"));
    let notice = bob.get("/_2fa/enroll?next=/reports").await.text();
    assert!(
        notice.contains("7 day(s) more") || notice.contains("6 day(s) and 23 hour(s)"),
        "{notice}"
    );
    let later = bob.get("/_2fa/enroll/later?next=/reports").await;
    assert_eq!(later.header("location"), Some("/reports"));
    assert!(
        bob.get("/").await.text().contains("Signed in as bob@acme.test"),
        "continues after the notice"
    );
    assert_eq!(
        bob.get_with("/api/me", &[("accept", "application/json")]).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_change_at_the_upstream_reaches_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start_configured(dashboard, dir.path(), &[("identity_refresh_seconds", "1")]).await;

    let mut bob = signed_in_as(gw.addr, "bob@acme.test").await;
    let member = bob
        .send_json(Method::PUT, "/_2fa/api/accounts/acme/require", json!({"require": true}))
        .await;
    assert_eq!(member.status, StatusCode::FORBIDDEN);

    // The dashboard's operator makes bob an owner of acme.
    let mut operator = Browser::new(dashboard);
    let changed = operator
        .post_form("/demo/role", "email=bob%40acme.test&role=owner")
        .await;
    assert_eq!(changed.status, StatusCode::OK);

    // Within the refresh interval the gateway knows: bob is now refused as an
    // owner without 2FA (409), no longer as a member (403).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        bob.get("/").await;
        let r = bob
            .send_json(Method::PUT, "/_2fa/api/accounts/acme/require", json!({"require": true}))
            .await;
        if r.status == StatusCode::CONFLICT {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "role change never arrived: {}",
            r.text()
        );
    }
    assert!(bob
        .get("/_2fa/settings")
        .await
        .text()
        .contains("Require two-factor authentication"));
}
