//! What reaches the log when a request cannot be read. Pingora describes a
//! malformed request in its errors, raw bytes included; here such requests
//! carry the admin token, both session cookies, a query string and a
//! password, and go raw to every listener (plain HTTP, TLS, admin). None of
//! those secrets may reach standard error, in text or JSON, even at `trace`,
//! while the bad requests themselves are still logged.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{admin_of, config_text, free_addr, start_dashboard, tls_listener, with_listeners, Gateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GATEWAY_TOKEN: &str = "SecretGatewayToken4242";
const DASHBOARD_COOKIE: &str = "SecretDashboardCookie4242";
const QUERY_CODE: &str = "SecretQueryCode4242";
const PASSWORD: &str = "SecretPassword4242";

/// How many of `requests` Pingora refuses before the head is read.
const UNREADABLE_HEADS: usize = 6;

/// Whether a log line holds `secret` as text, as a list of characters
/// (`'S', 'e', …`) or as a list of bytes (`83, 101, …`).
fn holds(line: &str, secret: &str) -> bool {
    let letters = |s: &str| s.chars().filter(char::is_ascii_alphanumeric).collect::<String>();
    let bytes = secret.bytes().map(|b| b.to_string()).collect::<Vec<_>>().join(", ");
    line.contains(secret) || letters(line).contains(&letters(secret)) || line.contains(&bytes)
}

/// Requests Pingora cannot read (and two it can), each carrying every
/// secret a browser or an operator sends.
fn requests(admin_token: &str) -> Vec<(&'static str, Vec<u8>)> {
    let secrets = format!(
        "Host: gw.test\r\nAuthorization: Bearer {admin_token}\r\n\
         Cookie: tfa_session={GATEWAY_TOKEN}; dash_session={DASHBOARD_COOKIE}\r\nConnection: close\r\n"
    );
    let get = format!("GET /?code={QUERY_CODE} HTTP/1.1\r\n{secrets}");
    let many: String = (0..300).map(|i| format!("X-N{i}: n\r\n")).collect();
    let big = "a".repeat(1 << 20);
    let form = format!("email=alice%40acme.test&password={PASSWORD}");
    let chunked = |tail: &str| {
        format!(
            "POST /login?code={QUERY_CODE} HTTP/1.1\r\n{secrets}Transfer-Encoding: chunked\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\r\n{:x}\r\n{form}\r\n{tail}",
            form.len()
        )
    };
    vec![
        ("a NUL byte in a header", format!("{get}X-Note: a\0b\r\n\r\n")),
        ("an invalid header name", format!("{get}Bad Name: x\r\n\r\n")),
        (
            "a bad request line",
            format!("GET /?code={QUERY_CODE} HTTP/1.1 extra\r\n{secrets}\r\n"),
        ),
        (
            "a control byte in the method",
            format!("G\x01T /?code={QUERY_CODE} HTTP/1.1\r\n{secrets}\r\n"),
        ),
        ("too many headers", format!("{get}{many}\r\n")),
        ("an oversized header", format!("{get}X-Big: {big}\r\n\r\n")),
        ("an invalid chunk size", chunked("zz\r\n\r\n")),
        ("a chunk without its line end", chunked("5\r\nabcdefgh\r\n0\r\n\r\n")),
        ("a well-formed request", format!("{get}\r\n")),
        ("a well-formed sign-in", chunked("0\r\n\r\n")),
    ]
    .into_iter()
    .map(|(what, text)| (what, text.into_bytes()))
    .collect()
}

/// Sends `bytes` on a new connection and reads until the gateway closes it
/// (or a few seconds pass): the request has then been read and logged.
async fn send_plain(addr: SocketAddr, bytes: &[u8]) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The gateway may answer and close before reading all of a request.
    let _ = stream.write_all(bytes).await;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut sink)).await;
}

/// The same over TLS, with `openssl s_client` as the client.
fn send_tls(addr: SocketAddr, bytes: &[u8]) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl is installed");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(bytes);
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().expect("wait for openssl").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A gateway with a plain and a TLS listener and the admin API, logging
/// everything in `format` to a file; returns it, its TLS address and its log.
async fn gateway(dir: &Path, format: &str) -> (Gateway, SocketAddr, std::path::PathBuf) {
    let (addr, tls) = (free_addr(), free_addr());
    let text = config_text(addr, start_dashboard(), &dir.join("data"));
    let listeners = [format!("{{ address = \"{addr}\" }}"), tls_listener(tls, dir)];
    let text = with_listeners(&text, addr, &listeners);
    common::write_secrets(&dir.join("data"));
    let config = dir.join("gateway.toml");
    std::fs::write(&config, text).expect("write config");
    let log = dir.join("stderr.log");
    let file = std::fs::File::create(&log).expect("create the log file");
    let gw = Gateway::start_log_format(addr, config, format, file.into(), &[("RUST_LOG", "trace")]).await;
    (gw, tls, log)
}

async fn no_secret_is_logged_for_malformed_requests(format: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (gw, tls, log) = gateway(dir.path(), format).await;
    let (admin, admin_token) = admin_of(&gw.config);
    for (what, bytes) in requests(&admin_token) {
        for listener in [gw.addr, admin] {
            send_plain(listener, &bytes).await;
        }
        let bytes = bytes.clone();
        tokio::task::spawn_blocking(move || send_tls(tls, &bytes))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    drop(gw);
    let logged = std::fs::read_to_string(&log).expect("read the log");
    for secret in [
        admin_token.as_str(),
        GATEWAY_TOKEN,
        DASHBOARD_COOKIE,
        QUERY_CODE,
        PASSWORD,
    ] {
        if let Some(line) = logged.lines().find(|l| holds(l, secret)) {
            panic!("the {format} log holds {secret}: {line}");
        }
    }
    let bad: Vec<&str> = logged.lines().filter(|l| l.contains("InvalidHTTPHeader")).collect();
    let from_admin = bad.iter().filter(|l| l.contains("HTTP server fails to read")).count();
    let from_proxy = bad.iter().filter(|l| l.contains("Fail to proxy: Downstream")).count();
    assert_eq!(
        from_admin, UNREADABLE_HEADS,
        "each bad request to the admin listener is logged: {bad:#?}"
    );
    assert_eq!(
        from_proxy,
        2 * UNREADABLE_HEADS,
        "each to the plain and TLS listeners: {bad:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_leave_no_credential_in_the_text_log() {
    no_secret_is_logged_for_malformed_requests("text").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_leave_no_credential_in_the_json_log() {
    no_secret_is_logged_for_malformed_requests("json").await;
}
