//! Backup and restore, end to end: `tfa-gateway admin backup FILE` while
//! the gateway serves, a file that holds no secret in clear, and `restore`
//! into an empty store, after which alice signs in with her app's code and
//! carol's session is still signed in. A cut file changes nothing; a store
//! that is not empty is refused; a PostgreSQL store is told to use pg_dump,
//! and takes a restore from the embedded one's backup.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::api::enable_totp;
use common::tools::oathtool;
use common::{config_text, free_addr, signed_in_as, start_dashboard, Browser, Gateway, StoreKind, BIN};
use http::{Method, StatusCode};
use serde_json::json;

fn tfa(args: &[&str], config: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .args(extra)
        .output()
        .expect("run tfa-gateway")
}

fn said(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The key and admin token (the files) of the data folder `from`, into `to`.
fn copy_keys(from: &Path, to: &Path) {
    for f in std::fs::read_dir(from).unwrap().flatten() {
        if f.path().is_file() {
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
}

/// A configuration for a gateway at a new address with its data in `data`
/// and the key of the gateway whose data folder is `keys_from`.
fn config_beside(
    dir: &Path,
    dashboard: std::net::SocketAddr,
    data: &Path,
    keys_from: &Path,
) -> (PathBuf, std::net::SocketAddr) {
    let addr = free_addr();
    std::fs::create_dir_all(data).unwrap();
    copy_keys(keys_from, data);
    let config = dir.join(format!("gateway-{}.toml", addr.port()));
    std::fs::write(&config, config_text(addr, dashboard, data)).unwrap();
    (config, addr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_serving_restores_into_an_empty_store_and_alice_signs_in_with_her_code() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, &dir.path().join("first")).await;
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let (secret, codes) = enable_totp(&mut alice, "alice-password").await;
    let carol = signed_in_as(gw.addr, "carol@globex.test").await;
    let carols = carol.cookie_header().unwrap();

    // carol keeps using the dashboard while the backup is taken, and dave
    // keeps signing in (each sign-in writes to the store: the backup must
    // still be one moment's, or its trailer would not match its records).
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let load = tokio::spawn({
        let (stop, served, addr, cookie) = (stop.clone(), served.clone(), gw.addr, carols.clone());
        async move {
            let mut b = Browser::new(addr);
            while !stop.load(Ordering::Relaxed) {
                let r = b.get_with("/api/me", &[("cookie", &cookie)]).await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.text());
                let dave = signed_in_as(addr, "dave@globex.test").await;
                assert!(dave.jar.contains_key("tfa_session"));
                served.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let file = dir.path().join("gateway.backup");
    let config = gw.config.clone();
    let out = tokio::task::spawn_blocking(move || tfa(&["admin"], &config, &["backup", file.to_str().unwrap()]))
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("backup written to"), "{}", said(&out));
    assert!(served.load(Ordering::Relaxed) > 0);
    let file = dir.path().join("gateway.backup");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    // Nothing secret in clear.
    let bytes = std::fs::read(&file).unwrap();
    let mut secrets: Vec<(String, Vec<u8>)> = vec![("TOTP secret".into(), secret.clone().into_bytes())];
    secrets.extend(
        codes
            .iter()
            .map(|c| (format!("recovery code {c}"), c.clone().into_bytes())),
    );
    for (name, value) in alice.jar.iter().chain(carol.jar.iter()) {
        secrets.push((format!("cookie {name}"), value.clone().into_bytes()));
    }
    for (what, needle) in &secrets {
        assert!(!contains(&bytes, needle), "the backup holds the {what} in clear");
    }
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("{\"format\":\"tfa-gateway backup\""),
        "{}",
        &text[..80]
    );
    gw.stop();

    // A cut file is refused before anything is written.
    let cut = dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let data = dir.path().join("second").join("data");
    let (restored_config, addr) = config_beside(dir.path(), dashboard, &data, &dir.path().join("first").join("data"));
    let refused = tfa(&["restore"], &restored_config, &[cut.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(said(&refused).contains("damaged or incomplete"), "{}", said(&refused));

    // The whole file goes into the (still) empty store, and is checked.
    let restored = tfa(&["restore"], &restored_config, &[file.to_str().unwrap()]);
    assert!(restored.status.success(), "{}", said(&restored));
    assert!(said(&restored).contains("verified"), "{}", said(&restored));
    let again = tfa(&["restore"], &restored_config, &[file.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(said(&again).contains("already holds records"), "{}", said(&again));

    let gw = Gateway::start_with(addr, restored_config).await;
    let mut back = Browser::new(gw.addr);
    back.login("alice@acme.test", "alice-password").await;
    let code = oathtool(&secret, 30);
    let passed = back
        .send_json(Method::POST, "/_2fa/api/challenge", json!({ "code": code }))
        .await;
    assert_eq!(passed.status, StatusCode::NO_CONTENT, "{}", passed.text());
    assert_eq!(back.get("/api/me").await.json()["email"], "alice@acme.test");
    let mut carol_again = Browser::new(gw.addr);
    let me = carol_again.get_with("/api/me", &[("cookie", &carols)]).await;
    assert_eq!(me.json()["email"], "carol@globex.test", "carol's session came back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_store_is_told_to_use_pg_dump_and_takes_a_restore_from_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, &dir.path().join("first")).await;
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let (secret, _) = enable_totp(&mut alice, "alice-password").await;
    let file = dir.path().join("gateway.backup");
    let out = tfa(&["admin"], &gw.config, &["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", said(&out));
    gw.stop();

    let pg = StoreKind::postgres();
    let on_pg = Gateway::start_on(&pg, dashboard, &dir.path().join("pg"), &[]).await;
    let refused = tfa(
        &["admin"],
        &on_pg.config,
        &["backup", dir.path().join("pg.backup").to_str().unwrap()],
    );
    assert!(!refused.status.success());
    assert!(said(&refused).contains("pg_dump"), "{}", said(&refused));
    let config = on_pg.config.clone();
    on_pg.stop();

    // Into a new, empty database, with the first gateway's key.
    let StoreKind::Postgres(cluster) = &pg else {
        unreachable!()
    };
    cluster.create_database("restored");
    let text = std::fs::read_to_string(&config).unwrap();
    let url_line = text.lines().find(|l| l.starts_with("url = ")).unwrap().to_string();
    let fresh_url = format!("url = \"{}\"", cluster.url("restored"));
    let restored_config = dir.path().join("restored.toml");
    std::fs::write(&restored_config, text.replace(&url_line, &fresh_url)).unwrap();
    copy_keys(
        &dir.path().join("first").join("data"),
        &dir.path().join("pg").join("data"),
    );
    let restored = tfa(&["restore"], &restored_config, &[file.to_str().unwrap()]);
    assert!(restored.status.success(), "{}", said(&restored));

    let addr = text
        .lines()
        .find_map(|l| l.strip_prefix("listen = [{ address = \""))
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .parse()
        .unwrap();
    let gw = Gateway::start_with(addr, restored_config).await;
    let mut back = Browser::new(gw.addr);
    back.login("alice@acme.test", "alice-password").await;
    let passed = back
        .send_json(
            Method::POST,
            "/_2fa/api/challenge",
            json!({ "code": oathtool(&secret, 30) }),
        )
        .await;
    assert_eq!(passed.status, StatusCode::NO_CONTENT, "{}", passed.text());
}
