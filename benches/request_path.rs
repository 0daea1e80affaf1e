//! The other pieces of a signed-in request besides the session check
//! (benches/session_check.rs): reading the gateway token and the dashboard
//! cookie out of the browser's Cookie header, the policy decision, and
//! building the Cookie header the dashboard gets. Each should be a small
//! fraction of a microsecond; benches/load/instructions.sh puts them in
//! the context of a whole proxied request.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use tfa_gateway::config::Route;
use tfa_gateway::cookies;
use tfa_gateway::policy::{decide, ClientKind, Facts, Routes, SessionFacts, UserFacts};

const COOKIE: &str = "theme=dark; tfa_session=7pQzV3kq0b6cZl2Yq9rXw4mTnA1sHd8eFg5uJi0oKLc; \
                      dash_session=Yx2cV9bN4mQ7wE1rT6yU3iO8pA5sD0fG2hJ4kL6zX8c; lang=en";

fn cookie_decoding(c: &mut Criterion) {
    c.bench_function("cookies/token_and_candidates", |b| {
        b.iter(|| {
            let pairs = || cookies::pairs_iter([black_box(COOKIE)]);
            let token = cookies::values(pairs(), "tfa_session").next();
            let candidates = cookies::values(pairs(), "dash_session").count();
            (token, candidates)
        })
    });
    c.bench_function("cookies/upstream_header", |b| {
        b.iter(|| {
            cookies::upstream_header(
                cookies::pairs_iter([black_box(COOKIE)]),
                &["tfa_session", "dash_session"],
                Some(("dash_session", "Yx2cV9bN4mQ7wE1rT6yU3iO8pA5sD0fG2hJ4kL6zX8c")),
            )
        })
    });
}

fn policy_decision(c: &mut Criterion) {
    let login = Route {
        method: Method::POST,
        path: "/login".into(),
    };
    let logout = Route {
        method: Method::POST,
        path: "/logout".into(),
    };
    let routes = Routes {
        prefix: "/_2fa",
        login: &login,
        logout: &logout,
    };
    let facts = Facts {
        method: &Method::GET,
        path: "/reports/2026/q4",
        target: "/reports/2026/q4?tab=summary",
        client: ClientKind::Navigation,
        host_missing: false,
        session: SessionFacts::Authenticated { upstream_cookie: true },
        user: UserFacts::UNKNOWN,
    };
    c.bench_function("policy/signed_in_forward", |b| {
        b.iter(|| decide(black_box(&facts), black_box(&routes)))
    });
}

criterion_group!(benches, cookie_decoding, policy_decision);
criterion_main!(benches);
