//! The systemd unit (`packaging/tfa-gateway.service`) as systemd itself
//! reads it: `systemd-analyze verify` finds no error (with the binary path
//! pointed at the one under test, since verify checks it exists), and
//! `systemd-analyze security` rates its sandbox "OK" or better.

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
