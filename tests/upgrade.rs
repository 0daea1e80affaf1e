//! Upgrading without a failed request: while clients keep asking a signed-in
//! path (some on keep-alive connections, as wrk does, some on a fresh
//! connection per request), a second `tfa-gateway run --upgrade` starts and
//! the running one is sent `SIGQUIT`. The listening sockets pass over, the
//! old process drains and lets go of the embedded store, the new one opens
//! it and serves the same sessions. Not one request may fail or get
//! anything but a 2xx, and the new process must have answered some. Both
//! processes speak systemd's notify protocol to a socket the test holds:
//! each says it is ready and the service's main process, so systemd follows
//! the service to the new process.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{signed_in_as, start_dashboard, with_settings, Gateway, StoreKind, BIN};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Clients at once, half on keep-alive connections: enough new connections
/// a second that one is nearly always being accepted when the old process
/// stops (the race `proxy::serving` closes).
const CLIENTS: usize = 16;

/// What the clients saw.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    /// Answers carrying the header the new configuration names.
    new_header: AtomicU64,
    failures: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }

    fn assert_none_failed(&self) {
        let failures = self.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "{} failed: {:?}",
            failures.len(),
            &failures[..failures.len().min(20)]
        );
    }
}

/// Asks `/echo/headers` as carol until told to stop. `keep_alive`: one
/// pooled client, as wrk; otherwise a fresh connection per request.
async fn client_loop(addr: SocketAddr, cookie: String, keep_alive: bool, tally: Arc<Tally>) {
    let mut pooled = None;
    while !tally.stop.load(Ordering::Relaxed) {
        let client = match (&pooled, keep_alive) {
            (Some(c), true) => Clone::clone(c),
            _ => {
                let c = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
                pooled = Some(c.clone());
                c
            }
        };
        let mut req = http::Request::get(format!("http://{addr}/echo/headers"))
            .header("cookie", &cookie)
            .header("accept", "application/json");
        if !keep_alive {
            req = req.header("connection", "close");
        }
        let req = req.body(Empty::new()).unwrap();
        match tokio::time::timeout(Duration::from_secs(30), client.request(req)).await {
            Err(_) => tally.fail("no answer within 30 s".into()),
            Ok(Err(e)) => tally.fail(format!("keep-alive {keep_alive}: {e:?}")),
            Ok(Ok(resp)) => {
                let status = resp.status();
                let seen = resp.headers().get("x-demo-user").cloned();
                match resp.into_body().collect().await {
                    Err(e) => tally.fail(format!("body: {e:?}")),
                    Ok(body) if status.is_success() && seen.as_ref().is_some_and(|u| u == "carol@globex.test") => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                        let echo = String::from_utf8_lossy(&body.to_bytes()).to_lowercase();
                        if echo.contains("x-tfa-who") {
                            tally.new_header.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(_) => tally.fail(format!("{status}, seen as {seen:?}")),
                }
            }
        }
    }
}

/// Sends carol's request on `stream` at `when`; returns the answer.
async fn late_request(mut stream: tokio::net::TcpStream, cookie: String, when: Instant) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    tokio::time::sleep_until(when.into()).await;
    let request = format!("GET /echo/headers HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n");
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return format!("not sent: {e}");
    }
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => String::from_utf8_lossy(&answer).into_owned(),
        Ok(Err(e)) => format!("{e} after {:?}", String::from_utf8_lossy(&answer)),
        Err(_) => "no answer".into(),
    }
}

/// The old process's exit, waited for.
fn wait_exit(child: &mut Child, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "the old process ended badly: {status:?}");
            return;
        }
        assert!(Instant::now() < deadline, "the old process did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// systemd's end of the notify protocol: what the processes said, in order.
fn notifications(socket: &std::os::unix::net::UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

/// Runs the load through an upgrade, with the configuration changed by
/// `new_settings` in between; returns the tally.
async fn upgrade_under_load(store: &StoreKind, dir: &Path, new_settings: &[(&str, &str)]) -> Arc<Tally> {
    let dashboard = start_dashboard();
    let notify_path = dir.join("notify.sock");
    let systemd = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    systemd.set_nonblocking(true).unwrap();
    let notify = ("NOTIFY_SOCKET", notify_path.to_str().unwrap());
    let mut old = Gateway::start_on_with_env(store, dashboard, dir, &[], &[notify]).await;
    let carol = signed_in_as(old.addr, "carol@globex.test").await;
    let cookie = carol.cookie_header().expect("carol's cookies");
    if !new_settings.is_empty() {
        let text = std::fs::read_to_string(&old.config).unwrap();
        std::fs::write(&old.config, with_settings(&text, new_settings)).unwrap();
    }

    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client_loop(old.addr, cookie.clone(), i % 2 == 0, tally.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let new = Command::new(BIN)
        .args(["run", "--upgrade", "--config"])
        .arg(&old.config)
        .env("RUST_LOG", "warn")
        .env(notify.0, notify.1)
        .spawn()
        .expect("start the new process");
    // Stopped with the test, whatever happens.
    let new = Gateway {
        child: new,
        addr: old.addr,
        config: old.config.clone(),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A connection the old process accepted, whose request comes just after
    // that process stopped accepting (5 s after SIGQUIT): still answered.
    let late = tokio::net::TcpStream::connect(old.addr).await.unwrap();
    let old_pid = old.child.id();
    let pid = old_pid.to_string();
    // Timed from just before the signal: the old process keeps reading
    // until 5.5 s after it (close timeout 5 s, then LINGER), and a slow
    // `kill` must not eat into that.
    let quit = Instant::now();
    assert!(Command::new("kill").args(["-QUIT", &pid]).status().unwrap().success());
    let late = tokio::spawn(late_request(late, cookie.clone(), quit + Duration::from_millis(5_100)));
    let at_quit = tally.ok.load(Ordering::Relaxed);
    tokio::task::spawn_blocking(move || wait_exit(&mut old.child, Duration::from_secs(30)))
        .await
        .unwrap();
    let at_exit = tally.ok.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    tally.stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let late = late.await.unwrap();
    assert!(late.starts_with("HTTP/1.1 200"), "the late request: {late}");
    assert!(late.to_lowercase().contains("connection: close"), "{late}");
    let after = tally.ok.load(Ordering::Relaxed) - at_exit;
    println!(
        "answered: {at_quit} before SIGQUIT, {} during the hand-over, {after} by the new process alone",
        at_exit - at_quit
    );
    assert!(after > 50, "the new process answered only {after}");
    let said = notifications(&systemd);
    let ready = |pid: u32| format!("MAINPID={pid}\nREADY=1\n");
    assert_eq!(said, [ready(old_pid), ready(new.child.id())], "what systemd heard");
    drop(new);
    tally
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_under_load_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let tally = upgrade_under_load(&StoreKind::Sled, dir.path(), &[]).await;
    tally.assert_none_failed();
}

/// The same with a changed configuration: the answers show the new one.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_with_a_changed_configuration_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let tally = upgrade_under_load(&StoreKind::Sled, dir.path(), &[("user_header", "\"X-Tfa-Who\"")]).await;
    tally.assert_none_failed();
    assert!(
        tally.new_header.load(Ordering::Relaxed) > 50,
        "the new configuration is in effect"
    );
}

/// With PostgreSQL nothing is locked: the new process serves as soon as it
/// has the sockets, beside the old one.
#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_on_postgres_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let tally = upgrade_under_load(&StoreKind::postgres(), dir.path(), &[]).await;
    tally.assert_none_failed();
}
