//! The per-request session check — token hash, map lookup, expiry, upstream
//! cookie comparison — at 10 and at 1,000,000 live sessions. The two should
//! cost about the same: the check is O(1) and never touches the disk.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tfa_gateway::config::SessionSettings;
use tfa_gateway::env::Env;
use tfa_gateway::secretbox::SecretKey;
use tfa_gateway::session::{SessionTable, Stage};

fn table(n: usize) -> (SessionTable, Vec<(String, String)>) {
    let env = Env::real();
    let table = SessionTable::new(
        SessionSettings {
            lifetime_secs: 86_400,
            idle_timeout_secs: 86_400,
            pending_timeout_secs: 600,
            max_per_user: 20,
            max_pending_per_user: 5,
        },
        SecretKey::generate(&env).0,
    );
    let mut probes = Vec::new();
    for i in 0..n {
        let upstream = format!("upstream-cookie-{i}");
        let (token, _, _) = table.start(&env, &format!("user-{i}"), &upstream, Stage::Authenticated);
        // Probes spread over the whole table, so the large case pays for
        // cache misses as a real request mix would.
        if i % (n / 4096).max(1) == 0 {
            probes.push((token, upstream));
        }
    }
    (table, probes)
}

fn session_check(c: &mut Criterion) {
    let now = Env::real().now();
    let mut group = c.benchmark_group("session_check");
    for n in [10usize, 1_000_000] {
        let (table, probes) = table(n);
        group.bench_with_input(BenchmarkId::new("signed_in", n), &n, |b, _| {
            let mut i = 0;
            b.iter(|| {
                let (token, upstream) = &probes[i % probes.len()];
                i += 1;
                let found = table.check(Some(black_box(token)), [black_box(upstream.as_str())], now);
                assert!(found.is_some_and(|f| f.upstream_cookie.is_some()));
            })
        });
        group.bench_with_input(BenchmarkId::new("unknown_token", n), &n, |b, _| {
            b.iter(|| table.check(Some(black_box("not-a-session-token")), ["x"], now))
        });
    }
    group.finish();
}

criterion_group!(benches, session_check);
criterion_main!(benches);
