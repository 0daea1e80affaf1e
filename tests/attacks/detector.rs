//! Sending an attack as raw bytes, and telling from the answer whether it
//! reached the demo dashboard as someone. The dashboard names the user it saw
//! in `X-Demo-User` on every answer (any route, any method, 404s, `HEAD`, the
//! WebSocket's `101`), so a forwarded session cookie shows whatever the route
//! answered; its home page and `/api/me` body say it too.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One request as written on the wire, and where it is sent.
pub struct Attack {
    pub name: String,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Sends raw bytes and reads all the answers that come within a short time.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(Duration::from_millis(400), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The user named by an `X-Demo-User` header (any case) in any of the answers.
pub fn header_user(answer: &str) -> Option<String> {
    answer.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("x-demo-user")
            .then(|| value.trim().to_string())
    })
}

/// The user named by the dashboard's home page or `/api/me` JSON. The
/// gateway's own settings page says `<p>Signed in as <strong>`, which is not
/// the dashboard's, so a name must follow the words directly.
pub fn body_user(answer: &str) -> Option<String> {
    [("<p>Signed in as ", '<'), ("\"email\":\"", '"')]
        .iter()
        .find_map(|(needle, end)| {
            let (_, rest) = answer.split_once(needle)?;
            let name = rest.split(*end).next()?;
            (!name.is_empty()).then(|| name.to_string())
        })
}

/// Whom the dashboard served this answer to, if anyone.
pub fn seen_as(answer: &str) -> Option<String> {
    header_user(answer).or_else(|| body_user(answer))
}

/// Sends every attack, a few at a time, and returns those that reached the
/// dashboard as someone, with whom.
pub async fn leaks(attacks: &[Attack]) -> Vec<String> {
    found(attacks, |answer| seen_as(answer).map(|user| format!("as {user}"))).await
}

/// Sends every attack, a few at a time, and returns the name of each whose
/// answer `judge` finds something in, with what it found.
async fn found(attacks: &[Attack], judge: fn(&str) -> Option<String>) -> Vec<String> {
    futures_util::stream::iter(attacks)
        .map(|a| async move { judge(&raw(a.to, &a.bytes).await).map(|what| format!("{} ({what})", a.name)) })
        .buffer_unordered(8)
        .filter_map(|leak| async move { leak })
        .collect()
        .await
}

/// What of the client's own making the dashboard's header echo shows: a
/// header carrying a forged mark (user, address or path: the gateway must
/// have removed or replaced every header that can carry one), or a session
/// cookie in another spelling or hidden in another pair.
pub fn forged_in_echo(answer: &str) -> Option<String> {
    let body = answer.split_once("\r\n\r\n")?.1;
    let echo: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    for (name, value) in echo["headers"].as_object()? {
        let value = value.as_str().unwrap_or_default();
        let forged = value.contains(super::catalogue::FORGED_USER) || value.contains(super::catalogue::FORGED_ADDRESS);
        // Any header at all with a mark: the gateway writes none of them.
        if forged {
            return Some(format!("header {name}: {value}"));
        }
    }
    let cookie = echo["cookie"].as_str().unwrap_or_default();
    for pair in cookie.split(';') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = name.trim();
        let session = ["dash_session", "tfa_session", "tfa_device"];
        let read_as = |s: &&str| tfa_gateway::lookalike::cookie_read_as(name, value, s);
        if session.iter().any(read_as) && (name != "dash_session" || value.contains([' ', '\t'])) {
            return Some(format!("cookie {}", pair.trim()));
        }
    }
    None
}

/// Sends every attack and returns those whose answer shows a forgery at
/// the dashboard (`forged_in_echo`).
pub async fn forgeries(attacks: &[Attack]) -> Vec<String> {
    found(attacks, forged_in_echo).await
}
