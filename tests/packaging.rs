//! The systemd unit (`packaging/tfa-gateway.service`) as systemd itself
//! reads it: `systemd-analyze verify` finds no error (with the binary path
//! pointed at the one under test, since verify checks it exists), and
//! `systemd-analyze security` rates its sandbox "OK" or better; the
//! Prometheus alert rules pass `promtool` and its rule tests, and they and
//! the Grafana dashboard use only metrics a running gateway exports.

mod common;

use std::process::Command;

const UNIT: &str = include_str!("../packaging/tfa-gateway.service");

/// The unit with `/usr/bin/tfa-gateway` replaced by the binary under test,
/// in a folder of its own (verify reads the file name as the unit name).
fn unit_under_test(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tfa-gateway.service");
    std::fs::write(&path, UNIT.replace("/usr/bin/tfa-gateway", common::BIN)).unwrap();
    path
}

#[test]
fn systemd_accepts_the_unit_and_rates_its_sandbox_ok() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_under_test(dir.path());
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze is installed (see .ci/run)");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && said.trim().is_empty(), "verify: {said}");

    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&unit)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    let overall = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall rating: {report}"));
    let level: f32 = overall
        .split(':')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{overall}"));
    assert!(level <= 2.0, "exposure {level} (2.0 or less is systemd's OK): {report}");
}

/// What the issue asks of the unit, line by line.
#[test]
fn the_unit_runs_as_its_own_user_in_its_own_state_folder_without_capabilities() {
    for line in [
        "User=tfa-gateway",
        "StateDirectory=tfa-gateway",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "Type=notify",
        "NotifyAccess=all",
    ] {
        assert!(UNIT.lines().any(|l| l == line), "missing {line}");
    }
    let reload: Vec<_> = UNIT.lines().filter(|l| l.starts_with("ExecReload=")).collect();
    assert!(reload[0].contains("check-config"), "{reload:?}");
    assert!(
        reload[1].contains("run --upgrade") && reload[1].contains("kill -QUIT ${MAINPID}"),
        "{reload:?}"
    );
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/prometheus"))
        .output()
        .expect("promtool is installed (Debian package prometheus; see .ci/run)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}: {said}");
    said
}

/// The alert rules are valid, and each fires on the series that should
/// raise it and not on healthy ones (`tfa-gateway.rules.test.yml`).
#[test]
fn the_alert_rules_check_and_fire_when_they_should() {
    promtool(&["check", "rules", "tfa-gateway.rules.yml"]);
    promtool(&["test", "rules", "tfa-gateway.rules.test.yml"]);
}

/// Every metric the alert rules and the Grafana dashboard use is one a
/// running gateway exports, so neither watches a name that never comes.
#[tokio::test(flavor = "multi_thread")]
async fn the_rules_and_the_dashboard_use_only_metrics_the_gateway_exports() {
    let dir = tempfile::tempdir().unwrap();
    let gw = common::Gateway::start(common::start_dashboard(), dir.path()).await;
    let (admin, token) = common::admin_of(&gw.config);
    let mut b = common::Browser::new(admin);
    let metrics = b
        .get_with("/metrics", &[("authorization", &format!("Bearer {token}"))])
        .await
        .text();
    let exported: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    assert!(exported.contains("tfa_sessions"), "{metrics}");

    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../packaging/grafana/tfa-gateway.json")).expect("the dashboard is JSON");
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() >= 8));
    for (file, text) in [
        ("rules", include_str!("../packaging/prometheus/tfa-gateway.rules.yml")),
        ("dashboard", include_str!("../packaging/grafana/tfa-gateway.json")),
    ] {
        let used: std::collections::BTreeSet<&str> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("tfa_"))
            .collect();
        let unknown: Vec<_> = used.iter().filter(|m| !exported.contains(*m)).collect();
        assert!(
            unknown.is_empty(),
            "the {file} use metrics the gateway does not export: {unknown:?}"
        );
    }
}
