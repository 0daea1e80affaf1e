//! The data folder is the gateway user's alone: users' emails, the audit
//! trail, session hashes, and in the demo the admin token, the key and the
//! SMS outbox. Started under umask 022, as most shells are, the demo makes
//! nothing that group or others may read; a folder left open by an earlier
//! run is closed at start-up (the folder, and what in it is the gateway's).

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::tools::csrf_token;
use common::{config_text, free_addr, signed_in_as, start_dashboard, wait_healthy, Gateway, BIN};
use http::StatusCode;

/// Every file and folder under `dir` (and `dir` itself) that grants any
/// permission to group or others, with its mode.
fn open_to_others(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            found.push((path.clone(), mode));
        }
        if meta.is_dir() {
            todo.extend(
                std::fs::read_dir(&path)
                    .expect("list")
                    .map(|e| e.expect("entry").path()),
            );
        }
    }
    found
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_under_umask_022_keeps_its_data_folder_to_its_user() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("demo");
    let listen = free_addr();
    let child = Command::new("sh")
        .args(["-c", "umask 022 && exec \"$0\" \"$@\""])
        .arg(BIN)
        .args(["demo", "--listen", &listen.to_string(), "--data-dir"])
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the demo");
    let mut demo = Gateway {
        child,
        addr: listen,
        config: PathBuf::new(),
    };
    wait_healthy(listen, &mut demo.child).await;

    // A sign-in (a stored session, an audit event) and an SMS to the outbox.
    let mut dave = signed_in_as(listen, "dave@globex.test").await;
    let settings = dave.get("/_2fa/settings").await.text();
    let form = format!(
        "csrf_token={}&password=dave-password&country=GB&phone=07400+123456",
        csrf_token(&settings)
    );
    let sent = dave.post_form("/_2fa/settings/sms/enable", &form).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text());
    for made in ["admin.token", "secret.key", "sms-outbox.jsonl", "store"] {
        assert!(data.join(made).exists(), "{made} was made");
    }

    assert_eq!(open_to_others(&data), vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_folder_left_open_is_closed_at_start() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    common::write_secrets(&data);
    std::fs::create_dir(data.join("store")).expect("mkdir");
    std::fs::write(data.join("sms-outbox.jsonl"), "{}\n").expect("write");
    std::fs::write(data.join("notes.txt"), "not the gateway's").expect("write");
    for (path, mode) in [
        ("", 0o755),
        ("store", 0o775),
        ("sms-outbox.jsonl", 0o640),
        ("admin.token", 0o644),
        ("secret.key", 0o604),
        ("notes.txt", 0o644),
    ] {
        chmod(&data.join(path), mode);
    }
    assert_eq!(open_to_others(&data).len(), 6);

    let addr = free_addr();
    let config = tmp.path().join("gateway.toml");
    std::fs::write(&config, config_text(addr, start_dashboard(), &data)).expect("write config");
    let _gw = Gateway::start_with(addr, config).await;

    let notes = data.join("notes.txt");
    assert_eq!(
        open_to_others(&data),
        vec![(notes, 0o644)],
        "only the gateway's own are changed"
    );
    let mode = |p: &str| std::fs::metadata(data.join(p)).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode("sms-outbox.jsonl"), 0o600, "the owner keeps what it had");
}
