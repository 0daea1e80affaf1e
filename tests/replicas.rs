//! Three gateways on one PostgreSQL in front of one dashboard, reached by a
//! client that moves between them as a round-robin load balancer would:
//! no sticky sessions. A sign-in on one is challenged on another and served
//! by the third; a code accepted by one is refused by the others; a
//! sign-out, an owner's requirement and an operator's reset made through one
//! are in force on the others within a second; a replica killed with
//! SIGKILL loses nothing a user was told is done.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::pg::Postgres;
use common::tools::oathtool;
use common::{signed_in_as, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::json;

/// Dropped in field order: the gateways stop before their database does.
struct Cluster {
    replicas: Vec<Gateway>,
    _pg: Postgres,
    _dir: tempfile::TempDir,
}

/// `n` gateways sharing one database and one key, each with its own data
/// folder (pid file, admin token), in front of one demo dashboard.
async fn cluster(n: usize) -> Cluster {
    let pg = Postgres::start();
    pg.create_database("tfa");
    let dashboard = common::start_dashboard();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("r0").join("data");
    common::write_secrets(&first);
    let mut replicas = Vec::new();
    for i in 0..n {
        let data = dir.path().join(format!("r{i}")).join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        for file in ["secret.key", "admin.token"] {
            if i > 0 {
                std::fs::copy(first.join(file), data.join(file)).unwrap();
            }
        }
        replicas.push(start_replica(&pg, dashboard, &data).await);
    }
    Cluster {
        replicas,
        _pg: pg,
        _dir: dir,
    }
}

async fn start_replica(pg: &Postgres, dashboard: SocketAddr, data: &Path) -> Gateway {
    let addr = common::free_addr();
    let config = data.parent().unwrap().join("gateway.toml");
    let text = common::config_text(addr, dashboard, data);
    std::fs::write(&config, format!("{text}\n[store]\nurl = \"{}\"\n", pg.url("tfa"))).unwrap();
    Gateway::start_with(addr, config).await
}

impl Cluster {
    fn addr(&self, i: usize) -> SocketAddr {
        self.replicas[i % self.replicas.len()].addr
    }

    /// The browser, pointed at replica `i` (its cookies go along).
    fn at(&self, b: &mut Browser, i: usize) {
        b.addr = self.addr(i);
    }
}

/// The gateway's own view of the browser's session on replica `i`.
async fn status_at(c: &Cluster, b: &mut Browser, i: usize) -> StatusCode {
    c.at(b, i);
    b.get_with("/_2fa/api/status", &[("accept", "application/json")])
        .await
        .status
}

/// Waits up to a second for replica `i` to answer the browser with `want`.
async fn within_a_second(c: &Cluster, b: &mut Browser, i: usize, want: StatusCode, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let got = status_at(c, b, i).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "replica {i}: {what}: still {got}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_challenge_and_requests_on_different_replicas() {
    let c = cluster(3).await;

    // Signed in through replica 0, served by 1 and 2.
    let mut bob = signed_in_as(c.addr(0), "bob@acme.test").await;
    for i in 1..3 {
        c.at(&mut bob, i);
        let home = bob.get("/").await;
        assert!(home.text().contains("Signed in as bob@acme.test"), "replica {i}");
    }

    // Enrollment begun on 1 (password confirmed there), confirmed on 2.
    c.at(&mut bob, 1);
    let (secret, _codes) = enable_totp(&mut bob, "bob-password").await;

    // A new sign-in through 2 is held; its challenge is passed on 0.
    let mut held = Browser::new(c.addr(2));
    try_held_sign_in(&mut held, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    let code = oathtool(&secret, 30);
    c.at(&mut held, 0);
    assert_eq!(try_challenge(&mut held, &code).await, Some(StatusCode::NO_CONTENT));
    c.at(&mut held, 1);
    assert!(held.get("/").await.text().contains("Signed in as bob@acme.test"));

    // The same code, on another held sign-in through another replica: spent.
    let mut again = Browser::new(c.addr(1));
    try_held_sign_in(&mut again, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    c.at(&mut again, 2);
    assert_eq!(try_challenge(&mut again, &code).await, Some(StatusCode::UNAUTHORIZED));

    // Signed out at the dashboard through replica 1: out on 0 and 2 too.
    // The old cookies are kept, as a stale tab or a copied cookie would be.
    c.at(&mut held, 1);
    let jar = held.jar.clone();
    held.send(Method::POST, "/logout", &[], Bytes::new()).await;
    held.jar = jar;
    for i in [0, 2] {
        within_a_second(&c, &mut held, i, StatusCode::UNAUTHORIZED, "signed out elsewhere").await;
    }
    // Bob's first session is untouched everywhere.
    for i in 0..3 {
        assert_eq!(status_at(&c, &mut bob, i).await, StatusCode::OK, "replica {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requirement_and_a_reset_through_one_replica_hold_on_the_others() {
    let c = cluster(3).await;
    // Bob is seen by every replica before the owner acts.
    let mut bob = signed_in_as(c.addr(2), "bob@acme.test").await;
    for i in 0..3 {
        assert_eq!(status_at(&c, &mut bob, i).await, StatusCode::OK);
    }
    let mut alice = signed_in_as(c.addr(0), "alice@acme.test").await;
    enable_totp(&mut alice, "alice-password").await;
    let r = alice
        .send_json(Method::PUT, "/_2fa/api/accounts/acme/require", json!({"require": true}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Within a second, every replica sends bob to enrollment.
    for i in 1..3 {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            c.at(&mut bob, i);
            let api = bob.get_with("/api/me", &[("accept", "application/json")]).await;
            if api.status == StatusCode::UNAUTHORIZED && api.json()["error"] == "enrollment_required" {
                break;
            }
            assert!(Instant::now() < deadline, "replica {i} still lets bob through");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // The operator resets alice's second factor through replica 1's admin
    // API; a new sign-in of hers through 2 is no longer held.
    let (admin, token) = common::admin_of(&c.replicas[1].config);
    let reset = reqwest_like_delete(admin, &token, "/admin/users/alice@acme.test/2fa").await;
    assert_eq!(reset, StatusCode::OK);
    let fresh = signed_in_as(c.addr(2), "alice@acme.test").await;
    assert!(fresh.jar.contains_key("dash_session"), "not held: her 2FA is gone");
    // And replica 0, where she has a session, knows it: her status says so.
    c.at(&mut alice, 0);
    let status = alice
        .get_with("/_2fa/api/status", &[("accept", "application/json")])
        .await;
    assert_eq!(status.json()["totp_enabled"], false, "{}", status.text());
}

/// A DELETE to the admin API with its bearer token; the status.
async fn reqwest_like_delete(admin: SocketAddr, token: &str, path: &str) -> StatusCode {
    let auth = format!("Bearer {token}");
    Browser::new(admin)
        .send(Method::DELETE, path, &[("authorization", &auth)], Bytes::new())
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_with_sigkill_loses_nothing() {
    let mut c = cluster(2).await;
    let mut bob = signed_in_as(c.addr(0), "bob@acme.test").await;
    let (secret, codes) = enable_totp(&mut bob, "bob-password").await;
    let mut held = Browser::new(c.addr(0));
    try_held_sign_in(&mut held, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    let mut spent = Browser::new(c.addr(0));
    try_held_sign_in(&mut spent, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    assert_eq!(try_challenge(&mut spent, &codes[0]).await, Some(StatusCode::NO_CONTENT));

    // Replica 0 dies at once; everything it answered is in the database.
    c.replicas.remove(0).crash();
    c.at(&mut bob, 0);
    assert_eq!(status_at(&c, &mut bob, 0).await, StatusCode::OK, "signed-in session");
    c.at(&mut held, 0);
    let code = oathtool(&secret, 30);
    assert_eq!(
        try_challenge(&mut held, &codes[0]).await,
        Some(StatusCode::UNAUTHORIZED),
        "the recovery code stays spent"
    );
    assert_eq!(
        try_challenge(&mut held, &code).await,
        Some(StatusCode::NO_CONTENT),
        "the pending sign-in goes on"
    );
}
