//! The gateway in front of the unchanged demo dashboard, over real sockets:
//! sign-in, the dashboard as before, cookie and header hygiene, sign-out,
//! WebSockets, restarts.

mod common;

use bytes::Bytes;
use common::{start_dashboard, Browser, Gateway};
use futures_util::{SinkExt, StreamExt};
use http::{Method, StatusCode};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

async fn gateway() -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    (gw, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn bob_signs_in_and_sees_his_dashboard_and_api() {
    let (gw, _dir) = gateway().await;
    let mut bob = Browser::new(gw.addr);

    let form = bob.get("/login").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text().contains("name=\"password\""), "{}", form.text());

    let login = bob.login("bob@acme.test", "bob-password").await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(login.header("location"), Some("/"));
    let cookies = login.set_cookies().join("\n");
    assert!(cookies.contains("dash_session="), "upstream cookie released: {cookies}");
    assert!(cookies.contains("tfa_session="), "gateway session started: {cookies}");
    let ours = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("tfa_session="))
        .unwrap();
    assert!(ours.contains("HttpOnly") && ours.contains("SameSite=Lax"), "{ours}");
    assert!(!ours.contains("Secure"), "the demo runs on plain HTTP: {ours}");

    let page = bob.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Signed in as bob@acme.test"), "{}", page.text());

    let me = bob.get_with("/api/me", &[("accept", "application/json")]).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], "bob@acme.test");
    assert_eq!(me.json()["accounts"][0]["role"], "member");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_gets_the_upstreams_401_and_no_session() {
    let (gw, _dir) = gateway().await;
    let mut b = Browser::new(gw.addr);
    let r = b.login("bob@acme.test", "guess").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
    assert!(b.jar.is_empty());
    assert_eq!(b.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread")]
async fn invented_upstream_cookie_reaches_the_upstream_stripped() {
    let (gw, _dir) = gateway().await;
    let mut b = Browser::new(gw.addr);
    b.jar.insert("dash_session".into(), "invented-by-the-client".into());
    b.jar.insert("theme".into(), "dark".into());
    let echo = b.get("/echo/headers").await.json();
    assert_eq!(echo["cookie"], "theme=dark", "{echo}");

    let me = b.get_with("/api/me", &[("accept", "application/json")]).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn stolen_upstream_cookie_without_its_gateway_session_is_stripped() {
    let (gw, _dir) = gateway().await;
    let mut bob = Browser::new(gw.addr);
    bob.login("bob@acme.test", "bob-password").await;
    let mut thief = Browser::new(gw.addr);
    thief.jar.insert("dash_session".into(), bob.jar["dash_session"].clone());
    assert_eq!(
        thief.get("/").await.status,
        StatusCode::SEE_OTHER,
        "upstream must see the thief signed out"
    );

    // Bob's gateway session with someone else's upstream cookie is no better.
    let mut mixed = Browser::new(gw.addr);
    mixed.jar.insert("tfa_session".into(), bob.jar["tfa_session"].clone());
    mixed.jar.insert("dash_session".into(), "forged".into());
    let echo = mixed.get("/echo/headers").await.json();
    assert_eq!(echo["cookie"], serde_json::Value::Null, "{echo}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_cookie_and_client_identity_header_never_reach_the_upstream() {
    let (gw, _dir) = gateway().await;
    let mut bob = Browser::new(gw.addr);
    bob.login("bob@acme.test", "bob-password").await;
    let echo = bob
        .get_with(
            "/echo/headers",
            &[("x-tfa-user", "u-alice"), ("x-forwarded-for", "10.9.9.9")],
        )
        .await
        .json();
    let cookie = echo["cookie"].as_str().unwrap_or_default();
    assert!(!cookie.contains("tfa_session"), "{cookie}");
    assert!(cookie.contains("dash_session="), "{cookie}");
    assert_eq!(
        echo["headers"]["x-tfa-user"], "u-bob",
        "the gateway sets it, the client cannot"
    );
    assert_eq!(echo["headers"]["x-forwarded-for"], "127.0.0.1");

    let mut anonymous = Browser::new(gw.addr);
    let echo = anonymous
        .get_with("/echo/headers", &[("x-tfa-user", "u-alice")])
        .await
        .json();
    assert_eq!(echo["headers"]["x-tfa-user"], serde_json::Value::Null, "{echo}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_both_sessions() {
    let (gw, _dir) = gateway().await;
    let mut bob = Browser::new(gw.addr);
    bob.login("bob@acme.test", "bob-password").await;
    let before = bob.clone();

    let out = bob.send(Method::POST, "/logout", &[], Bytes::new()).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let cleared = out.set_cookies().join("\n");
    assert!(cleared.contains("tfa_session=; Max-Age=0"), "{cleared}");
    assert!(bob.jar.is_empty(), "{:?}", bob.jar);

    // Replaying the old cookies: the gateway no longer forwards the upstream
    // cookie at all, and the upstream has ended its session too.
    let mut replay = before.clone();
    let echo = replay.get("/echo/headers").await.json();
    assert_eq!(echo["cookie"], serde_json::Value::Null, "{echo}");
    assert_eq!(replay.get("/").await.status, StatusCode::SEE_OTHER);
}

/// The demo dashboard's echo WebSocket through the gateway, with `b`'s cookies.
async fn open_websocket(
    addr: std::net::SocketAddr,
    b: &Browser,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::handshake::client::Response,
) {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", b.cookie_header().unwrap().parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket through the gateway")
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_echo_works_through_the_gateway_when_signed_in() {
    let (gw, _dir) = gateway().await;
    let mut bob = Browser::new(gw.addr);
    bob.login("bob@acme.test", "bob-password").await;

    let (mut ws, resp) = open_websocket(gw.addr, &bob).await;
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::Text("hello through the gateway".into()))
        .await
        .unwrap();
    let echoed = ws.next().await.expect("an echo").expect("a message");
    assert_eq!(echoed, Message::Text("hello through the gateway".into()));
    ws.close(None).await.ok();

    let anonymous = format!("ws://{}/ws", gw.addr).into_client_request().unwrap();
    match tokio_tungstenite::connect_async(anonymous).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), StatusCode::UNAUTHORIZED),
        other => panic!("expected a 401 for a signed-out WebSocket, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_ends_with_its_session() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (addr, data) = (common::free_addr(), dir.path().join("data"));
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, common::config_text(addr, start_dashboard(), &data)).unwrap();
    common::write_secrets(&data);
    let log = dir.path().join("stderr.log");
    let file = std::fs::File::create(&log).unwrap();
    let gw = Gateway::start_logging(addr, config, file.into(), &[("RUST_LOG", "info")]).await;
    let mut bob = Browser::new(gw.addr);
    bob.login("bob@acme.test", "bob-password").await;
    let (mut ws, _) = open_websocket(gw.addr, &bob).await;
    ws.send(Message::Text("before".into())).await.unwrap();
    let echoed = ws.next().await.expect("an echo").expect("a message");
    assert_eq!(echoed, Message::Text("before".into()));

    // bob signs out in another tab. The dashboard's echo does not check its
    // session again once open: only the gateway can end the tunnel.
    let mut tab = bob.clone();
    let out = tab.send(Method::POST, "/logout", &[], Bytes::new()).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let _ = ws.send(Message::Text("after".into())).await;
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("the tunnel ends within 5 s");
    assert!(
        !matches!(next, Some(Ok(Message::Text(_)))),
        "a frame passed after the session ended: {next:?}"
    );
    drop(gw);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("tunnel_ended"), "its access line says why:\n{log}");
    assert!(!log.contains("Fail to proxy"), "an ended tunnel is no failure:\n{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_survive_a_crash_and_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let dashboard = start_dashboard();
    let gw = Gateway::start(dashboard, dir.path()).await;
    let mut bob = Browser::new(gw.addr);
    bob.login("bob@acme.test", "bob-password").await;
    assert_eq!(bob.get("/").await.status, StatusCode::OK);

    let (addr, config) = gw.crash();
    let gw = Gateway::start_with(addr, config).await;
    let page = bob.get("/").await;
    assert_eq!(page.status, StatusCode::OK, "session lost in a crash: {}", page.text());

    let (addr, config) = (gw.addr, gw.config.clone());
    let status = gw.stop();
    assert!(status.success(), "SIGTERM should end the gateway cleanly: {status:?}");
    let gw = Gateway::start_with(addr, config).await;
    assert!(bob.get("/").await.text().contains("Signed in as bob@acme.test"));
    drop(gw);
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_upstream_gets_a_clear_502() {
    let dir = tempfile::tempdir().unwrap();
    let nothing_there = common::free_addr();
    let gw = Gateway::start(nothing_there, dir.path()).await;
    let mut b = Browser::new(gw.addr);
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(page.text().contains("not reachable"), "{}", page.text());
    let api = b.get_with("/api/me", &[("accept", "application/json")]).await;
    assert_eq!(api.status, StatusCode::BAD_GATEWAY);
    assert_eq!(api.json()["error"], "upstream_unavailable");
    let login = b.login("bob@acme.test", "bob-password").await;
    assert_eq!(login.status, StatusCode::BAD_GATEWAY);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_gateway_path_is_a_404_of_ours() {
    let (gw, _dir) = gateway().await;
    let mut b = Browser::new(gw.addr);
    let r = b.get_with("/_2fa/nope", &[("accept", "application/json")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], "not_found");
}
