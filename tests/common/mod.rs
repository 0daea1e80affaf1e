//! Test harness: the real gateway binary as a child process, the demo
//! dashboard on a free loopback port, and a small cookie-keeping HTTP client
//! that never follows redirects, so tests see exactly what a browser would.
#![allow(dead_code)]

pub mod api;
pub mod cluster;
pub mod crowd;
pub mod nginx;
pub mod pg;
pub mod recorder;
pub mod soft_key;
pub mod tools;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

pub const BIN: &str = env!("CARGO_BIN_EXE_tfa-gateway");

/// A free loopback port below Linux's ephemeral range (32768-60999), so
/// that no outgoing connection or port-0 listener can take it between this
/// check and the gateway's bind; a counter keeps picks apart in one process.
pub fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id().wrapping_mul(7919);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (base.wrapping_add(n.wrapping_mul(7)) % 12_000) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return l.local_addr().expect("local addr");
        }
    }
}

/// The demo dashboard, served from this test process on its own runtime.
pub fn start_dashboard() -> SocketAddr {
    tfa_gateway::demo::start_dashboard().expect("start the demo dashboard")
}

/// A configuration for `run`, pointing at `upstream`.
pub fn config_text(listen: SocketAddr, upstream: SocketAddr, data_dir: &Path) -> String {
    // Quoted, so an address put in by one replacement (port 30001, say) is
    // not matched again by the next ("127.0.0.1:3000").
    let quoted = |a: SocketAddr| format!("\"{a}\"");
    tfa_gateway::demo::DEMO_CONFIG
        .replace("\"127.0.0.1:9090\"", &quoted(free_addr()))
        .replace("\"127.0.0.1:8080\"", &quoted(listen))
        .replace("\"127.0.0.1:3000\"", &quoted(upstream))
        .replace("/tmp/tfa-gateway-demo", &data_dir.display().to_string())
        .replace(
            "\"http://localhost:8080\"",
            &format!("\"http://localhost:{}\"", listen.port()),
        )
}

/// A listener entry for `addr` with TLS, under a self-signed certificate
/// for 127.0.0.1 that `openssl` makes in `dir`.
pub fn tls_listener(addr: SocketAddr, dir: &Path) -> String {
    let (cert, key) = tools::self_signed_cert(dir);
    format!(
        "{{ address = \"{addr}\", tls = {{ certificate = \"{}\", key = \"{}\" }} }}",
        cert.display(),
        key.display()
    )
}

/// `config_text` with the plain listener replaced by `listeners`.
pub fn with_listeners(text: &str, listen: SocketAddr, listeners: &[String]) -> String {
    let plain = format!("listen = [{{ address = \"{listen}\" }}]");
    assert!(text.contains(&plain), "listener line not found in the demo config");
    text.replace(&plain, &format!("listen = [{}]", listeners.join(", ")))
}

/// `text` with each `(key, value)` of `settings` set: the one line that
/// starts `key =` becomes `key = value`. Keys must appear in the demo
/// configuration exactly once (`idle_timeout_seconds`, `threads`, ...), so a
/// typo or an ambiguous key fails the test instead of changing nothing.
pub fn with_settings(text: &str, settings: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (key, value) in settings {
        let prefix = format!("{key} =");
        let at: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim_start().starts_with(&prefix))
            .collect();
        assert_eq!(at.len(), 1, "{key} must be in the demo configuration once");
        lines[at[0]] = format!("{key} = {value}");
    }
    lines.join("\n") + "\n"
}

/// Signs `email` in at `addr` (the gateway, or the dashboard itself) with
/// the demo's password for them, expecting the sign-in to be accepted.
pub async fn signed_in_as(addr: SocketAddr, email: &str) -> Browser {
    let mut b = Browser::new(addr);
    let password = format!("{}-password", email.split('@').next().unwrap_or_default());
    let r = b.login(email, &password).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{email}: {}", r.text());
    b
}

/// The key and admin token a gateway configured by `config_text` reads.
pub fn write_secrets(data_dir: &Path) {
    let env = tfa_gateway::env::Env::real();
    tfa_gateway::demo::ensure_key(data_dir, &env).expect("write a key");
    tfa_gateway::demo::ensure_admin_token(data_dir, &env).expect("write an admin token");
}

/// The admin API address and token of a gateway configured by `config_text`.
pub fn admin_of(config: &Path) -> (SocketAddr, String) {
    let c = tfa_gateway::config::Config::load(config).expect("config");
    let a = c.admin.expect("an [admin] section");
    (a.listen, tfa_gateway::admin::read_token(&a.token_file).expect("token"))
}

/// A number from the admin API's `/metrics` of the gateway configured by
/// `config`; `None` if the line is missing.
pub async fn try_metric(config: &Path, name: &str) -> Option<u64> {
    let (addr, token) = admin_of(config);
    let auth = format!("Bearer {token}");
    let text = Browser::new(addr)
        .get_with("/metrics", &[("authorization", &auth)])
        .await
        .text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// `try_metric`, for a line that must be there.
pub async fn metric(config: &Path, name: &str) -> u64 {
    try_metric(config, name)
        .await
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Whether the dashboard itself still takes `cookie` as a signed-in session.
pub async fn alive_at_dashboard(dashboard: SocketAddr, cookie: &str) -> bool {
    let r = Browser::new(dashboard)
        .get_with("/", &[("cookie", &format!("dash_session={cookie}"))])
        .await;
    r.header("x-demo-user").is_some()
}

/// Waits for the gateway's background sign-out of `cookie` at the dashboard.
pub async fn signed_out_at_dashboard(dashboard: SocketAddr, cookie: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !alive_at_dashboard(dashboard, cookie).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Where a test gateway keeps its state: the embedded default, or a
/// database of its own on a shared throwaway PostgreSQL (see `pg`), for
/// suites that must hold on both backends.
#[derive(Clone)]
pub enum StoreKind {
    Sled,
    Postgres(std::sync::Arc<pg::Postgres>),
}

impl StoreKind {
    /// A PostgreSQL cluster for the gateways of one test.
    pub fn postgres() -> StoreKind {
        StoreKind::Postgres(std::sync::Arc::new(pg::Postgres::start()))
    }

    /// `text` pointed at this store: for PostgreSQL, a new database.
    fn configure(&self, text: String) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        match self {
            StoreKind::Sled => text,
            StoreKind::Postgres(pg) => {
                let db = format!("tfa_{}", NEXT.fetch_add(1, Ordering::Relaxed));
                pg.create_database(&db);
                format!("{text}\n[store]\nurl = \"{}\"\n", pg.url(&db))
            }
        }
    }
}

/// A running gateway process; killed when dropped.
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub config: PathBuf,
}

impl Gateway {
    /// Starts `tfa-gateway run` in front of `upstream` with its data in `dir`.
    pub async fn start(upstream: SocketAddr, dir: &Path) -> Gateway {
        Gateway::start_configured(upstream, dir, &[]).await
    }

    /// Like `start`, with `settings` changed in the configuration (see
    /// `with_settings`).
    pub async fn start_configured(upstream: SocketAddr, dir: &Path, settings: &[(&str, &str)]) -> Gateway {
        Gateway::start_on(&StoreKind::Sled, upstream, dir, settings).await
    }

    /// Like `start_configured`, with its state in `store`.
    pub async fn start_on(store: &StoreKind, upstream: SocketAddr, dir: &Path, settings: &[(&str, &str)]) -> Gateway {
        Gateway::start_on_with_env(store, upstream, dir, settings, &[]).await
    }

    /// Like `start_on`, with extra environment variables.
    pub async fn start_on_with_env(
        store: &StoreKind,
        upstream: SocketAddr,
        dir: &Path,
        settings: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Gateway {
        let addr = free_addr();
        let config = dir.join("gateway.toml");
        std::fs::create_dir_all(dir).expect("create the gateway's folder");
        let text = with_settings(&config_text(addr, upstream, &dir.join("data")), settings);
        let text = store.configure(text);
        std::fs::write(&config, text).expect("write config");
        write_secrets(&dir.join("data"));
        let env: Vec<_> = [("RUST_LOG", "warn")].into_iter().chain(env.iter().copied()).collect();
        Gateway::start_logging(addr, config, Stdio::inherit(), &env).await
    }

    pub async fn start_with(addr: SocketAddr, config: PathBuf) -> Gateway {
        Gateway::start_logging(addr, config, Stdio::inherit(), &[("RUST_LOG", "warn")]).await
    }

    /// Starts with the log going to `log` and extra environment variables.
    pub async fn start_logging(addr: SocketAddr, config: PathBuf, log: Stdio, env: &[(&str, &str)]) -> Gateway {
        Gateway::start_log_format(addr, config, "text", log, env).await
    }

    /// `start_logging` with `--log-format format` (text or json).
    pub async fn start_log_format(
        addr: SocketAddr,
        config: PathBuf,
        format: &str,
        log: Stdio,
        env: &[(&str, &str)],
    ) -> Gateway {
        let child = Command::new(BIN)
            .args(["--log-format", format, "run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn the gateway");
        let mut gw = Gateway { child, addr, config };
        wait_healthy(addr, &mut gw.child).await;
        gw
    }

    /// Starts `tfa-gateway run` with one HTTPS listener (see `tls_listener`)
    /// and waits until `curl` gets its health check.
    pub fn start_tls(upstream: SocketAddr, dir: &Path) -> Gateway {
        let addr = free_addr();
        let config = dir.join("gateway.toml");
        let text = config_text(addr, upstream, &dir.join("data"));
        std::fs::write(&config, with_listeners(&text, addr, &[tls_listener(addr, dir)])).expect("write config");
        write_secrets(&dir.join("data"));
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("spawn the gateway");
        let gw = Gateway { child, addr, config };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new("curl")
                .args(["-sk", "--max-time", "2"])
                .arg(format!("https://{addr}/_2fa/health"))
                .output()
                .expect("curl is installed");
            if String::from_utf8_lossy(&out.stdout).contains("ok") {
                return gw;
            }
            assert!(Instant::now() < deadline, "HTTPS gateway at {addr} never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process without a chance to clean up, like a crash.
    pub fn crash(mut self) -> (SocketAddr, PathBuf) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.addr, self.config.clone())
    }

    /// SIGTERM, then waits for the process to exit by itself.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "gateway did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tfa-gateway demo` as a user runs it; the printed lines are kept.
pub struct Demo {
    pub child: Child,
    pub lines: BTreeMap<String, String>,
}

impl Demo {
    pub async fn start(dir: &Path) -> Demo {
        let listen = free_addr();
        let mut child = Command::new(BIN)
            .args(["demo", "--listen", &listen.to_string(), "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the demo");
        let stdout = child.stdout.take().expect("demo stdout");
        let mut lines = BTreeMap::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read demo output");
            if line.starts_with("open ") {
                break;
            }
            if let Some((k, v)) = line.split_once(": ") {
                lines.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        let mut demo = Demo { child, lines };
        let addr = demo.gateway();
        wait_healthy(addr, &mut demo.child).await;
        demo
    }

    pub fn gateway(&self) -> SocketAddr {
        let url = self.lines.get("gateway").expect("a gateway: line");
        url.trim_start_matches("http://").parse().expect("gateway address")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `/_2fa/health`, failing at once if the process has exited
/// (a refused configuration, say) instead of at the deadline.
pub async fn wait_healthy(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("gateway for {addr} exited before it became healthy: {status}");
        }
        let mut b = Browser::new(addr);
        if let Ok(r) = b.try_send(Method::GET, "/_2fa/health", &[], Bytes::new()).await {
            if r.status == StatusCode::OK {
                return;
            }
        }
        assert!(Instant::now() < deadline, "gateway at {addr} never became healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

/// A browser's view: a cookie jar and one request at a time.
#[derive(Clone)]
pub struct Browser {
    pub addr: SocketAddr,
    pub jar: BTreeMap<String, String>,
    /// The address its connections come from; `None` lets the system pick
    /// (127.0.0.1 for the gateway's loopback listener).
    pub source: Option<IpAddr>,
}

impl Browser {
    pub fn new(addr: SocketAddr) -> Self {
        Browser {
            addr,
            jar: BTreeMap::new(),
            source: None,
        }
    }

    /// A browser whose connections come from `source`: Linux routes all of
    /// 127.0.0.0/8 to loopback, so a test can be many clients at once.
    pub fn from_ip(addr: SocketAddr, source: &str) -> Self {
        let ip = source.parse().unwrap_or_else(|e| panic!("{source}: {e}"));
        Browser {
            source: Some(ip),
            ..Browser::new(addr)
        }
    }

    pub async fn get(&mut self, path: &str) -> Response {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.send(Method::GET, path, headers, Bytes::new()).await
    }

    pub async fn post_form(&mut self, path: &str, form: &str) -> Response {
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            Bytes::from(form.to_string()),
        )
        .await
    }

    /// A JSON request, as a single-page dashboard or a script sends it.
    pub async fn send_json(&mut self, method: Method, path: &str, body: serde_json::Value) -> Response {
        let headers = [("content-type", "application/json"), ("accept", "application/json")];
        self.send(method, path, &headers, Bytes::from(body.to_string())).await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> Response {
        let form = format!("email={}&password={}", email.replace('@', "%40"), password);
        self.post_form("/login", &form).await
    }

    pub async fn send(&mut self, method: Method, path: &str, headers: &[(&str, &str)], body: Bytes) -> Response {
        self.try_send(method, path, headers, body)
            .await
            .expect("HTTP exchange with the gateway")
    }

    pub async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Response, Box<dyn std::error::Error + Send + Sync>> {
        let stream = match self.source {
            Some(ip) => {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(self.addr).await?
            }
            None => tokio::net::TcpStream::connect(self.addr).await?,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        if let Some(c) = self.cookie_header() {
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("cookie")) {
                req = req.header("cookie", c);
            }
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let resp = sender.send_request(req.body(Full::new(body))?).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        let r = Response {
            status: parts.status,
            headers: parts.headers,
            body,
        };
        self.absorb(&r);
        Ok(r)
    }

    pub fn cookie_header(&self) -> Option<String> {
        (!self.jar.is_empty()).then(|| {
            self.jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn absorb(&mut self, r: &Response) {
        for c in r.set_cookies() {
            let Some((pair, attrs)) = c.split_once(';').or(Some((c.as_str(), ""))) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let clears = value.is_empty() || attrs.to_ascii_lowercase().contains("max-age=0");
            if clears {
                self.jar.remove(name.trim());
            } else {
                self.jar.insert(name.trim().to_string(), value.trim().to_string());
            }
        }
    }
}
