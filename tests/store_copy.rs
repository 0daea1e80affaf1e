//! `tfa-gateway store copy` as an operator runs it: a gateway on its
//! embedded store, with signed-in users, a TOTP user, a failure counter and
//! an audit trail, is stopped; its store is copied to PostgreSQL; a gateway
//! started on PostgreSQL with the same key serves the same sessions and
//! still challenges the TOTP user. A gateway still running, a database that
//! already holds records and a wrong URL each stop the copy with a message
//! that says why, and no password is ever printed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::pg::Postgres;
use common::tools::oathtool;
use common::{signed_in_as, Browser, Gateway, BIN};
use http::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use tfa_gateway::store::{Store, Table};

/// Runs `store copy` from the data folder `data` with the target flags `to`.
fn copy(data: &Path, to: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(["store", "copy", "--from"])
        .arg(format!("sled:{}", data.display()))
        .args(to)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .output()
        .expect("run store copy")
}

fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A gateway's data folder after it ran (alice signed in) and stopped.
async fn stopped_gateway(dir: &Path) -> PathBuf {
    let gw = Gateway::start(common::start_dashboard(), dir).await;
    signed_in_as(gw.addr, "alice@acme.test").await;
    gw.stop();
    dir.join("data")
}

/// Each table's rows, in key order, as one hash; and the audit's bodies in
/// id order: what the gateway on PostgreSQL will read.
fn pg_digests(pg: &Postgres) -> Vec<String> {
    let mut out: Vec<String> = Table::ALL
        .iter()
        .map(|t| format!("SELECT key || body AS r, key AS o FROM tfa_{}", t.name()))
        .collect();
    out.push("SELECT body AS r, id AS o FROM tfa_audit".into());
    out.iter()
        .map(|rows| {
            pg.psql(
                "tfa",
                &format!("SELECT count(*) || ' ' || encode(sha256(coalesce(string_agg(r, ''::bytea ORDER BY o), '')), 'hex') FROM ({rows}) x"),
            )
        })
        .collect()
}

/// The same digests, read from the embedded store in-process: tables in
/// key order, the audit oldest first.
async fn sled_digests(data: &Path) -> Vec<String> {
    let store = Store::open(data).expect("the embedded store, gateway stopped");
    let b = store.backend();
    let line = |rows: Vec<Vec<u8>>| format!("{} {}", rows.len(), hex(&Sha256::digest(rows.concat())));
    let mut out = Vec::new();
    for t in Table::ALL {
        let rows = b.scan(t).await.unwrap().into_iter().map(|(k, v)| [k, v].concat());
        out.push(line(rows.collect()));
    }
    let mut audit = Vec::new();
    let mut before = None;
    loop {
        let page = b.audit_page(before.take(), 100).await.unwrap();
        let Some((last, _)) = page.last() else { break };
        before = Some(last.clone());
        audit.extend(page.into_iter().map(|(_, body)| body));
    }
    audit.reverse();
    out.push(line(audit));
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_gateways_store_moves_to_postgresql_and_its_users_go_on_there() {
    let pg = Postgres::start();
    pg.create_database("tfa");
    let dashboard = common::start_dashboard();
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dashboard, dir.path()).await;
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let mut bob = signed_in_as(gw.addr, "bob@acme.test").await;
    let (secret, _codes) = enable_totp(&mut bob, "bob-password").await;
    // A wrong code at a held sign-in leaves bob a failure counter.
    let mut held = Browser::new(gw.addr);
    try_held_sign_in(&mut held, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    assert_eq!(try_challenge(&mut held, "000000").await, Some(StatusCode::UNAUTHORIZED));
    // An SMS code sent to dave leaves a code in flight and a send counted.
    let mut dave = signed_in_as(gw.addr, "dave@globex.test").await;
    let sms = json!({"password": "dave-password", "country": "GB", "phone": "07400 123456"});
    let sent = common::api::try_json(&mut dave, Method::POST, "/_2fa/api/sms/enroll", sms)
        .await
        .unwrap();
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text());
    // A security key being added leaves a ceremony in flight.
    let key = json!({"password": "alice-password", "name": "Key"});
    let started = common::api::try_json(&mut alice, Method::POST, "/_2fa/api/webauthn/register/start", key)
        .await
        .unwrap();
    assert_eq!(started.status, StatusCode::OK, "{}", started.text());
    gw.stop();

    // The URL comes from the environment, with a password the test
    // server does not ask for (it trusts loopback) and nobody may see.
    let url = pg.url("tfa").replace("postgres@", "postgres:sekrit-pw@");
    let data = dir.path().join("data");
    let out = copy(&data, &["--to-env", "TFA_COPY_TARGET"], &[("TFA_COPY_TARGET", &url)]);
    let text = printed(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("sekrit-pw"), "the password was printed: {text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().last().unwrap().starts_with("verified: "), "{stdout}");
    assert!(stdout.contains(&format!("127.0.0.1:{}/tfa", pg.port())), "{stdout}");

    // What PostgreSQL holds, read by psql, is what sled holds: every table
    // (none empty) and the audit trail in its order.
    let (in_pg, in_sled) = (pg_digests(&pg), sled_digests(&data).await);
    assert_eq!(in_pg, in_sled);
    let counts: Vec<u64> = in_pg
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).chain(["audit"]).collect();
    assert!(counts.iter().all(|&n| n > 0), "{names:?}: {counts:?}");
    for (name, n) in names.iter().zip(&counts) {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .expect(name);
        assert!(
            line.contains(&format!(" {n} record(s)")),
            "{name}: {n} in psql; printed: {line}"
        );
    }

    // The same data folder and key, now on PostgreSQL.
    let addr = common::free_addr();
    let config = dir.path().join("on-postgres.toml");
    let text = common::config_text(addr, dashboard, &data);
    std::fs::write(&config, format!("{text}\n[store]\nurl = \"{}\"\n", pg.url("tfa"))).unwrap();
    let on_pg = Gateway::start_with(addr, config).await;
    for (b, who) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        b.addr = on_pg.addr;
        let home = b.get("/").await;
        assert!(
            home.text().contains(&format!("Signed in as {who}@acme.test")),
            "{who}: {}",
            home.status
        );
    }
    let mut again = Browser::new(on_pg.addr);
    try_held_sign_in(&mut again, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    assert_eq!(
        try_challenge(&mut again, &oathtool(&secret, 30)).await,
        Some(StatusCode::NO_CONTENT)
    );
    assert!(again.get("/").await.text().contains("Signed in as bob@acme.test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copying_while_the_gateway_runs_stops_before_touching_the_database() {
    let pg = Postgres::start();
    pg.create_database("tfa");
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(common::start_dashboard(), dir.path()).await;
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let out = copy(&dir.path().join("data"), &["--to", &pg.url("tfa")], &[]);
    let text = printed(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("is the gateway still running?"), "{text}");
    assert_eq!(
        pg.psql("tfa", "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'tfa%'"),
        "0",
        "not even the schema was made"
    );
    assert!(alice.get("/").await.text().contains("Signed in as alice@acme.test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_holds_records_is_refused_and_left_as_it_was() {
    let pg = Postgres::start();
    pg.create_database("tfa");
    let dir = tempfile::tempdir().unwrap();
    let data = stopped_gateway(dir.path()).await;
    let url = pg.url("tfa");
    let first = copy(&data, &["--to", &url], &[]);
    assert!(first.status.success(), "{}", printed(&first));
    let before = pg_digests(&pg);

    let again = copy(&data, &["--to", &url], &[]);
    let text = printed(&again);
    assert_eq!(again.status.code(), Some(1), "{text}");
    assert!(text.contains("already holds records"), "{text}");
    assert!(
        text.contains("DROP DATABASE") && text.contains("CREATE DATABASE"),
        "{text}"
    );
    assert_eq!(pg_digests(&pg), before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_url_is_a_clear_error_without_the_password() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let data = stopped_gateway(dir.path()).await;
    let nobody = common::free_addr().port();
    let unreachable = format!("postgres://tfa:hunter2@127.0.0.1:{nobody}/tfa");
    let no_such_db = format!("postgres://postgres:hunter2@127.0.0.1:{}/nosuchdb", pg.port());
    let refused = |to: &[&str], env: &[(&str, &str)], says: &str| {
        let out = copy(&data, to, env);
        let text = printed(&out);
        assert_eq!(out.status.code(), Some(1), "{to:?}: {text}");
        assert!(text.contains(says), "{to:?}: expected {says:?} in: {text}");
        assert!(!text.contains("hunter2"), "{to:?}: the password was printed: {text}");
        assert!(!text.contains("panicked"), "{to:?}: {text}");
    };
    let at = format!("127.0.0.1:{nobody}/tfa");
    refused(&["--to", &unreachable], &[], &at);
    refused(&["--to-env", "TARGET"], &[("TARGET", &unreachable)], &at);
    refused(&["--to", &no_such_db], &[], "\"nosuchdb\" does not exist");
    refused(
        &["--to", "mysql://tfa:hunter2@127.0.0.1/tfa"],
        &[],
        "expected a postgres:// URL",
    );
    refused(
        &["--to-env", "TFA_NOT_SET_ANYWHERE"],
        &[],
        "TFA_NOT_SET_ANYWHERE is not set",
    );
}
