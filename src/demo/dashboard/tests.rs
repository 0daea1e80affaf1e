//! Unit tests of the demo dashboard's routes, and one over a real socket.
use super::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

fn call(state: &State, method: Method, path: &str, cookie: &str, body: &str) -> Resp {
    let mut headers = HeaderMap::new();
    if !cookie.is_empty() {
        headers.insert(COOKIE, cookie.parse().expect("valid test header"));
    }
    route(state, &method, path, &headers, Bytes::from(body.to_owned()))
}

async fn body_text(resp: Resp) -> String {
    let bytes = resp.into_body().collect().await.expect("Full never fails");
    String::from_utf8(bytes.to_bytes().to_vec()).expect("utf-8 body")
}

async fn body_json(resp: Resp) -> serde_json::Value {
    serde_json::from_str(&body_text(resp).await).expect("json body")
}

/// Logs in and returns the `name=value` part of the session cookie.
fn login_cookie(state: &State, form: &str) -> String {
    let resp = call(state, Method::POST, "/login", "", form);
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/");
    let set_cookie = resp.headers()[SET_COOKIE].to_str().expect("ascii");
    assert!(set_cookie.starts_with("dash_session=") && set_cookie.ends_with("; HttpOnly; Path=/"));
    set_cookie.split(';').next().expect("name=value").to_owned()
}

#[test]
fn form_decoder_handles_plus_and_percent() {
    let form = parse_form(b"email=Bob%40acme.test&password=x+y&email=other");
    assert_eq!(form["email"], "Bob@acme.test");
    assert_eq!(form["password"], "x y");
}

#[tokio::test]
async fn login_with_right_password_sets_session_cookie() {
    let state = State::default();
    let cookie = login_cookie(&state, "email=+BOB%40acme.test+&password=bob-password");
    let home = call(&state, Method::GET, "/", &cookie, "");
    assert_eq!(home.status(), StatusCode::OK);
    assert!(body_text(home).await.contains("Signed in as bob@acme.test"));
}

#[tokio::test]
async fn every_signed_in_page_shows_the_user_and_the_way_to_the_security_settings() {
    let state = State::default();
    let cookie = login_cookie(&state, "email=bob%40acme.test&password=bob-password");
    for path in ["/", "/projects", "/team"] {
        let page = call(&state, Method::GET, path, &cookie, "");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        let page = body_text(page).await;
        assert!(
            page.contains("<span class=\"who\">bob@acme.test · Acme Inc.</span>"),
            "{path}: {page}"
        );
        assert!(
            page.contains("<a href=\"/_2fa/settings\">Security settings</a>"),
            "{path}: {page}"
        );
        assert_eq!(page.matches(">Sign out</button>").count(), 1, "{path}");
        let signed_out = call(&state, Method::GET, path, "", "");
        assert_eq!(signed_out.headers()[LOCATION], "/login", "{path}");
    }
    let team = body_text(call(&state, Method::GET, "/team", &cookie, "")).await;
    assert!(team.contains("alice@acme.test") && !team.contains("globex"), "{team}");
}

#[tokio::test]
async fn login_with_wrong_password_is_rejected_with_the_form_again() {
    let state = State::default();
    let form = "email=bob%40acme.test&password=alice-password";
    assert_eq!(
        call(&state, Method::POST, "/login", "", form).status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = call(&state, Method::POST, "/login", "", "email=%3Cb%3E&password=x");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get(SET_COOKIE).is_none());
    let page = body_text(resp).await;
    assert!(page.contains("email or password is wrong") && page.contains("action=\"/login\""));
    assert!(page.contains("&lt;b&gt;") && !page.contains("<b>"));
}

#[tokio::test]
async fn first_valid_session_cookie_among_several_wins() {
    let state = State::default();
    let cookie = login_cookie(&state, "email=carol%40globex.test&password=carol-password");
    let header = format!("a=1; dash_session=stale; {cookie}; dash_session=also-stale");
    let me = body_json(call(&state, Method::GET, "/api/me", &header, "")).await;
    let expected = serde_json::json!({"id": "u-carol", "email": "carol@globex.test",
        "accounts": [{"id": "globex", "name": "Globex Corp.", "role": "owner"}], "has_password": true});
    assert_eq!(me, expected);
}

#[test]
fn logout_ends_the_session_on_the_server() {
    let state = State::default();
    let cookie = login_cookie(&state, "email=alice%40acme.test&password=alice-password");
    let out = call(&state, Method::POST, "/logout", &cookie, "");
    assert_eq!(out.headers()[LOCATION], "/login");
    assert_eq!(out.headers()[SET_COOKIE], "dash_session=; Max-Age=0; HttpOnly; Path=/");
    let home = call(&state, Method::GET, "/", &cookie, "");
    assert_eq!(home.headers()[LOCATION], "/login");
    let me = call(&state, Method::GET, "/api/me", &cookie, "");
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn echo_headers_reports_the_raw_cookie_and_unknown_paths_are_404() {
    let state = State::default();
    let echoed = body_json(call(&state, Method::GET, "/echo/headers", "a=1; b=2", "")).await;
    assert_eq!(echoed["cookie"], "a=1; b=2");
    assert_eq!(echoed["headers"]["cookie"], "a=1; b=2");
    let echoed = body_json(call(&state, Method::GET, "/echo/headers", "", "")).await;
    assert!(echoed["cookie"].is_null());
    let missing = call(&state, Method::GET, "/nope", "", "");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn websocket_echoes_for_signed_in_users_and_refuses_others() {
    use tokio::net::TcpStream;
    let (addr, cookie, _) = signed_in_at_a_dashboard("email=dave%40globex.test&password=dave-password").await;

    let url = format!("ws://{addr}/ws");
    let anonymous = url.as_str().into_client_request().expect("request");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    match tokio_tungstenite::client_async(anonymous, tcp).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED)
        }
        other => panic!("expected 401, got {other:?}"),
    }

    let mut request = url.as_str().into_client_request().expect("request");
    request.headers_mut().insert(COOKIE, cookie.parse().expect("header"));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(request, tcp).await.expect("upgrade");
    let exchanges = [
        (Message::Text("hello".into()), Message::Text("hello".into())),
        (Message::Binary(vec![1, 2, 3]), Message::Binary(vec![1, 2, 3])),
        (Message::Ping(vec![9]), Message::Pong(vec![9])),
    ];
    for (sent, expected) in exchanges {
        ws.send(sent).await.expect("send");
        assert_eq!(ws.next().await.expect("reply").expect("ok"), expected);
    }
    ws.close(None).await.expect("close");
}

/// Sends one raw request and reads at least the answer's head (hyper writes
/// header names in lower case).
async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut out = vec![0u8; 16 * 1024];
    let mut len = 0;
    while !String::from_utf8_lossy(&out[..len]).contains("\r\n\r\n") {
        match tcp.read(&mut out[len..]).await.expect("read") {
            0 => break,
            n => len += n,
        }
    }
    String::from_utf8_lossy(&out[..len]).into_owned()
}

/// A dashboard on a free port, signed in to with the sign-in `form`:
/// its address, the session cookie (`dash_session=…`) and the raw answer.
async fn signed_in_at_a_dashboard(form: &str) -> (std::net::SocketAddr, String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener));
    let login = exchange(
        addr,
        &format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
    .await;
    let set_cookie = login.lines().find_map(|l| l.strip_prefix("set-cookie: "));
    let cookie = set_cookie
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_string();
    (addr, cookie, login)
}

#[tokio::test]
async fn every_answer_to_a_signed_in_request_names_the_user_it_saw() {
    let (addr, cookie, login) = signed_in_at_a_dashboard("email=bob%40acme.test&password=bob-password").await;
    assert!(!login.contains("x-demo-user"), "the sign-in itself carried no session");

    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13";
    for (head, status) in [
        ("GET /", "200"),
        ("HEAD /", "404"),
        ("GET /nope/../api/me", "404"),
        ("DELETE /api/me", "404"),
        ("POST /", "404"),
        ("OPTIONS *", "404"),
        ("GET /ws", "101"),
        ("POST /logout", "303"),
    ] {
        let extra = if head == "GET /ws" {
            upgrade
        } else {
            "Content-Length: 0"
        };
        let request = format!("{head} HTTP/1.1\r\nHost: x\r\nCookie: a=1; {cookie}\r\n{extra}\r\n\r\n");
        let signed_in = exchange(addr, &request).await;
        assert!(
            signed_in.starts_with(&format!("HTTP/1.1 {status}")),
            "{head}: {signed_in}"
        );
        assert!(
            signed_in.contains("\r\nx-demo-user: bob@acme.test\r\n"),
            "{head}: {signed_in}"
        );
    }
    let signed_out = exchange(addr, &format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n")).await;
    assert!(signed_out.starts_with("HTTP/1.1 303"), "{signed_out}");
    assert!(!signed_out.contains("x-demo-user"), "the session ended: {signed_out}");
}

#[test]
fn a_user_without_a_password_cannot_sign_in_with_an_empty_one() {
    let state = State::default();
    let r = call(&state, Method::POST, "/login", "", "email=erin%40acme.test&password=");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// "Sign in again" comes back where it started: through the form, and
/// through single sign-on, where `next` travels with the ticket.
#[tokio::test]
async fn sign_in_goes_to_a_local_next_and_never_off_site() {
    let state = State::default();
    for (next, lands) in [
        ("%2F_2fa%2Fsettings", "/_2fa/settings"),
        ("%2F%2Fevil.test", "/"),
        ("https%3A%2F%2Fevil.test", "/"),
        ("%2F%5Cevil.test", "/"),
    ] {
        let form = format!("email=bob%40acme.test&password=bob-password&next={next}");
        let r = call(&state, Method::POST, "/login", "", &form);
        assert_eq!(r.headers()[LOCATION], lands, "form, next={next}");

        let start = sso::start(&state, Some(&format!("email=erin%40acme.test&next={next}")));
        let to_callback = start.headers()[LOCATION].to_str().expect("ascii").to_owned();
        assert!(!to_callback.contains("evil"), "{to_callback}");
        let query = to_callback.split_once('?').map(|(_, q)| q);
        let done = sso::callback(&state, query);
        assert_eq!(done.headers()[LOCATION], lands, "sso, next={next}");
        assert!(done.headers().contains_key(SET_COOKIE));
    }
    let page = body_text(html(StatusCode::OK, login_page(None, "", "/_2fa/settings\"><b>"))).await;
    assert_eq!(
        page.matches("name=\"next\" value=\"/_2fa/settings&quot;&gt;&lt;b&gt;\"")
            .count(),
        2,
        "{page}"
    );
}
