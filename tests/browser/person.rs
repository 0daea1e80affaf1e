//! A person at a browser: finds things by what they read (button text, label
//! text, headings), types, clicks, and leaves a screenshot after each step.
//! Every gateway page they see is checked with axe-core.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::axe::{self, Violation};

/// What a flow leaves behind: its screenshots and what axe found.
pub struct Record {
    pub dir: PathBuf,
    step: usize,
    axe_source: String,
    /// (page, violations) for every gateway page checked.
    pub audits: Vec<(String, Vec<Violation>)>,
}

impl Record {
    /// A fresh (emptied) screenshot folder `dir`.
    pub fn new(dir: PathBuf) -> Arc<Mutex<Record>> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Arc::new(Mutex::new(Record {
            dir,
            step: 0,
            axe_source: axe::source(),
            audits: Vec::new(),
        }))
    }
}

/// Prints the flow's screenshot folder and axe summary; fails on any
/// serious or critical violation.
pub fn finish(flow: &str, record: &Arc<Mutex<Record>>) {
    let r = record.lock().unwrap();
    println!("{flow}: {} screenshots in {}", r.step, r.dir.display());
    let mut pages: Vec<&str> = r.audits.iter().map(|(p, _)| p.as_str()).collect();
    pages.sort_unstable();
    pages.dedup();
    let all: Vec<String> = r
        .audits
        .iter()
        .flat_map(|(p, vs)| vs.iter().map(move |v| (p, v)))
        .map(|(p, v)| axe::describe(p, v))
        .collect();
    let blocking: Vec<String> = r
        .audits
        .iter()
        .flat_map(|(p, vs)| vs.iter().filter(|v| v.blocking()).map(move |v| axe::describe(p, v)))
        .collect();
    println!(
        "{flow}: axe-core checked {} views of {} gateway pages: {} violations, {} serious or critical\n  {}",
        r.audits.len(),
        pages.len(),
        all.len(),
        blocking.len(),
        pages.join("\n  ")
    );
    for line in &all {
        println!("{line}");
    }
    assert!(
        blocking.is_empty(),
        "accessibility violations:\n{}",
        blocking.join("\n")
    );
}

/// A Chrome DevTools command, through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.0, "params": self.1 });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Quotes `s` as an XPath string literal.
fn xq(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

pub struct Person {
    pub who: &'static str,
    pub client: Client,
    base: String,
    record: Arc<Mutex<Record>>,
}

const PATIENCE: Duration = Duration::from_secs(10);

impl Person {
    pub fn new(who: &'static str, client: Client, base: &str, record: &Arc<Mutex<Record>>) -> Person {
        Person {
            who,
            client,
            base: base.trim_end_matches('/').to_string(),
            record: record.clone(),
        }
    }

    /// Types an address into the location bar.
    pub async fn visit(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("{} opens {path}: {e}", self.who));
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The page's main heading, waiting (briefly) for it to be `expected`.
    pub async fn expect_heading(&self, expected: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let h1 = match self.client.find(Locator::Css("h1")).await {
                Ok(h) => h.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if h1.trim() == expected {
                return;
            }
            if Instant::now() > deadline {
                let body = self.page_text().await;
                panic!(
                    "{} expected the page \"{expected}\", sees \"{h1}\" at {}:\n{body}",
                    self.who,
                    self.path().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything the page shows as text.
    pub async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    pub async fn sees(&self, text: &str) -> bool {
        self.page_text().await.contains(text)
    }

    /// Waits (briefly) for `text` to show on the page.
    pub async fn expect_text(&self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let body = self.page_text().await;
            if body.contains(text) {
                return;
            }
            if Instant::now() > deadline {
                panic!("{} expected \"{text}\" on {}:\n{body}", self.who, self.path().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The one element `xpath` names, waiting (briefly) for the page to
    /// show exactly one: the rest of a page may still be coming after its
    /// heading.
    async fn only(&self, xpath: &str, what: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = self
                .client
                .find_all(Locator::XPath(xpath))
                .await
                .expect("find elements");
            match found.len() {
                1 => return found.into_iter().next().unwrap(),
                n if Instant::now() > deadline => panic!(
                    "{} looks for {what} on {} and finds {n}:\n{}",
                    self.who,
                    self.path().await,
                    self.page_text().await
                ),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The form with the button `button`.
    fn form_of(button: &str) -> String {
        format!("//form[.//button[normalize-space(.)={}]]", xq(button))
    }

    /// The field labelled `label` in the form whose button reads `button`.
    pub async fn field(&self, button: &str, label: &str) -> Element {
        let xpath = format!(
            "{}//label[starts-with(normalize-space(.), {})]",
            Self::form_of(button),
            xq(label)
        );
        let label_el = self
            .only(&xpath, &format!("the field \"{label}\" by \"{button}\""))
            .await;
        match label_el.attr("for").await.expect("label for") {
            Some(id) => self.client.find(Locator::Id(&id)).await.expect("the labelled field"),
            None => label_el
                .find(Locator::XPath(".//input|.//select|.//textarea"))
                .await
                .expect("a field inside the label"),
        }
    }

    /// The visible error said beside the field labelled `label` (the one
    /// its `aria-describedby` names, in the same form), if there is one.
    pub async fn error_beside(&self, button: &str, label: &str) -> Option<String> {
        let field = self.field(button, label).await;
        let id = field.attr("aria-describedby").await.expect("aria-describedby")?;
        let xpath = format!("{}//*[@id={}]", Self::form_of(button), xq(&id));
        let error = self.only(&xpath, &format!("the error of \"{label}\"")).await;
        assert!(
            error.is_displayed().await.unwrap_or(false),
            "{}: the error of \"{label}\" is not visible",
            self.who
        );
        Some(error.text().await.expect("the error's text"))
    }

    pub async fn fill(&self, button: &str, label: &str, value: &str) {
        let field = self.field(button, label).await;
        field.clear().await.expect("clear a field");
        field.send_keys(value).await.expect("type into a field");
    }

    pub async fn choose(&self, button: &str, label: &str, option: &str) {
        let field = self.field(button, label).await;
        field.select_by_label(option).await.expect("choose an option");
    }

    /// Sets the checkbox labelled `label` to `on`.
    pub async fn tick(&self, button: &str, label: &str, on: bool) {
        let field = self.field(button, label).await;
        if field.is_selected().await.expect("checkbox state") != on {
            field.click().await.expect("click a checkbox");
        }
    }

    /// Clicks the button, link or summary whose text is `text`.
    pub async fn press(&self, text: &str) {
        let xpath = format!(
            "//button[normalize-space(.)={q}]|//a[normalize-space(.)={q}]|//summary[normalize-space(.)={q}]",
            q = xq(text)
        );
        let el = self.only(&xpath, &format!("\"{text}\"")).await;
        // A button a script reveals (a security key's) shows once it ran.
        let deadline = Instant::now() + PATIENCE;
        while !el.is_displayed().await.unwrap_or(false) {
            assert!(Instant::now() < deadline, "{}: \"{text}\" is not visible", self.who);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A submit button or a link starts a navigation that the click does
        // not wait for: until the old document is gone, a heading the next
        // page shares (a form shown again with its errors) would already
        // match, and its fields would go stale while being read.
        let navigates = match el.tag_name().await.expect("tag name").as_str() {
            "a" => el
                .attr("href")
                .await
                .expect("href")
                .is_some_and(|h| !h.starts_with('#')),
            "button" => el.attr("type").await.expect("type").as_deref() != Some("button"),
            _ => false,
        };
        let old = self.client.find(Locator::Css("html")).await.expect("the page");
        el.click()
            .await
            .unwrap_or_else(|e| panic!("{} presses \"{text}\": {e}", self.who));
        if navigates {
            self.wait_until_gone(&old, text).await;
        }
    }

    /// Waits for `old`, the document a press was made on, to be replaced.
    async fn wait_until_gone(&self, old: &Element, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match old.tag_name().await {
                Err(e) if e.is_stale_element_reference() => return,
                _ if Instant::now() > deadline => panic!(
                    "{} pressed \"{text}\" and stays on the same page {}:\n{}",
                    self.who,
                    self.path().await,
                    self.page_text().await
                ),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    pub async fn has_button(&self, text: &str) -> bool {
        let xpath = format!("//button[normalize-space(.)={}]", xq(text));
        !self
            .client
            .find_all(Locator::XPath(&xpath))
            .await
            .expect("find buttons")
            .is_empty()
    }

    /// Opens a second tab and switches to it; returns the first tab.
    pub async fn open_tab(&self) -> fantoccini::wd::WindowHandle {
        let first = self.client.window().await.expect("the current tab");
        let tab = self.client.new_window(true).await.expect("a new tab");
        self.client.switch_to_window(tab.handle).await.expect("switch tabs");
        first
    }

    /// Closes this tab and goes back to `tab`.
    pub async fn close_tab_for(&self, tab: fantoccini::wd::WindowHandle) {
        self.client.close_window().await.expect("close the tab");
        self.client.switch_to_window(tab).await.expect("switch tabs");
    }

    /// Asks for the pages' dark colours, as a system in dark mode does.
    pub async fn prefer_dark(&self) {
        let media = json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] });
        self.client
            .issue_cmd(Cdp("Emulation.setEmulatedMedia", media))
            .await
            .expect("emulate dark mode");
    }

    /// Signs in at the dashboard's own form.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.visit("/login").await;
        self.expect_heading("Sign in").await;
        self.fill("Sign in", "Email", email).await;
        self.fill("Sign in", "Password", password).await;
        self.press("Sign in").await;
    }

    /// Signs in through the dashboard's single sign-on button, from the
    /// sign-in page it is on (`/login` unless `at` says otherwise).
    pub async fn sign_in_with_sso(&self, at: &str, email: &str) {
        self.visit(at).await;
        self.expect_heading("Sign in").await;
        self.fill("Sign in with Demo SSO", "Work email", email).await;
        self.press("Sign in with Demo SSO").await;
    }

    /// Goes back to the dashboard and signs out there.
    pub async fn sign_out(&self) {
        self.visit("/").await;
        self.expect_heading("Dashboard").await;
        self.press("Sign out").await;
        self.expect_heading("Sign in").await;
    }

    /// Saves a screenshot of the whole page as the flow's next step and, on
    /// a gateway page, runs axe-core on it.
    pub async fn shot(&self, step: &str) -> PathBuf {
        self.assert_no_sideways_scrolling(step).await;
        let png = self.full_page_png().await;
        let path = {
            let mut r = self.record.lock().unwrap();
            r.step += 1;
            r.dir.join(format!("{:02}-{}-{step}.png", r.step, self.who))
        };
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let page = self.path().await;
        if page.starts_with("/_2fa/") {
            let source = self.record.lock().unwrap().axe_source.clone();
            let found = axe::run(&self.client, &source).await;
            let page = page.split('?').next().unwrap_or_default().to_string();
            let title = self.client.title().await.unwrap_or_default();
            self.record
                .lock()
                .unwrap()
                .audits
                .push((format!("{page} \"{title}\""), found));
        }
        path
    }

    /// Nothing wider than the window: a phone never scrolls sideways.
    async fn assert_no_sideways_scrolling(&self, step: &str) {
        let widths = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .expect("page widths");
        let (page, window) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(
            page <= window,
            "{} at {step}: the page is {page} px wide in a {window} px window",
            self.who
        );
    }

    /// Checks that axe-core, as injected here, reports a planted violation.
    pub async fn check_the_checker(&self) {
        let source = self.record.lock().unwrap().axe_source.clone();
        axe::self_check(&self.client, &source).await;
    }

    /// Saves a screenshot of the whole page to `path`.
    pub async fn save_screenshot(&self, path: &Path) {
        let png = self.full_page_png().await;
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    async fn full_page_png(&self) -> Vec<u8> {
        use base64::Engine as _;
        let metrics = self
            .client
            .issue_cmd(Cdp("Page.getLayoutMetrics", json!({})))
            .await
            .expect("layout metrics");
        let size = &metrics["cssContentSize"];
        let shot = self
            .client
            .issue_cmd(Cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1 },
                }),
            ))
            .await
            .expect("a screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("PNG data"))
            .expect("base64 PNG")
    }
}
