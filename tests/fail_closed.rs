//! When the gateway cannot write what a sign-in depends on, it refuses the
//! sign-in with a clear error instead of letting the user through: a full
//! disk (and once there is room again, it writes again without a restart),
//! and a record it cannot read.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::tools::oathtool;
use common::{start_dashboard, Browser, Gateway};
use http::StatusCode;

/// A small tmpfs mounted for the test's lifetime, so the disk can be filled
/// without touching the machine's own.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// `None` when this process may not mount (not root): said on stdout.
    fn mount(path: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        if !out.status.success() {
            println!(
                "SKIPPED: cannot mount a tmpfs: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(SmallDisk {
            path: path.to_path_buf(),
        })
    }

    /// Writes a file until the disk refuses more; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0xA5u8; 64 * 1024];
        loop {
            if let Err(e) = f.write_all(&chunk).and_then(|_| f.sync_all()) {
                assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC, got {e}");
                return filler;
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_sign_ins_with_a_clear_error_and_lets_nobody_in() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("data"), "16m") else {
        if std::env::var_os("CI").is_some() {
            panic!("CI must run this test as root");
        }
        return;
    };
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, dir.path()).await;
    let mut carol = Browser::new(gw.addr);
    carol.login("carol@globex.test", "carol-password").await;
    let (secret, recovery) = enable_totp(&mut carol, "carol-password").await;

    let mut b = Browser::new(gw.addr);
    try_held_sign_in(&mut b, "carol@globex.test", "carol-password")
        .await
        .expect("up");

    let filler = disk.fill();

    // What the store's file still has room for in blocks it already holds
    // goes first: Alice (no 2FA) signs in until her session cannot be
    // saved, with a clear error and no way in.
    let mut refused = None;
    for _ in 0..20 {
        let mut alice = Browser::new(gw.addr);
        let r = alice.login("alice@acme.test", "alice-password").await;
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(!alice.jar.contains_key("dash_session"));
            refused = Some(r.text());
            break;
        }
        assert!(alice.jar.contains_key("dash_session"), "saved, so signed in");
    }
    let refused = refused.expect("the full disk refuses a sign-in");
    assert!(
        refused.contains("could not record your sign-in"),
        "a clear error: {refused}"
    );

    // Carol's right code cannot be recorded as spent: refused, not accepted.
    let code = oathtool(&secret, 30);
    let refused = b
        .send_json(
            http::Method::POST,
            "/_2fa/api/challenge",
            serde_json::json!({ "code": code }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{}", refused.text());
    assert!(!b.jar.contains_key("dash_session"), "the upstream session stays held");
    let page = b.get_with("/", &[("accept", "text/html")]).await;
    assert_ne!(
        page.status,
        StatusCode::OK,
        "the dashboard is not reached: {}",
        page.text()
    );

    // Space back, and no restart: within seconds the gateway has opened
    // its store again (sled refuses every call after an I/O failure until
    // then). Carol's enrollment is intact, and the code refused during the
    // outage was never recorded as spent.
    std::fs::remove_file(filler).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut alice = Browser::new(gw.addr);
        let r = alice.login("alice@acme.test", "alice-password").await;
        if r.status == StatusCode::SEE_OTHER {
            break;
        }
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
        assert!(std::time::Instant::now() < deadline, "the store never came back");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let mut b = Browser::new(gw.addr);
    try_held_sign_in(&mut b, "carol@globex.test", "carol-password")
        .await
        .expect("up");
    assert_eq!(try_challenge(&mut b, &recovery[0]).await, Some(StatusCode::NO_CONTENT));

    // And across a restart, the same.
    let (addr, config) = gw.crash();
    let _gw = Gateway::start_with(addr, config).await;
    let mut b = Browser::new(addr);
    try_held_sign_in(&mut b, "carol@globex.test", "carol-password")
        .await
        .expect("up");
    assert_eq!(try_challenge(&mut b, &recovery[1]).await, Some(StatusCode::NO_CONTENT));
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_records_stop_nobody_from_starting_and_let_nobody_in() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let mut carol = Browser::new(gw.addr);
    carol.login("carol@globex.test", "carol-password").await;
    enable_totp(&mut carol, "carol-password").await;
    let (addr, config) = (gw.addr, gw.config.clone());
    assert!(gw.stop().success());

    // Damage Carol's factors and add an unreadable session, as a disk error
    // or a newer release's format would.
    {
        let db = sled::open(dir.path().join("data/store")).expect("the stopped gateway's store");
        db.open_tree("factors")
            .unwrap()
            .insert("u-carol", &b"\x01{\"totp\":"[..])
            .unwrap();
        db.open_tree("sessions")
            .unwrap()
            .insert([7u8; 32], &b"\xff garbage"[..])
            .unwrap();
        db.flush().unwrap();
    }
    // sled lets go of its lock (a flock on `db`) from a background thread,
    // shortly after the handle is dropped: wait until it is free.
    let lock = dir.path().join("data/store/db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::process::Command::new("flock")
        .arg("-n")
        .arg(&lock)
        .arg("true")
        .status()
        .expect("run flock (util-linux)")
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "sled still holds {}",
            lock.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let gw = Gateway::start_with(addr, config).await;
    let mut b = Browser::new(gw.addr);
    let r = b.login("carol@globex.test", "carol-password").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert!(
        !b.jar.contains_key("dash_session"),
        "no way in without a readable second factor"
    );

    let mut alice = Browser::new(gw.addr);
    alice.login("alice@acme.test", "alice-password").await;
    assert!(alice.jar.contains_key("dash_session"), "other users are not affected");
}
