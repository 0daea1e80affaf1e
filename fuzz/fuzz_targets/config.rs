//! The configuration parser: `Config::parse` on any text answers a `Config`
//! or a `ConfigError`, never a panic, and an error names its origin.
//!
//! The parser resolves host names in the three address keys (`getaddrinfo`);
//! a fuzzer must not send DNS queries, so inputs whose addresses are not
//! literal `ip:port` are skipped.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use tfa_gateway::config::Config;

/// Whether parsing `text` could ask a resolver about a name.
fn would_resolve(text: &str) -> bool {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return false;
    };
    let literal = |v: Option<&toml::Value>| match v {
        Some(toml::Value::String(s)) => s.parse::<SocketAddr>().is_ok(),
        _ => true,
    };
    let listeners = doc
        .get("gateway")
        .and_then(|g| g.get("listen"))
        .and_then(|l| l.as_array())
        .map(|a| a.iter().map(|l| l.get("address")).collect::<Vec<_>>())
        .unwrap_or_default();
    let upstream = doc.get("upstream").and_then(|u| u.get("address"));
    let admin = doc.get("admin").and_then(|a| a.get("listen"));
    let all_literal = listeners.into_iter().chain([upstream, admin]).all(literal);
    !all_literal
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if would_resolve(text) {
        return;
    }
    if let Err(e) = Config::parse(text, "fuzz.toml") {
        assert!(e.to_string().starts_with("fuzz.toml"), "an error that does not name its file: {e}");
    }
});
