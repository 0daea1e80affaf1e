//! The bridge that brings libraries' `log` records (Pingora, rustls, sled)
//! into tracing, with one rule applied on the way: a library's message is
//! kept only up to the first sign of request text in it.
//!
//! Libraries cannot know what in a request is secret. Pingora, for one,
//! quotes the raw bytes of a request it cannot parse in its error
//! (`buf: "GET /?code=… HTTP/1.1\r\nAuthorization: Bearer …\r\nCookie: …"`),
//! and logs that error: at `error` on the admin listener, at `debug` on the
//! proxy's; at `debug` and `trace` it prints parsed headers, request
//! summaries and body chunks. Rather than list such places (the next Pingora
//! release may add one), the rule keys on how printed request bytes look:
//!
//! - a header can only follow a line end, which is never printed bare in a
//!   log line: it is a raw control character, or escaped (`\r\n`) inside a
//!   string (`"…"`), a character list (`['\r', …]`) or a byte list
//!   (`[13, 10, …]`);
//! - Pingora's raw dump starts at `buf:` with the request line, whose query
//!   string starts at a `?`.
//!
//! The message is cut at the first control character, backslash, quote,
//! apostrophe, `?`, byte list or `buf:`, and the rest replaced with
//! [`WITHHELD`]: what failed (`Downstream InvalidHTTPHeader`) stays, the
//! request does not. Some harmless detail goes too (a library's quoted file
//! name, say); that is the price of a rule that does not depend on knowing
//! every message. The gateway's own code logs through tracing with chosen
//! fields and does not pass here.

use std::borrow::Cow;

use tracing_log::LogTracer;

/// What replaces the cut part of a library's message.
pub const WITHHELD: &str = "[request text withheld]";

/// A library's message up to the first sign of request text.
pub fn withhold_request_text(message: &str) -> Cow<'_, str> {
    let cut = message
        .char_indices()
        .find(|&(at, c)| match c {
            '\\' | '"' | '\'' | '?' => true,
            '[' => is_byte_list(&message[at + 1..]),
            'b' => message[at..].starts_with("buf:"),
            c => c.is_control(),
        })
        .map(|(at, _)| at);
    match cut {
        None => Cow::Borrowed(message),
        Some(at) => {
            let kept = message[..at].trim_end();
            Cow::Owned(if kept.is_empty() {
                WITHHELD.to_string()
            } else {
                format!("{kept} {WITHHELD}")
            })
        }
    }
}

/// Whether the text after a `[` is a list of numbers (`83, 101, …]`), as
/// bytes are printed, rather than an IPv6 address (`::1]`).
fn is_byte_list(rest: &str) -> bool {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(rest.as_bytes().get(digits), Some(b',' | b']'))
}

/// A `log::Log` that passes each record to tracing's `LogTracer` with its
/// message cut by [`withhold_request_text`].
pub struct Bridge(LogTracer);

impl Bridge {
    pub fn new() -> Self {
        Bridge(LogTracer::new())
    }
}

impl Default for Bridge {
    fn default() -> Self {
        Bridge::new()
    }
}

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        // Formatting costs an allocation: only for records that are written.
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        let kept = withhold_request_text(&text);
        self.0.log(
            &log::Record::builder()
                .metadata(record.metadata().clone())
                .args(format_args!("{kept}"))
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_request_in_a_pingora_error_is_cut_before_its_first_byte() {
        let message = "HTTP server fails to read from downstream: Downstream InvalidHTTPHeader \
                       context: buf: GET /?code=1 HTTP/1.1\\r\\nAuthorization: Bearer tok\\r\\n cause: invalid token";
        assert_eq!(
            withhold_request_text(message),
            "HTTP server fails to read from downstream: Downstream InvalidHTTPHeader context: \
             [request text withheld]"
        );
    }

    #[test]
    fn quoted_text_escaped_bytes_and_raw_line_ends_are_withheld() {
        let cases = [
            (
                "Fail to proxy: Downstream InvalidHTTPHeader context: buf: \"GET / HTTP/1.1\"",
                "Fail to proxy: Downstream InvalidHTTPHeader context:",
            ),
            (
                "Invalid chunked encoding: InvalidChunkSize, \"zz\\r\\npassword=x\"",
                "Invalid chunked encoding: InvalidChunkSize,",
            ),
            (
                "Request header: RequestHeader { headers: {\"cookie\": \"a=b\"} }",
                "Request header: RequestHeader { headers: {",
            ),
            ("line one\nCookie: a=b", "line one"),
            ("a NUL\0Cookie: a=b", "a NUL"),
            ("GET a\\x00b", "GET a"),
            ("chunk: Chars(['p', 'a', 's', 's'])", "chunk: Chars(["),
            ("rewind_read_buf: [71, 69, 84]", "rewind_read_"),
            ("body [112, 97]", "body"),
        ];
        for (message, kept) in cases {
            assert_eq!(
                withhold_request_text(message),
                format!("{kept} {WITHHELD}"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_query_string_in_a_request_summary_is_withheld() {
        assert_eq!(
            withhold_request_text("HTTP server fails to write to downstream: x, GET /audit?account=acme, Host: h"),
            format!("HTTP server fails to write to downstream: x, GET /audit {WITHHELD}")
        );
    }

    #[test]
    fn messages_without_request_text_pass_unchanged() {
        for message in [
            "Bootstrap done",
            "Fail to proxy: Upstream ConnectRefused context: Fail to connect to 127.0.0.1:1 cause: Connection refused (os error 111)",
            "TLS accept() failed: Downstream TLSHandshakeFailure",
            "Fail to connect to [::1]:8080 or [2001:db8::7]:80",
        ] {
            assert!(matches!(withhold_request_text(message), Cow::Borrowed(m) if m == message));
        }
    }

    #[test]
    fn a_message_that_starts_with_request_text_is_withheld_whole() {
        assert_eq!(withhold_request_text("\"Authorization: Bearer x\""), WITHHELD);
    }
}
