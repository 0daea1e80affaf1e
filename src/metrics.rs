//! Counters for `GET /metrics`, in the Prometheus text format. Plain atomics:
//! counting must cost nothing next to the request it counts, and the few
//! series here do not justify a metrics library.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the check-latency histogram, in microseconds.
const BUCKETS_US: [u64; 8] = [5, 10, 25, 50, 100, 250, 1000, 10_000];

/// The request outcomes counted by `requests_total{decision=...}`.
pub const DECISIONS: [&str; 6] = ["forward", "own", "login", "redirect", "deny", "logout"];

#[derive(Default)]
pub struct Metrics {
    decisions: [AtomicU64; 6],
    pub challenges_passed: AtomicU64,
    pub challenges_failed: AtomicU64,
    pub lockouts: AtomicU64,
    pub enrollments: AtomicU64,
    pub step_ups: AtomicU64,
    pub sessions_revoked: AtomicU64,
    pub sms_sent: AtomicU64,
    pub sms_failures: AtomicU64,
    /// Requests the dashboard did not answer (502, 504).
    pub upstream_errors: AtomicU64,
    check_buckets: [AtomicU64; 8],
    check_count: AtomicU64,
    check_sum_us: AtomicU64,
}

impl Metrics {
    pub fn decision(&self, name: &str) {
        if let Some(i) = DECISIONS.iter().position(|d| *d == name) {
            self.decisions[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long the per-request check (session, policy) took.
    pub fn check_latency(&self, micros: u64) {
        for (i, bound) in BUCKETS_US.iter().enumerate() {
            if micros <= *bound {
                self.check_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.check_count.fetch_add(1, Ordering::Relaxed);
        self.check_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition; `sessions` is the live session count,
    /// `store_reads` the store's read counter (see `Store::reads`).
    pub fn render(&self, sessions: usize, users_held: usize, store: StoreGauges) -> String {
        let StoreGauges { reads: store_reads, up } = store;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        out.push_str(
            "# HELP tfa_requests_total Requests by the gateway's decision.\n# TYPE tfa_requests_total counter\n",
        );
        for (i, d) in DECISIONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "tfa_requests_total{{decision=\"{d}\"}} {}",
                load(&self.decisions[i])
            );
        }
        for (name, help, c) in [
            (
                "tfa_challenges_passed_total",
                "Second-factor challenges passed.",
                &self.challenges_passed,
            ),
            (
                "tfa_challenges_failed_total",
                "Wrong second-factor codes.",
                &self.challenges_failed,
            ),
            (
                "tfa_lockouts_total",
                "Lockouts after too many wrong codes or passwords.",
                &self.lockouts,
            ),
            ("tfa_enrollments_total", "Second factors enabled.", &self.enrollments),
            (
                "tfa_step_ups_total",
                "Second factors passed again for a step-up path.",
                &self.step_ups,
            ),
            (
                "tfa_sessions_revoked_total",
                "Sessions signed out by their user or an operator.",
                &self.sessions_revoked,
            ),
            (
                "tfa_sms_sent_total",
                "SMS codes handed to the provider.",
                &self.sms_sent,
            ),
            (
                "tfa_sms_failures_total",
                "SMS codes the provider did not take.",
                &self.sms_failures,
            ),
            (
                "tfa_upstream_errors_total",
                "Requests the dashboard did not answer (the gateway answered 502 or 504).",
                &self.upstream_errors,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", load(c));
        }
        out.push_str("# HELP tfa_sessions Live gateway sessions.\n# TYPE tfa_sessions gauge\n");
        let _ = writeln!(out, "tfa_sessions {sessions}");
        out.push_str(
            "# HELP tfa_users_held Users held in memory: those with a session here, and those seen in the last minutes.\n\
             # TYPE tfa_users_held gauge\n",
        );
        let _ = writeln!(out, "tfa_users_held {users_held}");
        out.push_str(
            "# HELP tfa_store_reads_total Reads of the store; requests of signed-in users add none.\n\
             # TYPE tfa_store_reads_total counter\n",
        );
        let _ = writeln!(out, "tfa_store_reads_total {store_reads}");
        out.push_str(
            "# HELP tfa_store_up Whether the store answered when last asked (1) or not (0).\n\
             # TYPE tfa_store_up gauge\n",
        );
        let _ = writeln!(out, "tfa_store_up {}", u8::from(up));
        out.push_str("# HELP tfa_check_seconds Time of the per-request session check and decision.\n");
        out.push_str("# TYPE tfa_check_seconds histogram\n");
        for (i, bound) in BUCKETS_US.iter().enumerate() {
            let le = *bound as f64 / 1e6;
            let _ = writeln!(
                out,
                "tfa_check_seconds_bucket{{le=\"{le}\"}} {}",
                load(&self.check_buckets[i])
            );
        }
        let count = load(&self.check_count);
        let _ = writeln!(out, "tfa_check_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "tfa_check_seconds_sum {}", load(&self.check_sum_us) as f64 / 1e6);
        let _ = writeln!(out, "tfa_check_seconds_count {count}");
        out
    }
}

/// What the store reports about itself.
#[derive(Debug, Clone, Copy)]
pub struct StoreGauges {
    pub reads: u64,
    pub up: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.check_latency(7);
        m.check_latency(300);
        let text = m.render(3, 1, StoreGauges { reads: 5, up: true });
        assert!(text.contains("tfa_check_seconds_bucket{le=\"0.00001\"} 1"), "{text}");
        assert!(text.contains("tfa_check_seconds_bucket{le=\"0.001\"} 2"), "{text}");
        assert!(text.contains("tfa_check_seconds_count 2"));
        assert!(text.contains("tfa_sessions 3"));
        assert!(text.contains("tfa_store_reads_total 5"));
    }

    #[test]
    fn decisions_are_counted_by_name() {
        let m = Metrics::default();
        m.decision("forward");
        m.decision("forward");
        m.decision("unknown");
        assert!(m
            .render(0, 0, StoreGauges { reads: 0, up: false })
            .contains("tfa_requests_total{decision=\"forward\"} 2"));
    }
}
