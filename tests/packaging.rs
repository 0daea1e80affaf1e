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

/// The man page and the shell completions, as clap makes them from the
/// command line's definition: (file in the repository, its text now).
fn generated() -> Vec<(String, Vec<u8>)> {
    use clap::CommandFactory as _;
    use clap_complete::Shell;
    let mut out = Vec::new();
    // A page for the command and one for each subcommand (tfa-gateway-admin-backup.1, ...).
    let pages = tempfile::tempdir().unwrap();
    clap_mangen::generate_to(tfa_gateway::cli::Cli::command(), pages.path()).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(pages.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let text = std::fs::read(pages.path().join(&name)).unwrap();
        out.push((format!("packaging/man/{name}"), text));
    }
    for (shell, file) in [
        (Shell::Bash, "packaging/completions/tfa-gateway.bash"),
        (Shell::Zsh, "packaging/completions/_tfa-gateway"),
        (Shell::Fish, "packaging/completions/tfa-gateway.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut tfa_gateway::cli::Cli::command(), "tfa-gateway", &mut text);
        if shell == Shell::Bash {
            // clap_complete spells the case arms of a hyphenated name apart
            // from the state it computes, so nothing after a subcommand
            // completes (clap-rs/clap issue 6421, unreleased fix): same
            // spelling for both.
            text = String::from_utf8(text)
                .unwrap()
                .replace("tfa__subcmd__gateway", "tfa__gateway")
                .into_bytes();
        }
        out.push((file.to_string(), text));
    }
    out
}

/// The committed man page and completions are what the command line makes
/// now; `TFA_REGENERATE=1 cargo test --test packaging` writes them again.
#[test]
fn the_man_page_and_completions_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os("TFA_REGENERATE").is_some();
    let generated = generated();
    let man = root.join("packaging/man");
    if regenerate {
        let _ = std::fs::remove_dir_all(&man);
    }
    for (file, text) in &generated {
        let path = root.join(file);
        if regenerate {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == *text,
            "{file} is not what the command line makes now: run TFA_REGENERATE=1 cargo test --test packaging"
        );
    }
    let pages = std::fs::read_dir(&man).unwrap().count();
    let made = generated
        .iter()
        .filter(|(f, _)| f.starts_with("packaging/man/"))
        .count();
    assert_eq!(
        pages, made,
        "packaging/man holds a page no command makes any more: regenerate"
    );
}

/// bash, with the completion loaded, offers the subcommands and an admin
/// command's words, as a person pressing Tab sees them.
#[test]
fn bash_completes_the_commands() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/completions/tfa-gateway.bash");
    let complete = |words: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {script}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 _tfa__gateway tfa-gateway \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
                 echo \"${{COMPREPLY[*]}}\""
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = complete("tfa-gateway ''");
    for word in ["run", "admin", "restore", "check-config"] {
        assert!(top.split_whitespace().any(|w| w == word), "{word} in {top}");
    }
    let admin = complete("tfa-gateway admin ''");
    for word in ["backup", "reset-user", "sign-out-user"] {
        assert!(admin.split_whitespace().any(|w| w == word), "{word} in {admin}");
    }
    let run = complete("tfa-gateway run --up");
    assert_eq!(run.trim(), "--upgrade", "{run}");
}

/// Every file the Debian package takes (`[package.metadata.deb] assets`,
/// the release binary aside) is in the repository, and the maintainer
/// scripts are valid shell: `cargo deb` has what it needs.
#[test]
fn the_debian_package_has_every_file_it_names() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Value = include_str!("../Cargo.toml").parse().unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().expect("assets");
    let mut destinations = Vec::new();
    for asset in assets {
        let (source, destination) = (asset[0].as_str().unwrap(), asset[1].as_str().unwrap());
        destinations.push(destination.to_string());
        if source.starts_with("target/") {
            continue;
        }
        let found = match source.strip_suffix("*.1") {
            Some(folder) => std::fs::read_dir(root.join(folder)).unwrap().count(),
            None => usize::from(root.join(source).is_file()),
        };
        assert!(found > 0, "{source} is missing");
    }
    for wanted in [
        "usr/bin/",
        "lib/systemd/system/",
        "etc/tfa-gateway/gateway.toml",
        "usr/share/man/man1/",
    ] {
        assert!(destinations.iter().any(|d| d == wanted), "the package lacks {wanted}");
    }
    for script in ["postinst", "postrm"] {
        let path = root.join("packaging/debian").join(script);
        let ok = Command::new("sh").arg("-n").arg(&path).status().unwrap().success();
        assert!(ok, "{script} is not valid shell");
    }
}
