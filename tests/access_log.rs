//! The access line, as an operator reads it from standard error: one per
//! request, in text and in JSON, without the query string, and only where
//! `RUST_LOG` lets it through (the text line is written directly, not
//! through tracing: `src/logging/access.rs`).

mod common;

use common::{config_text, free_addr, start_dashboard, Gateway};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs a gateway with `format` and `rust_log`, sends it one request with
/// a query string, stops it and returns what it wrote to standard error.
async fn logged(dir: &Path, format: &str, rust_log: &str) -> String {
    let addr = free_addr();
    let data = dir.join(format!("data-{format}-{}", rust_log.len()));
    let config = dir.join(format!("gateway-{format}-{}.toml", rust_log.len()));
    std::fs::write(&config, config_text(addr, start_dashboard(), &data)).expect("write config");
    common::write_secrets(&data);
    let log = dir.join(format!("stderr-{format}-{}.log", rust_log.len()));
    let file = std::fs::File::create(&log).expect("create the log file");
    let gw = Gateway::start_log_format(addr, config, format, file.into(), &[("RUST_LOG", rust_log)]).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /reports/q3?code=Secret4242 HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.expect("read the answer");
    // Signed out, it goes to the dashboard, which knows no such page.
    assert!(
        answer.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    drop(gw);
    std::fs::read_to_string(&log).expect("read the log")
}

fn access_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("request") && l.contains("/reports/q3"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_request_is_one_line_where_rust_log_lets_it_through() {
    let dir = tempfile::tempdir().expect("temp dir");

    let text = logged(dir.path(), "text", "info").await;
    let lines = access_lines(&text);
    assert_eq!(lines.len(), 1, "{text}");
    let (time, rest) = lines[0].split_once(' ').expect("a time");
    assert!(time.len() == 27 && time.ends_with('Z'), "{}", lines[0]);
    let rest = rest.rsplit_once(" micros=").expect("the duration").0;
    assert_eq!(
        rest,
        " INFO tfa_gateway::proxy: request method=GET path=/reports/q3 status=404 outcome=forward client=127.0.0.1"
    );
    assert!(!text.contains("Secret4242"), "the query string is never logged: {text}");

    let json = logged(dir.path(), "json", "info").await;
    let lines = access_lines(&json);
    assert_eq!(lines.len(), 1, "{json}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
    assert_eq!(line["target"], "tfa_gateway::proxy");
    assert_eq!(line["message"], "request");
    assert_eq!(line["path"], "/reports/q3");
    assert_eq!(line["status"], 404);
    assert_eq!(line["outcome"], "forward");
    assert!(line["micros"].is_u64(), "{line}");

    for quiet in ["warn", "info,tfa_gateway::proxy=warn"] {
        let text = logged(dir.path(), "text", quiet).await;
        assert_eq!(access_lines(&text), Vec::<&str>::new(), "RUST_LOG={quiet}");
    }
}
