//! The stage of a browser test (the demo as a user starts it, chromedriver,
//! a screenshot folder) and the steps several flows share.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use fantoccini::Locator;

use crate::common::tools::oathtool;
use crate::common::{Demo, BIN};
use crate::driver::Driver;
use crate::person::{Person, Record};

/// `tfa-gateway demo`, a chromedriver and a screenshot folder for one flow.
pub struct Stage {
    pub data: tempfile::TempDir,
    pub demo: Demo,
    pub driver: Driver,
    pub record: Arc<Mutex<Record>>,
}

/// `target/e2e-screenshots/<flow>`, next to the binary under test.
fn screenshot_dir(flow: &str) -> PathBuf {
    let target = std::path::Path::new(BIN)
        .ancestors()
        .nth(2)
        .expect("the binary lives in target/<profile>/");
    target.join("e2e-screenshots").join(flow)
}

impl Stage {
    pub async fn start(flow: &str) -> Stage {
        let dir = screenshot_dir(flow);
        // Said first: cargo test shows a test's output only when it fails,
        // and that is when the screenshots are wanted.
        eprintln!("{flow}: screenshots in {}", dir.display());
        let record = Record::new(dir);
        let data = tempfile::tempdir().expect("a data dir");
        let demo = Demo::start(data.path()).await;
        let driver = Driver::start().await;
        Stage {
            data,
            demo,
            driver,
            record,
        }
    }

    /// As `person`, browsing at `http://localhost:PORT`: WebAuthn refuses
    /// an IP address, and the demo's relying party is `localhost`.
    pub async fn person_at_localhost(&self, who: &'static str, size: (u32, u32)) -> Person {
        let client = self.driver.browser(size).await;
        let gateway = self.demo.lines.get("gateway").expect("the demo prints its gateway");
        let port = gateway.rsplit(':').next().expect("a port");
        Person::new(who, client, &format!("http://localhost:{port}"), &self.record)
    }

    /// A person with a browser of their own, `size` CSS pixels wide and high.
    pub async fn person(&self, who: &'static str, size: (u32, u32)) -> Person {
        let client = self.driver.browser(size).await;
        let gateway = self.demo.lines.get("gateway").expect("the demo prints its gateway");
        Person::new(who, client, gateway, &self.record)
    }
}

/// The key shown under the QR code, as a person would copy it: spaces removed.
pub async fn secret_shown(p: &Person) -> String {
    let shown = p
        .client
        .find(Locator::Id("secret"))
        .await
        .expect("the key under the QR code")
        .text()
        .await
        .expect("its text");
    let secret: String = shown.split_whitespace().collect();
    assert!(secret.len() >= 16, "a base32 key: {shown}");
    secret
}

/// On the settings page: turns the authenticator app off with the password.
pub async fn disable_totp(p: &Person, password: &str) {
    let button = "Disable two-factor authentication";
    p.fill(button, "Confirm your password", password).await;
    p.press(button).await;
    p.expect_heading("Security settings").await;
    p.expect_text("Off: no authenticator app is set up.").await;
}

/// From the page with the `start` button: password, QR code, first code,
/// recovery codes. Returns the key and the recovery codes.
pub async fn enable_totp(p: &Person, password: &str, start: &str) -> (String, Vec<String>) {
    p.fill(start, "Confirm your password", "not-the-password").await;
    p.press(start).await;
    p.expect_text("password is not right").await;
    p.shot("wrong-password").await;
    // The same page again, with the error: a person sent to enroll keeps
    // the page that says which account asks.
    assert!(p.has_button(start).await, "the page with \"{start}\" is shown again");
    p.fill(start, "Confirm your password", password).await;
    p.press(start).await;
    p.expect_heading("Set up your authenticator app").await;

    // The optional script ran under the page's CSP: the copy button shows.
    let copy = p
        .client
        .find(Locator::XPath("//button[normalize-space()='Copy key']"))
        .await;
    assert!(
        copy.expect("a Copy key button").is_displayed().await.unwrap(),
        "copy.js is allowed by its hash and reveals the button"
    );

    let qr = p
        .client
        .find(Locator::XPath(
            "//figure[contains(@aria-label, 'QR code')]//*[local-name()='svg' or local-name()='img']",
        ))
        .await
        .expect("a QR code on the setup page");
    assert!(qr.is_displayed().await.unwrap(), "the QR code is visible");
    let (_, _, w, h) = qr.rectangle().await.unwrap();
    assert!(
        w >= 200.0 && h >= 200.0,
        "the QR code is {w}x{h} px, big enough to scan"
    );
    let secret = secret_shown(p).await;
    p.shot("setup").await;

    p.fill("Verify and turn on", "Code from the app", "000000").await;
    p.press("Verify and turn on").await;
    p.expect_heading("Set up your authenticator app").await;
    p.expect_text("not right").await;
    p.shot("setup-wrong-code").await;
    p.fill("Verify and turn on", "Code from the app", &oathtool(&secret, 0))
        .await;
    p.press("Verify and turn on").await;
    let codes = recovery_codes_shown(p).await;
    p.shot("recovery-codes").await;
    (secret, codes)
}

/// The ten recovery codes on the page that shows them once.
pub async fn recovery_codes_shown(p: &Person) -> Vec<String> {
    p.expect_heading("Your recovery codes").await;
    let mut codes = Vec::new();
    for c in p
        .client
        .find_all(Locator::XPath("//ol[@aria-label='Recovery codes']//code"))
        .await
        .unwrap()
    {
        codes.push(c.text().await.unwrap());
    }
    assert_eq!(codes.len(), 10, "{codes:?}");
    codes
}

/// On the settings page: SMS codes on for `number` (GB), with the code the
/// demo's outbox received. Ends on the settings page.
pub async fn enable_sms(p: &Person, outbox: &std::path::Path, password: &str, number: &str, e164: &str) {
    p.choose("Send a code", "Country", "United Kingdom").await;
    p.fill("Send a code", "Mobile phone number", number).await;
    p.fill("Send a code", "Confirm your password", password).await;
    p.press("Send a code").await;
    p.expect_heading("Confirm your phone number").await;
    let code = crate::common::tools::last_code(outbox, e164);
    p.fill("Verify and turn on", "Code from the message", &code).await;
    p.press("Verify and turn on").await;
    p.expect_heading("Security settings").await;
    p.expect_text("SMS codes are on.").await;
}
