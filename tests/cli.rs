//! The command line as an operator meets it: `check-config` on good and bad
//! files, `demo` with no configuration, `demo-dashboard` alone with two
//! gateways in front, and the `admin` commands against a running gateway.

mod common;

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use common::tools::last_code;
use common::{signed_in_as, Browser, Demo, BIN};
use http::{Method, StatusCode};
use serde_json::{json, Value};

fn check(path: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(path)
        .output()
        .expect("run check-config")
}

#[test]
fn shipped_configurations_pass_the_check() {
    for file in ["config/example.toml", "config/demo.toml"] {
        let out = check(std::path::Path::new(file));
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn misspelled_key_is_rejected_with_its_name_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = tfa_gateway::demo::DEMO_CONFIG.replace("idle_timeout_seconds", "idle_timout_seconds");
    std::fs::write(&path, text).unwrap();
    let out = check(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("idle_timout_seconds"), "{err}");
    assert!(err.contains("bad.toml"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_value_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        tfa_gateway::demo::DEMO_CONFIG.replace("same_site = \"lax\"", "same_site = \"sometimes\""),
    )
    .unwrap();
    let out = check(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cookie.same_site") && err.contains("sometimes"), "{err}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = check(std::path::Path::new("/nonexistent/gateway.toml"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("/nonexistent/gateway.toml") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn run_refuses_a_busy_listen_address() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let path = dir.path().join("g.toml");
    std::fs::write(
        &path,
        common::config_text(busy.local_addr().unwrap(), common::free_addr(), &dir.path().join("d")),
    )
    .unwrap();
    let out = Command::new(BIN).args(["run", "--config"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot listen on"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_prints_its_listeners_and_serves_the_dashboard_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path()).await;
    assert!(
        demo.lines["dashboard"].starts_with("http://127.0.0.1:"),
        "{:?}",
        demo.lines
    );
    let mut alice = Browser::new(demo.gateway());
    let r = alice.login("alice@acme.test", "alice-password").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(alice.get("/").await.text().contains("Signed in as alice@acme.test"));
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_dashboard_runs_alone_and_two_gateways_front_it() {
    use std::io::BufRead as _;
    let listen = common::free_addr();
    let mut child = Command::new(BIN)
        .args(["demo-dashboard", "--listen", &listen.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start demo-dashboard");
    let mut first = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .expect("its address");
    assert_eq!(first.trim(), format!("dashboard: http://{listen}"));
    let dir = tempfile::tempdir().unwrap();
    for name in ["one", "two"] {
        let gw = common::Gateway::start(listen, &dir.path().join(name)).await;
        let alice = signed_in_as(gw.addr, "alice@acme.test").await;
        let home = alice.clone().get("/").await;
        assert!(
            home.text().contains("Signed in as alice@acme.test"),
            "through gateway {name}"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn second_gateway_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = common::Gateway::start(common::start_dashboard(), dir.path()).await;
    let path = dir.path().join("second.toml");
    std::fs::write(
        &path,
        common::config_text(common::free_addr(), common::free_addr(), &dir.path().join("data")),
    )
    .unwrap();
    let out = Command::new(BIN).args(["run", "--config"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot open the store"), "{err}");
    drop(first);
}

#[test]
fn unusable_data_directory_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("data");
    std::fs::write(&not_a_dir, "a file where the data folder should be").unwrap();
    let path = dir.path().join("g.toml");
    std::fs::write(
        &path,
        common::config_text(common::free_addr(), common::free_addr(), &not_a_dir),
    )
    .unwrap();
    let out = Command::new(BIN).args(["run", "--config"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the gateway must not start without its store");
    assert!(err.contains("data"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `tfa-gateway admin --config CONFIG ARGS...`: success, standard output, standard error.
fn admin(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(["admin", "--config"])
        .arg(config)
        .args(args)
        .output()
        .expect("run tfa-gateway admin");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Turns on SMS for a signed-in user with the demo's outbox.
async fn enable_sms(b: &mut Browser, password: &str, outbox: &Path, phone: &str, e164: &str) {
    let body = json!({ "password": password, "country": "GB", "phone": phone });
    let sent = b.send_json(Method::POST, "/_2fa/api/sms/enroll", body).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text());
    let code = last_code(outbox, e164);
    let on = b
        .send_json(Method::POST, "/_2fa/api/sms/verify", json!({ "code": code }))
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text());
}

/// The words of the `account` view's line for `email`.
fn user_row(view: &str, email: &str) -> Vec<String> {
    let line = view
        .lines()
        .find(|l| l.split_whitespace().next() == Some(email))
        .unwrap_or_else(|| panic!("no line for {email} in:\n{view}"));
    line.split_whitespace().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_sees_ids_and_sms_and_resets_a_user_by_email() {
    let dir = tempfile::tempdir().unwrap();
    let gw_dashboard = common::start_dashboard();
    let gw = common::Gateway::start(gw_dashboard, dir.path()).await;
    let outbox = dir.path().join("data").join("sms-outbox.jsonl");
    signed_in_as(gw.addr, "carol@globex.test").await;
    let mut dave = signed_in_as(gw.addr, "dave@globex.test").await;
    enable_sms(&mut dave, "dave-password", &outbox, "07400 123456", "+447400123456").await;

    // Ids to act on, and SMS counted as the second factor it is.
    let (ok, view, err) = admin(&gw.config, &["account", "globex"]);
    assert!(ok, "{err}");
    assert!(view.contains("users with 2FA: 1 of 2"), "dave has SMS only:\n{view}");
    assert_eq!(
        user_row(&view, "dave@globex.test"),
        ["dave@globex.test", "u-dave", "member", "on", "off", "on", "0"],
        "email, id, role, 2FA, TOTP, SMS, recovery codes left:\n{view}"
    );
    assert_eq!(
        user_row(&view, "carol@globex.test"),
        ["carol@globex.test", "u-carol", "owner", "off", "off", "off", "0"]
    );

    // Reset by email (in any case), as a support ticket names the user.
    let (ok, said, err) = admin(&gw.config, &["reset-user", "Dave@Globex.test"]);
    assert!(ok, "{err}");
    assert!(
        said.contains("second factor of dave@globex.test (u-dave) removed"),
        "{said}"
    );
    assert!(said.contains("signed-in sessions stay signed in"), "{said}");
    assert_eq!(dave.get("/").await.status, StatusCode::OK, "dave's session stays");
    let mut again = Browser::new(gw.addr);
    let r = again.login("dave@globex.test", "dave-password").await;
    assert_eq!(r.header("location"), Some("/"), "no code asked after the reset");
    let (_, view, _) = admin(&gw.config, &["account", "globex"]);
    assert!(view.contains("users with 2FA: 0 of 2"), "{view}");
    let events = Command::new(BIN)
        .args(["admin", "--json", "--config"])
        .arg(&gw.config)
        .args(["audit", "--user", "dave@globex.test"])
        .output()
        .unwrap();
    let events: Value = serde_json::from_slice(&events.stdout).expect("--json prints JSON");
    let events = events["events"].as_array().cloned().unwrap_or_default();
    assert!(events.iter().all(|e| e["user_id"] == "u-dave"), "{events:?}");
    assert!(events.iter().any(|e| e["kind"] == "admin_reset"), "{events:?}");

    // Signed out everywhere: both of dave's sessions, at the dashboard too.
    let dave_cookie = dave.jar["dash_session"].clone();
    let (ok, said, err) = admin(&gw.config, &["sign-out-user", "dave@globex.test"]);
    assert!(ok, "{err}");
    assert_eq!(said.trim(), "2 session(s) of dave@globex.test signed out");
    let me = dave.get_with("/api/me", &[("accept", "application/json")]).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert!(common::signed_out_at_dashboard(gw_dashboard, &dave_cookie).await);

    // By id as before; an unknown user is a clear refusal.
    let (ok, said, err) = admin(&gw.config, &["reset-user", "u-carol"]);
    assert!(
        ok && said.contains("carol@globex.test (u-carol) had no second factor"),
        "{said}{err}"
    );
    let (ok, _, err) = admin(&gw.config, &["reset-user", "nobody@globex.test"]);
    assert!(!ok);
    assert!(err.contains("404") && err.contains("No such user"), "{err}");
}

#[test]
fn every_admin_command_explains_itself_and_reset_user_says_what_happens_to_sessions() {
    let help = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let reset = help(&["admin", "reset-user", "--help"]);
    assert!(reset.contains("signed-in sessions stay signed in"), "{reset}");
    assert!(reset.contains("id (e.g. u-bob) or email"), "{reset}");
    // The short help puts each flag's text on its line.
    let audit = help(&["admin", "audit", "-h"]);
    for flag in ["--user <USER>", "--account <ACCOUNT>", "--limit <LIMIT>"] {
        let line = audit
            .lines()
            .find(|l| l.trim_start().starts_with(flag))
            .unwrap_or_default();
        assert!(line.trim().len() > flag.len(), "{flag} has no help:\n{audit}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_lets_a_user_ask_for_more_than_three_sms_codes_in_ten_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path()).await;
    let outbox = dir.path().join("sms-outbox.jsonl");
    let mut dave = signed_in_as(demo.gateway(), "dave@globex.test").await;
    enable_sms(&mut dave, "dave-password", &outbox, "07400 123456", "+447400123456").await;
    // Trying the demo: sign out and in again, a few times, each with a code.
    let json = [("content-type", "application/json")];
    for sign_in in 2..=5 {
        dave.send(Method::POST, "/logout", &[], Bytes::new()).await;
        let r = dave.login("dave@globex.test", "dave-password").await;
        assert!(r.header("location").unwrap_or_default().starts_with("/_2fa/challenge"));
        let sent = dave
            .send(Method::POST, "/_2fa/api/challenge/sms", &json, Bytes::new())
            .await;
        assert_eq!(sent.status, StatusCode::NO_CONTENT, "code {sign_in}: {}", sent.text());
        let code = last_code(&outbox, "+447400123456");
        let passed = dave
            .send_json(Method::POST, "/_2fa/api/challenge", json!({ "code": code }))
            .await;
        assert_eq!(passed.status, StatusCode::NO_CONTENT, "{}", passed.text());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_dashboard_shows_who_is_signed_in_and_leads_to_the_security_settings() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path()).await;
    let mut alice = signed_in_as(demo.gateway(), "alice@acme.test").await;
    let home = alice.get("/").await;
    assert_eq!(home.header("x-demo-user"), Some("alice@acme.test"));
    let home = home.text();
    assert!(home.contains("<p>Signed in as alice@acme.test</p>"), "{home}");
    assert!(home.contains("class=\"who\">alice@acme.test"), "the header bar: {home}");
    let before = home.split("\">Security settings</a>").next().unwrap_or_default();
    let link = before.rsplit("href=\"").next();
    assert!(before.len() < home.len(), "no Security settings link: {home}");
    assert_eq!(link, Some("/_2fa/settings"), "{home}");
    let settings = alice.get("/_2fa/settings").await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(settings.text().contains("csrf_token"), "{}", settings.text());
    for page in ["/projects", "/team"] {
        assert_eq!(alice.get(page).await.status, StatusCode::OK, "{page}");
    }
}
