//! End-to-end probe: a tiny HTTP server using webauthn-rs 0.6.2 with ceremony
//! state stored as bytes, driven by headless Chromium (fantoccini) with a
//! WebDriver virtual authenticator.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use webauthn_rs::prelude::*;

const JS_MANUAL: &str = include_str!("../static/webauthn.js");
const JS_NATIVE: &str = include_str!("../static/webauthn-native.js");
static JS: std::sync::LazyLock<&'static str> =
    std::sync::LazyLock::new(|| if std::env::var("NATIVE_JSON").is_ok() { JS_NATIVE } else { JS_MANUAL });

// ---------- the WebDriver WebAuthn extension, as fantoccini commands ----------

/// POST /session/{id}/webauthn/authenticator (W3C WebAuthn §11.3 "Add Virtual Authenticator").
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddVirtualAuthenticator {
    pub protocol: &'static str,  // "ctap1/u2f" | "ctap2" | "ctap2_1"
    pub transport: &'static str, // "usb" | "nfc" | "ble" | "internal" | "hybrid"
    pub has_resident_key: bool,
    pub has_user_verification: bool,
    pub is_user_consenting: bool,
    pub is_user_verified: bool,
}

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/webauthn/authenticator", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(serde_json::to_string(self).unwrap()))
    }
}

/// Any other WebAuthn-extension call: method + path below /session/{id}/webauthn/ + body.
#[derive(Debug)]
pub struct WebAuthnCmd(pub http::Method, pub String, pub Option<Value>);

impl WebDriverCompatibleCommand for WebAuthnCmd {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/webauthn/{}", session.unwrap_or_default(), self.1))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (self.0.clone(), self.2.as_ref().map(|v| v.to_string()))
    }
}

// ---------- a tiny app ----------

#[derive(Serialize, Deserialize, Clone)]
struct NamedKey {
    name: String,
    key: SecurityKey,
}

struct App {
    wa: Webauthn,
    /// A separately built instance: finishes what `wa` started, as another replica would.
    replica: Webauthn,
    user: Uuid,
    /// Stand-in for sled/PostgreSQL: every value is bytes.
    store: Mutex<HashMap<String, Vec<u8>>>,
    log: Mutex<Vec<String>>,
}

impl App {
    fn keys(&self) -> Vec<NamedKey> {
        self.store.lock().unwrap().get("keys").map(|b| serde_json::from_slice(b).unwrap()).unwrap_or_default()
    }
    fn put_keys(&self, k: &[NamedKey]) {
        self.store.lock().unwrap().insert("keys".into(), serde_json::to_vec(k).unwrap());
    }
    fn put_state<T: Serialize>(&self, state: &T) -> String {
        let id = Uuid::new_v4().to_string();
        let bytes = serde_json::to_vec(state).unwrap();
        self.log.lock().unwrap().push(format!("stored ceremony state: {} bytes", bytes.len()));
        self.store.lock().unwrap().insert(format!("ceremony:{id}"), bytes);
        id
    }
    /// Single use: taken out of the store whatever happens next.
    fn take_state<T: for<'a> Deserialize<'a>>(&self, id: &str) -> Option<T> {
        let bytes = self.store.lock().unwrap().remove(&format!("ceremony:{id}"))?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Attestation policy: trust only the CA in $ATTEST_CA (PEM), if set.
fn ca_list() -> Option<AttestationCaList> {
    let path = std::env::var("ATTEST_CA").ok()?;
    let pem = std::fs::read(path).unwrap();
    Some(AttestationCaList::try_from(pem.as_slice()).expect("a PEM CA"))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

fn page(title: &str, body: &str) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    let html = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>\
         <script src=\"/webauthn.js\" integrity=\"{h}\" defer></script></head><body><h1>{title}</h1>{body}</body></html>",
        h = js_hash()
    );
    let csp = format!("default-src 'none'; script-src '{}'; form-action 'self'; base-uri 'none'", js_hash());
    (200, vec![("content-type", "text/html; charset=utf-8".into()), ("content-security-policy", csp)], html.into_bytes())
}

fn js_hash() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(JS.as_bytes())))
}

fn form(action: &str, ceremony: &str, kind: &str, options_json: &str, label: &str, extra: &str) -> String {
    format!(
        "<form method=post action={action}><input type=hidden name=ceremony value=\"{ceremony}\">\
         <input type=hidden name=credential>{extra}\
         <button type=button id=wa-button hidden data-webauthn={kind} data-options=\"{}\">{label}</button>\
         <noscript><p>Security keys need JavaScript in this browser.</p></noscript>\
         <p id=wa-status data-webauthn-status role=status></p></form>",
        esc(options_json)
    )
}

fn route(app: &App, method: &str, path: &str, body: &[u8]) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    let f: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    match (method, path) {
        ("GET", "/webauthn.js") => (200, vec![("content-type", "text/javascript".into())], JS.as_bytes().to_vec()),
        ("GET", "/register") => {
            let exclude: Vec<CredentialID> = app.keys().iter().map(|k| k.key.cred_id().clone()).collect();
            let (mut ccr, state) = app
                .wa
                .start_securitykey_registration(app.user, "alice@example.com", "Alice", Some(exclude), ca_list(), None)
                .unwrap();
            ccr.public_key.hints = None; // let the browser offer platform passkeys too
            if std::env::var("KEEP_CREDPROTECT").is_err() {
                // Chromium refuses credProtect=userVerificationRequired unless
                // userVerification is "required" (webauthn-rs issue #490).
                if let Some(ext) = ccr.public_key.extensions.as_mut() {
                    ext.cred_protect = None;
                }
            }
            app.log.lock().unwrap().push(format!("CCR {}", serde_json::to_string(&ccr).unwrap()));
            let id = app.put_state(&state);
            let extra = "<label>Name <input name=name value=\"My key\"></label>";
            page("Add a security key", &form("/register", &id, "create", &serde_json::to_string(&ccr).unwrap(), "Add a security key", extra))
        }
        ("POST", "/register") => {
            app.log.lock().unwrap().push(format!("POST /register credential = {}", f["credential"])); let _ = std::fs::write("/tmp/wa-e2e/last-reg.json", &f["credential"]);
            let Some(state) = app.take_state::<SecurityKeyRegistration>(&f["ceremony"]) else {
                return page("Error", "<p id=result>no such ceremony</p>");
            };
            let reg: RegisterPublicKeyCredential = match serde_json::from_str(&f["credential"]) {
                Ok(r) => r,
                Err(e) => return page("Error", &format!("<p id=result>bad json: {}</p>", esc(&e.to_string()))),
            };
            match app.replica.finish_securitykey_registration(&reg, &state) {
                Ok(key) => {
                    let mut keys = app.keys();
                    if keys.iter().any(|k| k.key.cred_id() == key.cred_id()) {
                        return page("Error", "<p id=result>already registered</p>");
                    }
                    keys.push(NamedKey { name: f["name"].clone(), key });
                    app.put_keys(&keys);
                    page("Done", &format!("<p id=result>registered; {} keys</p>", keys.len()))
                }
                Err(e) => page("Error", &format!("<p id=result>finish failed: {e:?}</p>")),
            }
        }
        ("GET", "/login") => {
            let keys: Vec<SecurityKey> = app.keys().into_iter().map(|k| k.key).collect();
            let (mut rcr, state) = app.wa.start_securitykey_authentication(&keys).unwrap();
            rcr.public_key.hints = None;
            app.log.lock().unwrap().push(format!("RCR {}", serde_json::to_string(&rcr).unwrap()));
            let id = app.put_state(&state);
            page("Use your security key", &form("/login", &id, "get", &serde_json::to_string(&rcr).unwrap(), "Use security key", ""))
        }
        ("POST", "/login") => {
            app.log.lock().unwrap().push(format!("POST /login credential = {}", f["credential"]));
            let Some(state) = app.take_state::<SecurityKeyAuthentication>(&f["ceremony"]) else {
                return page("Error", "<p id=result>no such ceremony</p>");
            };
            let cred: PublicKeyCredential = match serde_json::from_str(&f["credential"]) {
                Ok(r) => r,
                Err(e) => return page("Error", &format!("<p id=result>bad json: {}</p>", esc(&e.to_string()))),
            };
            match app.replica.finish_securitykey_authentication(&cred, &state) {
                Ok(res) => {
                    let mut keys = app.keys();
                    let mut name = String::new();
                    for k in keys.iter_mut() {
                        if k.key.update_credential(&res).is_some() {
                            name = k.name.clone();
                        }
                    }
                    app.put_keys(&keys);
                    page("Done", &format!(
                        "<p id=result>authenticated with {} (counter {}, uv {}, backup eligible {})</p>",
                        esc(&name), res.counter(), res.user_verified(), res.backup_eligible()
                    ))
                }
                Err(e) => page("Error", &format!("<p id=result>finish failed: {e:?}</p>")),
            }
        }
        _ => (404, vec![], b"not found".to_vec()),
    }
}

async fn handle(mut s: TcpStream, app: Arc<App>) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        let n = s.read(&mut tmp).await.unwrap_or(0);
        if n == 0 { return; }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") { break p + 4; }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split(' ');
    let (method, target) = (first.next().unwrap_or("").to_string(), first.next().unwrap_or("").to_string());
    let len: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp).await.unwrap_or(0);
        if n == 0 { break; }
        buf.extend_from_slice(&tmp[..n]);
    }
    let path = target.split('?').next().unwrap_or("").to_string();
    let (status, headers, body) = route(&app, &method, &path, &buf[head_end..]);
    let mut out = format!("HTTP/1.1 {status} X\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers { out.push_str(&format!("{k}: {v}\r\n")); }
    out.push_str("\r\n");
    let _ = s.write_all(out.as_bytes()).await;
    let _ = s.write_all(&body).await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_text(c: &Client, css: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            let t = e.text().await.unwrap_or_default();
            if !t.trim().is_empty() && t != "Follow your browser's prompt…" { return t; }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {css}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click_and_wait(c: &Client, url: &str) -> String {
    c.goto(url).await.unwrap();
    c.find(Locator::Id("wa-button")).await.unwrap().click().await.unwrap();
    // Either the page changes to a result, or the status line says why not.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(e) = c.find(Locator::Id("result")).await { return format!("result: {}", e.text().await.unwrap()); }
        if let Ok(e) = c.find(Locator::Id("wa-status")).await {
            let t = e.text().await.unwrap_or_default();
            if !t.is_empty() && !t.starts_with("Follow") { return format!("status: {t}"); }
        }
        assert!(Instant::now() < deadline, "timed out after clicking on {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    let t0 = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let origin = Url::parse(&format!("http://localhost:{port}")).unwrap();
    let presence_only = std::env::var("PRESENCE_ONLY").is_ok();
    let build = || WebauthnBuilder::new("localhost", &origin)
        .unwrap()
        .rp_name("tfa-gateway probe")
        .timeout(Duration::from_secs(8)) // so a refused prompt ends in the test's time
        .danger_set_user_presence_only_security_keys(presence_only)
        .build()
        .unwrap();
    let wa = build();
    // $WRONG_PORT: the finishing replica believes the origin has another port.
    let replica = if std::env::var("WRONG_PORT").is_ok() {
        let other = Url::parse("http://localhost:1").unwrap();
        WebauthnBuilder::new("localhost", &other).unwrap()
            .allow_any_port(std::env::var("ANY_PORT").is_ok())
            .build().unwrap()
    } else {
        build()
    };
    println!("mode: presence_only={presence_only} keep_credprotect={}", std::env::var("KEEP_CREDPROTECT").is_ok());
    let app = Arc::new(App { wa, replica, user: Uuid::new_v4(), store: Mutex::new(HashMap::new()), log: Mutex::new(vec![]) });
    let a2 = app.clone();
    tokio::spawn(async move {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            tokio::spawn(handle(s, a2.clone()));
        }
    });

    let dport = free_port();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) { let _ = self.0.kill(); let _ = self.0.wait(); }
    }
    let _driver = Kill(Command::new("chromedriver")
        .arg(format!("--port={dport}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let daddr: SocketAddr = format!("127.0.0.1:{dport}").parse().unwrap();
    while TcpStream::connect(daddr).await.is_err() { tokio::time::sleep(Duration::from_millis(50)).await; }

    let profile = std::env::temp_dir().join(format!("wa-profile-{}", std::process::id()));
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), json!({
        "binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
                 "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions"],
    }));
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://{daddr}"))
        .await
        .unwrap();

    // The session must be on a page before the authenticator is added? Try before navigating.
    let usb = c
        .issue_cmd(AddVirtualAuthenticator {
            protocol: "ctap2",
            transport: "usb",
            has_resident_key: false,
            has_user_verification: true,
            is_user_consenting: true,
            is_user_verified: true,
        })
        .await;
    println!("add usb authenticator -> {usb:?}");
    let usb = usb.unwrap().as_str().unwrap().to_string();

    let base = format!("http://localhost:{port}");
    println!("1 register usb key: {}", click_and_wait(&c, &format!("{base}/register")).await);
    println!("2 login usb key:    {}", click_and_wait(&c, &format!("{base}/login")).await);
    println!("3 register again:   {}", click_and_wait(&c, &format!("{base}/register")).await);
    let creds = c.issue_cmd(WebAuthnCmd(http::Method::GET, format!("authenticator/{usb}/credentials"), None)).await.unwrap();
    println!("  usb authenticator holds {} credential(s); first: {}", creds.as_array().map(|a| a.len()).unwrap_or(0),
        creds[0].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(",")).unwrap_or_default());

    // Swap to a platform ("internal") authenticator with resident keys: a passkey-like device.
    c.issue_cmd(WebAuthnCmd(http::Method::DELETE, format!("authenticator/{usb}"), None)).await.unwrap();
    let internal = c
        .issue_cmd(AddVirtualAuthenticator {
            protocol: "ctap2",
            transport: "internal",
            has_resident_key: true,
            has_user_verification: true,
            is_user_consenting: true,
            is_user_verified: true,
        })
        .await
        .unwrap();
    println!("add internal authenticator -> {internal}");
    println!("4 register platform key: {}", click_and_wait(&c, &format!("{base}/register")).await);
    println!("5 login platform key:    {}", click_and_wait(&c, &format!("{base}/login")).await);
    // User refuses (isUserConsenting=false via a new authenticator would be needed); instead flip UV off.
    let iid = internal.as_str().unwrap();
    let uv = c.issue_cmd(WebAuthnCmd(http::Method::POST, format!("authenticator/{iid}/uv"), Some(json!({"isUserVerified": false})))).await;
    println!("set isUserVerified=false -> {uv:?}");
    println!("6 login with UV failing: {}", click_and_wait(&c, &format!("{base}/login")).await);

    // A person who dismisses the browser's prompt: isUserConsenting=false.
    c.issue_cmd(WebAuthnCmd(http::Method::DELETE, format!("authenticator/{iid}"), None)).await.unwrap();
    c.issue_cmd(AddVirtualAuthenticator { protocol: "ctap2", transport: "usb", has_resident_key: false,
        has_user_verification: false, is_user_consenting: false, is_user_verified: false }).await.unwrap();
    let t7 = Instant::now();
    println!("7 register, user says no: {} (after {:?})", click_and_wait(&c, &format!("{base}/register")).await, t7.elapsed());
    for l in app.log.lock().unwrap().iter() { println!("server: {l}"); }
    println!("total {:?}", t0.elapsed());
    c.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
