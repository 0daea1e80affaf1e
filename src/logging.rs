//! Logging setup: tracing to standard error, as text or JSON lines, level
//! from `RUST_LOG` (default `info`). What the gateway logs is chosen at each
//! call site; no call site logs a cookie, a token, a password or a code.
//! Libraries' `log` records (Pingora's among them) are bridged in by
//! `bridge`, which withholds any request text they quote.
//!
//! The text lines come from `Line`, not tracing-subscriber's default
//! formatter: every request writes one, and the default spent more on it
//! (RFC 3339 time, field values through `Debug`, colour wrappers even when
//! off) than the gateway's whole check, a quarter of the gap to a bare
//! Pingora proxy in BENCHMARKS.md. The line reads the same.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

mod access;
mod bridge;

pub use access::Access;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Text => install(builder.event_format(Line).finish()),
        LogFormat::Json => install(builder.json().flatten_event(true).finish()),
    };
    match result {
        Err(e) => eprintln!("logging was already set up: {e}"),
        // Lines this subscriber would write to standard error as `Line`.
        Ok(()) if format == LogFormat::Text => access::write_directly(),
        Ok(()) => {}
    }
}

/// Makes `subscriber` the global one and bridges `log` records into it
/// through `bridge` (what tracing-subscriber's `try_init` would do with its
/// own, unfiltered bridge).
fn install<S>(subscriber: S) -> Result<(), String>
where
    S: Subscriber + Send + Sync + 'static,
{
    use tracing_log::AsLog as _;
    tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())?;
    log::set_boxed_logger(Box::new(bridge::Bridge::new())).map_err(|e| e.to_string())?;
    // After the subscriber is set, so that its level is the one read.
    log::set_max_level(tracing::level_filters::LevelFilter::current().as_log());
    Ok(())
}

/// One text line per event: `2026-11-25T10:10:15.123456Z  INFO target:
/// message key=value ...`, values written as they are unless they hold a
/// space, a quote, a backslash or anything but printable ASCII, which are
/// quoted and escaped so that no value can start a line of its own.
pub struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        // The line is built in a `String` and handed on in one write: each
        // of the thirty-odd pieces through `Writer` (a `dyn fmt::Write`)
        // cost an indirect call.
        with_line(|line| {
            format_line(line, event)?;
            w.write_str(line)
        })
    }
}

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` with this thread's line buffer, emptied. A line formatted while
/// another is (a `Debug` value that logs) finds it taken and gets its own.
fn with_line<R>(f: impl FnOnce(&mut String) -> R) -> R {
    LINE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            f(&mut line)
        }
        Err(_) => f(&mut String::new()),
    })
}

fn format_line(w: &mut String, event: &Event<'_>) -> fmt::Result {
    let meta = event.normalized_metadata();
    let meta = meta.as_ref().unwrap_or_else(|| event.metadata());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    write_time(w, now.as_secs(), now.subsec_micros())?;
    let level = match *meta.level() {
        tracing::Level::ERROR => "ERROR",
        tracing::Level::WARN => " WARN",
        tracing::Level::INFO => " INFO",
        tracing::Level::DEBUG => "DEBUG",
        tracing::Level::TRACE => "TRACE",
    };
    w.write_str(" ")?;
    w.write_str(level)?;
    w.write_str(" ")?;
    w.write_str(meta.target())?;
    w.write_str(":")?;
    let mut fields = Fields { w, result: Ok(()) };
    event.record(&mut fields);
    fields.result?;
    w.write_char('\n')
}

struct Fields<'a> {
    w: &'a mut String,
    result: fmt::Result,
}

impl Fields<'_> {
    /// Whether to write this field: not after a failed write, and not the
    /// `log.target`, `log.file` ... fields a bridged `log` record carries
    /// (its target is already the line's target, as in tracing's own format).
    fn writes(&self, field: &Field) -> bool {
        self.result.is_ok() && !field.name().starts_with("log.")
    }

    fn name(&mut self, field: &Field) -> fmt::Result {
        self.w.write_char(' ')?;
        let name = field.name();
        if name != "message" {
            // `r#type` and the like are recorded with their raw prefix.
            // (`strip_prefix`, not `trim_start_matches`: that one sets up a
            // substring searcher on every call, per field, per request.)
            self.w.write_str(name.strip_prefix("r#").unwrap_or(name))?;
            self.w.write_char('=')?;
        }
        Ok(())
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.writes(field) {
            return;
        }
        self.result = self.name(field).and_then(|_| match field.name() {
            "message" => self.w.write_str(value),
            _ => write_value(self.w, value),
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.writes(field) {
            // itoa: the access line's status and duration, without `fmt`'s
            // machinery.
            self.result = self
                .name(field)
                .and_then(|_| self.w.write_str(itoa::Buffer::new().format(value)));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.writes(field) {
            self.result = self
                .name(field)
                .and_then(|_| self.w.write_str(itoa::Buffer::new().format(value)));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.writes(field) {
            self.result = self
                .name(field)
                .and_then(|_| self.w.write_str(if value { "true" } else { "false" }));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.writes(field) {
            self.result = self.name(field).and_then(|_| write!(self.w, "{value:?}"));
        }
    }
}

/// A field's text value: bare if `is_plain`, else quoted and escaped.
fn write_value(w: &mut String, value: &str) -> fmt::Result {
    match is_plain(value) {
        true => w.write_str(value),
        false => write!(w, "{value:?}"),
    }
}

/// Whether a value can be written bare and still be read back as one value.
fn is_plain(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

thread_local! {
    /// The date and time of day last written by this thread, to the second:
    /// most lines fall in the same second as the one before.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Writes `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (UTC).
fn write_time(w: &mut impl fmt::Write, secs: u64, micros: u32) -> fmt::Result {
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let (y, m, d) = civil_from_days((secs / 86_400) as i64);
            let t = secs % 86_400;
            cached.1.clear();
            write!(
                cached.1,
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
                t / 3600,
                t / 60 % 60,
                t % 60
            )?;
            cached.0 = secs;
        }
        w.write_str(&cached.1)?;
        // `.uuuuuuZ` by hand: `write!` with a width costs more than the rest.
        let mut frac = *b".000000Z";
        let mut m = micros.min(999_999);
        for d in frac[1..7].iter_mut().rev() {
            *d = b'0' + (m % 10) as u8;
            m /= 10;
        }
        w.write_str(std::str::from_utf8(&frac).map_err(|_| fmt::Error)?)
    })
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    fn time(secs: u64, micros: u32) -> String {
        let mut s = String::new();
        write_time(&mut s, secs, micros).expect("write to a string");
        s
    }

    #[test]
    fn times_are_utc_dates_with_microseconds() {
        assert_eq!(time(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(time(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        assert_eq!(time(1_795_604_415, 123_456), "2026-11-25T11:00:15.123456Z");
        assert_eq!(time(4_102_444_799, 999_999), "2099-12-31T23:59:59.999999Z");
        assert_eq!(time(4_102_444_800, 0), "2100-01-01T00:00:00.000000Z");
    }

    #[test]
    fn every_day_of_four_centuries_follows_the_one_before() {
        let (mut y, mut m, mut d) = civil_from_days(-1);
        for day in 0..146_097 {
            let next = civil_from_days(day);
            let days_in_month = match m {
                2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let expected = if d < days_in_month {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            assert_eq!(next, expected, "day {day}");
            (y, m, d) = next;
        }
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    pub(super) fn logged(f: impl FnOnce()) -> String {
        let out = Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .event_format(Line)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = out.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn a_request_line_has_its_message_first_and_each_field_once() {
        let line = logged(|| {
            tracing::info!(
                method = "GET",
                path = "/bench",
                status = 200u16,
                outcome = "forward",
                micros = 53u64,
                error = None::<&str>,
                "request"
            )
        });
        let (time, rest) = line.split_once(' ').expect("a time");
        assert!(time.ends_with('Z') && time.len() == 27, "{line}");
        assert_eq!(
            rest,
            " INFO tfa_gateway::logging::tests: request method=GET path=/bench status=200 outcome=forward micros=53\n"
        );
    }

    #[test]
    fn values_that_could_forge_a_line_are_quoted_and_escaped() {
        let line = logged(|| tracing::warn!(path = "/a b\n2026 INFO forged", "odd"));
        assert!(
            line.ends_with("WARN tfa_gateway::logging::tests: odd path=\"/a b\\n2026 INFO forged\"\n"),
            "{line}"
        );
        assert_eq!(line.lines().count(), 1);
        let line = logged(|| tracing::info!(who = "", "empty"));
        assert!(line.ends_with("empty who=\"\"\n"), "{line}");
    }

    #[test]
    fn the_source_fields_of_a_bridged_log_record_are_left_out() {
        let line = logged(|| tracing::info!(log.target = "pingora", log.line = 189u64, "Bootstrap done"));
        assert!(
            line.ends_with(" INFO tfa_gateway::logging::tests: Bootstrap done\n"),
            "{line}"
        );
    }

    #[test]
    fn displayed_values_and_formatted_messages_are_written_as_text() {
        let e = std::io::Error::other("disk full");
        let line = logged(|| tracing::error!(error = %e, "cannot save {}", 3));
        assert!(
            line.ends_with("ERROR tfa_gateway::logging::tests: cannot save 3 error=disk full\n"),
            "{line}"
        );
    }
}
