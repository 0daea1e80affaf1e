//! Real external clients the tests lean on: `oathtool` computes TOTP codes,
//! `rsvg-convert` renders our QR SVG to PNG and `zbarimg` reads it back,
//! `openssl` makes certificates.

use std::path::Path;
use std::process::Command;

/// The TOTP code `oathtool` computes for `secret` (base32) at now + `offset_secs`.
pub fn oathtool(secret: &str, offset_secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
        + offset_secs;
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret, &format!("--now=@{now}")])
        .output()
        .expect("oathtool is installed (see .ci/run)");
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Renders an SVG to PNG and returns what `zbarimg` reads from it.
pub fn scan_qr_svg(svg: &str, dir: &Path) -> String {
    let svg_path = dir.join("qr.svg");
    let png_path = dir.join("qr.png");
    std::fs::write(&svg_path, svg).expect("write svg");
    let out = Command::new("rsvg-convert")
        .args(["--width", "400", "--background-color", "white", "-o"])
        .arg(&png_path)
        .arg(&svg_path)
        .output()
        .expect("rsvg-convert is installed (see .ci/run)");
    assert!(
        out.status.success(),
        "rsvg-convert: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(&png_path)
        .output()
        .expect("zbarimg is installed (see .ci/run)");
    assert!(
        out.status.success(),
        "zbarimg found no code: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The value of the hidden `csrf_token` field in a page.
pub fn csrf_token(page: &str) -> String {
    between(page, "name=\"csrf_token\" value=\"", "\"").unwrap_or_else(|| panic!("no csrf_token in: {page}"))
}

/// The text between `start` and the next `end`.
pub fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_string())
}

/// Every `<code>` element's text in a page.
pub fn codes_in(page: &str) -> Vec<String> {
    page.split("<code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .map(str::to_string)
        .collect()
}

/// Percent-encodes a form value.
pub fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The code in the last SMS the outbox provider wrote for `to`.
pub fn last_code(outbox: &Path, to: &str) -> String {
    let text = std::fs::read_to_string(outbox).unwrap_or_default();
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains(to))
        .unwrap_or_else(|| panic!("no message to {to} in {text}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
    let body = v["body"].as_str().expect("a body");
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .to_string()
}

/// A self-signed certificate for 127.0.0.1 and its key, made by `openssl`
/// in `dir`: `(cert.pem, key.pem)`.
pub fn self_signed_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// Sends `request` as written (the client closes after one answer) and
/// returns all the gateway answered.
pub async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut answer));
    read.await.expect("an answer within 10 s").expect("read the answer");
    String::from_utf8_lossy(&answer).into_owned()
}
