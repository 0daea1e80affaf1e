//! A user's sessions: listed with where and when (every replica's), any
//! other one signed out, or all others at once, each also signed out at the
//! dashboard; never another user's; and the operator's
//! `DELETE /admin/users/{id}/sessions`.

mod common;

use bytes::Bytes;
use common::{signed_out_at_dashboard, start_dashboard, Browser, Gateway};
use http::{Method, StatusCode};
use serde_json::{json, Value};

/// Signs `email` in from a browser that says it is `agent`.
async fn signed_in_with(addr: std::net::SocketAddr, email: &str, agent: &str) -> Browser {
    let mut b = Browser::new(addr);
    let password = format!("{}-password", email.split('@').next().unwrap());
    let form = format!("email={}&password={password}", email.replace('@', "%40"));
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("user-agent", agent),
    ];
    let r = b.send(Method::POST, "/login", &headers, Bytes::from(form)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(b.jar.contains_key("dash_session"));
    b
}

async fn sessions(b: &mut Browser) -> Vec<Value> {
    let r = b.get("/_2fa/api/sessions").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json().as_array().cloned().unwrap()
}

fn id_of(list: &[Value], agent: &str) -> String {
    list.iter().find(|s| s["user_agent"] == agent).expect(agent)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn signed_in(b: &mut Browser) -> bool {
    b.get_with("/api/me", &[("accept", "application/json")]).await.status == StatusCode::OK
}

#[tokio::test(flavor = "multi_thread")]
async fn alice_sees_her_sessions_and_signs_others_out_there_and_at_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, dir.path()).await;
    let mut laptop = signed_in_with(gw.addr, "alice@acme.test", "Laptop Firefox").await;
    let mut phone = signed_in_with(gw.addr, "alice@acme.test", "Phone\tSafari <b>").await;
    let mut tablet = signed_in_with(gw.addr, "alice@acme.test", "Tablet Chrome").await;
    let mut bob = signed_in_with(gw.addr, "bob@acme.test", "Bob's browser").await;

    let list = sessions(&mut laptop).await;
    assert_eq!(list.len(), 3, "{list:?}");
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "Laptop Firefox");
    assert_eq!(current[0]["client"], "127.0.0.1");
    assert!(current[0]["started"].is_u64() && current[0]["last_active"].is_u64());
    assert!(
        list.iter().any(|s| s["user_agent"] == "PhoneSafari <b>"),
        "control characters never reach a page or a log: {list:?}"
    );
    let text = serde_json::to_string(&list).unwrap();
    assert!(!text.contains(&laptop.jar["tfa_session"]), "never a token");

    // The settings page lists them, escaped, with a way to end the others.
    let page = laptop.get("/_2fa/settings").await.text();
    assert!(
        page.contains("PhoneSafari &lt;b&gt;") && !page.contains("PhoneSafari <b>"),
        "{page}"
    );
    assert!(
        page.contains("This session") && page.contains("Sign out everywhere else"),
        "{page}"
    );

    // Bob cannot end alice's sessions.
    let phone_id = id_of(&list, "PhoneSafari <b>");
    let path = format!("/_2fa/api/sessions/{phone_id}");
    assert_eq!(
        bob.send_json(Method::DELETE, &path, json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(signed_in(&mut phone).await);

    // One other session, signed out here and at the dashboard.
    let phone_cookie = phone.jar["dash_session"].clone();
    let revoked = laptop.send_json(Method::DELETE, &path, json!({})).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text());
    assert!(!signed_in(&mut phone).await);
    assert!(signed_out_at_dashboard(dashboard, &phone_cookie).await);
    // Her own session is ended by signing out, not from the list.
    let own = format!("/_2fa/api/sessions/{}", id_of(&list, "Laptop Firefox"));
    assert_eq!(
        laptop.send_json(Method::DELETE, &own, json!({})).await.status,
        StatusCode::NOT_FOUND
    );

    // Everywhere else at once; a form post cannot do it.
    let _second_tablet = signed_in_with(gw.addr, "alice@acme.test", "Tablet Chrome").await;
    let form = laptop
        .send(
            Method::POST,
            "/_2fa/api/sessions/revoke-others",
            &[("content-type", "text/plain")],
            Bytes::new(),
        )
        .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let all = laptop
        .send_json(Method::POST, "/_2fa/api/sessions/revoke-others", json!({}))
        .await;
    assert_eq!(all.json()["revoked"], 2, "{}", all.text());
    assert!(!signed_in(&mut tablet).await);
    assert!(signed_in(&mut laptop).await, "this one stays");
    assert!(signed_in(&mut bob).await, "bob's stay");
    assert_eq!(sessions(&mut laptop).await.len(), 1);
    assert_eq!(common::metric(&gw.config, "tfa_sessions_revoked_total").await, 3);

    // The operator signs every session of hers out.
    let _another = signed_in_with(gw.addr, "alice@acme.test", "Another").await;
    let (admin, token) = common::admin_of(&gw.config);
    let r = Browser::new(admin)
        .send(
            Method::DELETE,
            "/admin/users/alice%40acme.test/sessions",
            &[("authorization", &format!("Bearer {token}"))],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["revoked"], 2);
    assert!(!signed_in(&mut laptop).await);
    assert!(signed_in(&mut bob).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_on_one_replica_is_listed_and_signed_out_from_another() {
    let c = common::cluster::cluster(2).await;
    let mut here = signed_in_with(c.addr(0), "alice@acme.test", "Here").await;
    let mut there = signed_in_with(c.addr(1), "alice@acme.test", "There").await;
    assert!(signed_in(&mut there).await);
    let list = sessions(&mut here).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let path = format!("/_2fa/api/sessions/{}", id_of(&list, "There"));
    let cookie = there.jar["dash_session"].clone();
    assert_eq!(
        here.send_json(Method::DELETE, &path, json!({})).await.status,
        StatusCode::OK
    );
    common::cluster::within_a_second(&c, &mut there, 1, StatusCode::UNAUTHORIZED, "signed out on replica 1").await;
    assert!(signed_out_at_dashboard(c.dashboard, &cookie).await);
}
