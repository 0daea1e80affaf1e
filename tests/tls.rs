//! TLS termination at the gateway, checked with real `openssl` and `curl`:
//! the gateway serves HTTPS with the configured certificate, and its session
//! cookie is `Secure` there without being told.

mod common;

use std::process::Command;

use common::{start_dashboard, Gateway};

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn https_listener_serves_the_dashboard_with_a_secure_gateway_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_tls(start_dashboard(), dir.path());
    let base = format!("https://{}", gw.addr);

    let login = curl(&[
        "-i",
        "-d",
        "email=carol%40globex.test&password=carol-password",
        &format!("{base}/login"),
    ]);
    let ours = login
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: tfa_session="))
        .unwrap_or_else(|| panic!("no gateway cookie in {login}"));
    assert!(ours.contains("; Secure"), "{ours}");
}
