//! Headless Chromium over WebDriver: one `chromedriver` child process on a
//! free loopback port, and a fresh browser (own profile, own cookies) for
//! each person in a test.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Map, Value};

use crate::common::free_addr;

const INSTALL: &str = "the browser tests need Chromium and its WebDriver: \
    `apt-get install -y chromium chromium-driver` (Debian; .ci/run installs them)";

/// The desktop window of every browser unless a test asks for a phone.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A small phone's CSS viewport.
pub const PHONE: (u32, u32) = (360, 780);

/// A running `chromedriver`; killed when dropped.
pub struct Driver {
    child: Child,
    addr: SocketAddr,
    chromium: PathBuf,
    profiles: tempfile::TempDir,
}

/// The first of `names` found on `PATH` (or given as an absolute path).
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        let direct = PathBuf::from(name);
        if direct.is_absolute() {
            return direct.is_file().then_some(direct);
        }
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl Driver {
    /// Starts `chromedriver`, or fails saying how to install it.
    pub async fn start() -> Driver {
        let driver = find_program(&["chromedriver"]).unwrap_or_else(|| panic!("no chromedriver: {INSTALL}"));
        let chromium =
            find_program(&["chromium", "chromium-browser"]).unwrap_or_else(|| panic!("no chromium: {INSTALL}"));
        let addr = free_addr();
        let child = Command::new(&driver)
            .arg(format!("--port={}", addr.port()))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}; {INSTALL}", driver.display()));
        let profiles = tempfile::tempdir().expect("a temp dir for browser profiles");
        let d = Driver {
            child,
            addr,
            chromium,
            profiles,
        };
        d.wait_ready().await;
        d
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(self.addr).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver never listened on {}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new browser window of `size` CSS pixels, sharing nothing with others.
    pub async fn browser(&self, size: (u32, u32)) -> Client {
        let profile = tempfile::tempdir_in(self.profiles.path()).expect("a profile dir");
        let mut options = json!({
            "binary": self.chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                format!("--user-data-dir={}", profile.keep().display()),
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--force-color-profile=srgb",
                "--lang=en-GB",
            ],
        });
        if size != DESKTOP {
            // Chromium keeps windows wider than a phone; emulation gives the
            // page the phone's viewport, as a phone's browser would.
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": size.0, "height": size.1, "pixelRatio": 2.0, "touch": true, "mobile": true }
            });
        }
        let mut caps = Map::new();
        caps.insert("browserName".into(), Value::from("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let url = format!("http://{}", self.addr);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("a Chromium session from chromedriver at {url}: {e}; {INSTALL}"));
        client
    }
}

impl Drop for Driver {
    /// Asks chromedriver to quit its browsers and itself (`/shutdown`), so
    /// that no Chromium outlives the test, then makes sure it is gone.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Ok(mut s) = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "GET /shutdown HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.addr
            );
            let _ = s.read_to_end(&mut Vec::new());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
