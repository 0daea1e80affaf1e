//! The OpenAPI documents are true of the running demo: both validate as
//! OpenAPI 3.1 (openapi-spec-validator), and schemathesis finds no answer
//! that contradicts them, with carol signed in for the JSON API and the
//! bearer token for the admin API: every status and body as documented,
//! schema-valid requests accepted, schema-violating ones refused, `405`
//! with a true `Allow` for an undocumented method.
//!
//! Both tools come from PyPI, pinned with hashes in
//! tests/schemathesis/requirements.txt, into a virtual environment under
//! the target folder (made once, again when the pins change). The run has a
//! fixed seed, so CI is repeatable; `SCHEMATHESIS_SEED=random` explores.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{signed_in_as, Browser, Demo};
use http::StatusCode;

const PINS: &str = include_str!("schemathesis/requirements.txt");
const SEED: &str = "20261130";
/// Examples per operation in the fuzzing phase: a few seconds per document.
const EXAMPLES: &str = "25";

/// The virtual environment with both tools, made when missing or stale.
fn tools() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-venv");
    let stamp = venv.join("requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(PINS) {
        return venv.join("bin");
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "python3 -m venv failed: install python3-venv (.ci/run does)"
    );
    let pins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/requirements.txt");
    let installed = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "-r",
        ])
        .arg(&pins)
        .status()
        .expect("run pip");
    assert!(installed.success(), "pip could not install {}", pins.display());
    std::fs::write(&stamp, PINS).expect("stamp the environment");
    venv.join("bin")
}

/// Runs one of the tools; panics with everything it printed unless it
/// exits 0.
fn run(bin: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)]) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "120")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{} {} failed:\n{}{}",
        bin.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn both_documents_are_valid_and_the_running_demo_answers_as_they_say() {
    let bin = tools();
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("demo");
    let demo = Demo::start(&data).await;
    let listen = demo.gateway();
    let admin = demo.lines["admin"].trim_start_matches("http://").to_string();
    let token = std::fs::read_to_string(&demo.lines["admin token"]).expect("admin token");

    // The documents as served, saved for the tools.
    let json_doc = Browser::new(listen).get("/_2fa/api/openapi.json").await;
    assert_eq!(json_doc.status, StatusCode::OK);
    let mut operator = Browser::new(admin.parse().expect("admin address"));
    let admin_doc = operator
        .get_with("/admin/openapi.json", &[("authorization", &format!("Bearer {token}"))])
        .await;
    assert_eq!(admin_doc.status, StatusCode::OK);
    let json_file = tmp.path().join("json-api.json");
    let admin_file = tmp.path().join("admin-api.json");
    std::fs::write(&json_file, json_doc.text()).expect("write");
    std::fs::write(&admin_file, admin_doc.text()).expect("write");
    for doc in [&json_file, &admin_file] {
        run(
            &bin.join("openapi-spec-validator"),
            &[&doc.to_string_lossy()],
            tmp.path(),
            &[],
        );
    }

    let seed = match std::env::var("SCHEMATHESIS_SEED") {
        Ok(s) if s == "random" => None,
        Ok(s) => Some(s),
        Err(_) => Some(SEED.to_string()),
    };
    let schemathesis = |config: &str, doc: &Path, base: String, env: &[(&str, &str)]| {
        let config = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/schemathesis")
            .join(config);
        let (config, doc) = (config.to_string_lossy(), doc.to_string_lossy());
        let mut args = vec![
            "--config-file",
            &config,
            "run",
            &doc,
            "--url",
            &base,
            "--max-examples",
            EXAMPLES,
        ];
        if let Some(seed) = &seed {
            args.extend(["--seed", seed]);
        }
        run(&bin.join("schemathesis"), &args, tmp.path(), env);
    };

    // The JSON API, as carol (an owner, activated, no second factor yet):
    // her gateway session and the dashboard session it released.
    let carol = signed_in_as(listen, "carol@globex.test").await;
    let cookie = |name: &str| carol.jar.get(name).cloned().unwrap_or_else(|| panic!("{name} set"));
    let (session, dashboard) = (cookie("tfa_session"), cookie("dash_session"));
    schemathesis(
        "json-api.toml",
        &json_file,
        format!("http://{listen}/_2fa"),
        &[("TFA_SESSION", &session), ("DASH_SESSION", &dashboard)],
    );
    // Then the admin API (its examples name acme and bob, not carol).
    schemathesis(
        "admin-api.toml",
        &admin_file,
        format!("http://{admin}"),
        &[("ADMIN_TOKEN", token.trim())],
    );
}
