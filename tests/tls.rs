//! TLS termination at the gateway, checked with real `openssl` and `curl`:
//! the gateway serves HTTPS with the configured certificate, and its session
//! cookie is `Secure` there without being told.

mod common;

use std::process::Command;

use common::{config_text, free_addr, start_dashboard, Gateway};

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
    let (cert, key) = common::tools::self_signed_cert(dir.path());

    let addr = free_addr();
    let text = config_text(addr, start_dashboard(), &dir.path().join("data")).replace(
        &format!("listen = [{{ address = \"{addr}\" }}]"),
        &format!(
            "listen = [{{ address = \"{addr}\", tls = {{ certificate = \"{}\", key = \"{}\" }} }}]",
            cert.display(),
            key.display()
        ),
    );
    assert!(text.contains("tls ="), "listener line not found in the demo config");
    common::write_secrets(&dir.path().join("data"));
    let config = dir.path().join("tls.toml");
    std::fs::write(&config, text).unwrap();

    let child = Command::new(common::BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let _gw = Gateway { child, addr, config };
    let base = format!("https://{addr}");
    let mut healthy = false;
    for _ in 0..200 {
        let out = Command::new("curl")
            .args(["-sk", "--max-time", "2"])
            .arg(format!("{base}/_2fa/health"))
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("ok") {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(healthy, "HTTPS gateway never answered");

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
