//! docs/nginx-replicas.conf as written (only its addresses changed): nginx
//! round-robin in front of three gateways on one PostgreSQL, no sticky
//! sessions. A user signs in, turns TOTP on, signs in again through the
//! challenge and uses the dashboard, each request landing on whichever
//! replica nginx picks; a replica killed meanwhile goes unnoticed.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::cluster::cluster;
use common::nginx::Nginx;
use common::tools::oathtool;
use common::{free_addr, Browser};
use http::{Method, StatusCode};

const EXAMPLE: &str = include_str!("../docs/nginx-replicas.conf");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_behind_the_example_nginx_need_no_sticky_sessions() {
    let mut c = cluster(3).await;
    let addr = free_addr();
    let mut example = EXAMPLE.replace("listen 127.0.0.1:8000;", &format!("listen {addr};"));
    for (i, port) in ["8081", "8082", "8083"].iter().enumerate() {
        example = example.replace(&format!("127.0.0.1:{port};"), &format!("{};", c.addr(i)));
    }
    assert!(!example.contains("127.0.0.1:808"), "the example's addresses were found");
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(dir.path(), addr, &example).await;

    let mut bob = Browser::new(nginx.addr);
    assert_eq!(
        bob.login("bob@acme.test", "bob-password").await.status,
        StatusCode::SEE_OTHER
    );
    let (secret, _) = enable_totp(&mut bob, "bob-password").await;
    bob.send(Method::POST, "/logout", &[], Bytes::new()).await;

    let mut held = Browser::new(nginx.addr);
    try_held_sign_in(&mut held, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    assert_eq!(
        try_challenge(&mut held, &oathtool(&secret, 30)).await,
        Some(StatusCode::NO_CONTENT)
    );
    for n in 0..30 {
        let home = held.get("/").await;
        assert!(home.text().contains("Signed in as bob@acme.test"), "request {n}");
        if n == 10 {
            // One replica dies; nginx moves on to the others.
            c.replicas.remove(1).crash();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
