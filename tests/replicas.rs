//! Three gateways on one PostgreSQL in front of one dashboard, reached by a
//! client that moves between them as a round-robin load balancer would:
//! no sticky sessions. A sign-in on one is challenged on another and served
//! by the third; a code accepted by one is refused by the others; a
//! sign-out, an owner's requirement and an operator's reset made through one
//! are in force on the others within a second; a replica killed with
//! SIGKILL loses nothing a user was told is done.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::api::{enable_totp, try_challenge, try_held_sign_in};
use common::cluster::{cluster, status_at, within_a_second};
use common::tools::oathtool;
use common::{signed_in_as, Browser};
use http::{Method, StatusCode};
use serde_json::json;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_on_every_replica_count_toward_one_lockout() {
    let c = cluster(3).await;
    let mut bob = signed_in_as(c.addr(0), "bob@acme.test").await;
    enable_totp(&mut bob, "bob-password").await;
    let mut held = Browser::new(c.addr(1));
    try_held_sign_in(&mut held, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    // The demo allows 10 failures per user; they land on all three replicas.
    for i in 0..10 {
        c.at(&mut held, i);
        let got = try_challenge(&mut held, &format!("{:06}", 100_000 + i)).await;
        assert!(
            matches!(got, Some(StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS)),
            "{got:?}"
        );
    }
    let mut fresh = Browser::new(c.addr(2));
    try_held_sign_in(&mut fresh, "bob@acme.test", "bob-password")
        .await
        .unwrap();
    for i in 0..3 {
        c.at(&mut fresh, i);
        assert_eq!(
            try_challenge(&mut fresh, "123456").await,
            Some(StatusCode::TOO_MANY_REQUESTS),
            "replica {i} knows the lockout"
        );
    }
}

/// Two held sign-ins, on two replicas, send one recovery code at the same
/// moment: in every round exactly one is let in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_racing_with_one_recovery_code_let_one_in() {
    let c = cluster(2).await;
    let mut bob = signed_in_as(c.addr(0), "bob@acme.test").await;
    let (_, codes) = enable_totp(&mut bob, "bob-password").await;
    for (round, code) in codes.iter().enumerate() {
        let mut one = Browser::new(c.addr(0));
        let mut two = Browser::new(c.addr(1));
        try_held_sign_in(&mut one, "bob@acme.test", "bob-password")
            .await
            .unwrap();
        try_held_sign_in(&mut two, "bob@acme.test", "bob-password")
            .await
            .unwrap();
        let (a, b) = tokio::join!(try_challenge(&mut one, code), try_challenge(&mut two, code));
        let passed = [a, b].iter().filter(|s| **s == Some(StatusCode::NO_CONTENT)).count();
        assert_eq!(passed, 1, "round {round}: {a:?} {b:?}");
    }
}

/// An SMS code sent through one replica is taken through another, once;
/// the send limit counts the sends of every replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_codes_and_their_limit_are_shared() {
    let c = cluster(3).await;
    let outbox = |i: usize| c.data(i).join("sms-outbox.jsonl");
    let number = "+447400123456";
    let mut dave = signed_in_as(c.addr(0), "dave@globex.test").await;
    let body = json!({"password": "dave-password", "country": "GB", "phone": "07400 123456"});
    let sent = common::api::try_json(&mut dave, Method::POST, "/_2fa/api/sms/enroll", body)
        .await
        .unwrap();
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text());
    c.at(&mut dave, 1);
    let code = common::tools::last_code(&outbox(0), number);
    let on = common::api::try_json(&mut dave, Method::POST, "/_2fa/api/sms/verify", json!({"code": code}))
        .await
        .unwrap();
    assert_eq!(on.status, StatusCode::OK, "{}", on.text());

    // Held through 1, the code sent through 1, the challenge passed on 2.
    let mut held = Browser::new(c.addr(1));
    try_held_sign_in(&mut held, "dave@globex.test", "dave-password")
        .await
        .unwrap();
    let json_headers = [("content-type", "application/json"), ("accept", "application/json")];
    let send = held
        .send(Method::POST, "/_2fa/api/challenge/sms", &json_headers, Bytes::new())
        .await;
    assert_eq!(send.status, StatusCode::NO_CONTENT, "{}", send.text());
    let code = common::tools::last_code(&outbox(1), number);
    c.at(&mut held, 2);
    assert_eq!(try_challenge(&mut held, &code).await, Some(StatusCode::NO_CONTENT));
    // The same code through replica 0, for another held sign-in: spent.
    let mut again = Browser::new(c.addr(0));
    try_held_sign_in(&mut again, "dave@globex.test", "dave-password")
        .await
        .unwrap();
    assert_eq!(try_challenge(&mut again, &code).await, Some(StatusCode::UNAUTHORIZED));

    // Two codes went out; the demo allows ten per ten minutes, wherever sent.
    for n in 2..10 {
        c.at(&mut again, n);
        let r = again
            .send(Method::POST, "/_2fa/api/challenge/sms", &json_headers, Bytes::new())
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "send {n}: {}", r.text());
    }
    for i in 0..3 {
        c.at(&mut again, i);
        let r = again
            .send(Method::POST, "/_2fa/api/challenge/sms", &json_headers, Bytes::new())
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "replica {i}: {}", r.text());
    }
}

/// The reads of the store made by the replica's `/metrics`.
async fn store_reads(c: &common::cluster::Cluster, i: usize) -> u64 {
    common::metric(&c.replicas[i].config, "tfa_store_reads_total").await
}

/// Many requests at once with a session another replica made: one read of
/// the session (and one of its user), not one per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_requests_reads_a_new_session_once() {
    let c = cluster(2).await;
    let bob = signed_in_as(c.addr(0), "bob@acme.test").await;
    let before = store_reads(&c, 1).await;
    let burst = (0..20).map(|_| {
        let mut b = bob.clone();
        b.addr = c.addr(1);
        async move { b.get("/").await.status }
    });
    for status in futures_util::future::join_all(burst).await {
        assert_eq!(status, StatusCode::OK);
    }
    let reads = store_reads(&c, 1).await - before;
    // The session, its user's record and factors, and (in the background,
    // once) the identity refresh's read of the user and their account.
    assert!(reads <= 5, "{reads} store reads for one new session");
}
