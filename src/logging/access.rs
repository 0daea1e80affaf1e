//! The access line: one per request, so the one line worth a path of its
//! own. With the text format it is written here directly, byte for byte
//! the line `Line` would write for the same event (a test holds the two
//! together), but without tracing's dispatch and per-field visitor, which
//! cost as much again as the writing (BENCHMARKS.md). `RUST_LOG` still
//! decides whether it is written. With the JSON format, or any subscriber
//! but the one `init` installs, it goes through tracing as any event.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The line's target, as if logged from the proxy's own module.
const TARGET: &str = "tfa_gateway::proxy";

/// Set by `init` when the text format writes to standard error.
static DIRECT: AtomicBool = AtomicBool::new(false);

pub(super) fn write_directly() {
    DIRECT.store(true, Ordering::Relaxed);
}

/// One request, as logged: never a cookie, a header or the query string.
pub struct Access<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub outcome: &'a str,
    pub client: &'a str,
    pub micros: u64,
    /// Pingora's name for what failed, if anything did.
    pub error: Option<&'a str>,
}

impl Access<'_> {
    pub fn log(&self) {
        if !DIRECT.load(Ordering::Relaxed) {
            return self.through_tracing();
        }
        if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
            return;
        }
        super::with_line(|line| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            if self.write(line, now.as_secs(), now.subsec_micros()).is_ok() {
                // One write per line, as tracing's writer makes it; a full
                // or closed standard error loses the line, not the request.
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        });
    }

    fn through_tracing(&self) {
        tracing::info!(
            target: TARGET,
            method = self.method,
            path = self.path,
            status = self.status,
            outcome = self.outcome,
            client = self.client,
            micros = self.micros,
            error = self.error,
            "request"
        );
    }

    /// The line `Line` writes for `through_tracing`'s event.
    fn write(&self, w: &mut String, secs: u64, micros: u32) -> std::fmt::Result {
        super::write_time(w, secs, micros)?;
        w.push_str("  INFO ");
        w.push_str(TARGET);
        w.push_str(": request");
        for (name, value) in [
            (" method=", self.method),
            (" path=", self.path),
            (" status=", itoa::Buffer::new().format(self.status)),
            (" outcome=", self.outcome),
            (" client=", self.client),
            (" micros=", itoa::Buffer::new().format(self.micros)),
        ] {
            w.push_str(name);
            super::write_value(w, value)?;
        }
        if let Some(e) = self.error {
            w.push_str(" error=");
            super::write_value(w, e)?;
        }
        w.write_char('\n')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through_tracing(a: &Access<'_>) -> String {
        super::super::tests::logged(|| a.through_tracing())
    }

    #[test]
    fn the_direct_line_is_the_line_tracing_writes() {
        for a in [
            Access {
                method: "GET",
                path: "/bench",
                status: 200,
                outcome: "forward",
                client: "127.0.0.1",
                micros: 53,
                error: None,
            },
            Access {
                method: "POST",
                path: "/a b\n2026 INFO forged\"\\",
                status: 0,
                outcome: "own",
                client: "2001:db8::1",
                micros: u64::MAX,
                error: Some("ConnectionClosed"),
            },
            Access {
                method: "",
                path: "/é",
                status: 502,
                outcome: "deny",
                client: "-",
                micros: 0,
                error: Some(""),
            },
        ] {
            let traced = through_tracing(&a);
            let (_, rest) = traced.split_once(' ').expect("a time");
            let mut direct = String::new();
            a.write(&mut direct, 1_795_604_415, 123_456).expect("written");
            assert_eq!(direct, format!("2026-11-25T11:00:15.123456Z {rest}"));
        }
    }
}
