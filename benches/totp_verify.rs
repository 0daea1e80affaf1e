//! The cost of checking one TOTP code (three candidate steps, constant-time
//! comparison), and of one recovery-code check against ten argon2 hashes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tfa_gateway::env::Env;
use tfa_gateway::{recovery, totp};

fn totp_verification(c: &mut Criterion) {
    let env = Env::real();
    let secret = totp::Secret::generate(&env);
    let now = env.now();
    let code = totp::code_at(&secret, now);
    c.bench_function("totp_verify/right_code", |b| {
        b.iter(|| totp::verify(black_box(&secret), black_box(&code), now, None))
    });
    c.bench_function("totp_verify/wrong_code", |b| {
        b.iter(|| totp::verify(black_box(&secret), black_box("000000"), now, None))
    });
}

fn recovery_check(c: &mut Criterion) {
    let env = Env::real();
    let codes = recovery::generate(&env);
    let hashes = recovery::hash_set(&env, &codes).expect("hash");
    let slots: Vec<Option<&str>> = hashes.iter().map(|h| Some(h.as_str())).collect();
    let mut group = c.benchmark_group("recovery_find");
    group.sample_size(10);
    // One hash per check: the ten slots share a salt (OWASP's 19 MiB, t=2).
    group.bench_function("ten_slots_one_salt", |b| {
        b.iter(|| recovery::find(black_box(&codes[9]), &slots))
    });
    group.finish();
}

criterion_group!(benches, totp_verification, recovery_check);
criterion_main!(benches);
