//! The command line as an operator meets it: `check-config` on good and bad
//! files, `demo` with no configuration.

mod common;

use std::process::Command;

use common::{Browser, Demo, BIN};
use http::StatusCode;

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
