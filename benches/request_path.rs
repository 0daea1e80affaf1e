//! The other pieces of a signed-in request besides the session check
//! (benches/session_check.rs): reading the gateway token and the dashboard
//! cookie out of the browser's Cookie header, the policy decision, and
//! building the Cookie header the dashboard gets, and looking through the
//! request's header names for spellings of the headers the gateway sets or
//! trusts (`lookalike`). Each should be a small
//! fraction of a microsecond; benches/load/instructions.sh puts them in
//! the context of a whole proxied request.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use tfa_gateway::config::Route;
use tfa_gateway::cookies;
use tfa_gateway::lookalike;
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

/// The header names a browser's navigation typically sends.
const HEADER_NAMES: &[&str] = &[
    "host",
    "user-agent",
    "accept",
    "accept-language",
    "accept-encoding",
    "referer",
    "cookie",
    "upgrade-insecure-requests",
    "sec-fetch-dest",
    "sec-fetch-mode",
];

fn header_names(c: &mut Criterion) {
    c.bench_function("lookalike/ten_request_headers", |b| {
        b.iter(|| {
            black_box(HEADER_NAMES)
                .iter()
                .any(|n| lookalike::reserved_header(n, Some("x-tfa-user")))
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
        sign_in: &[],
        step_up: &[],
    };
    let facts = Facts {
        method: &Method::GET,
        path: "/reports/2026/q4",
        target: "/reports/2026/q4?tab=summary",
        client: ClientKind::Navigation,
        host_missing: false,
        target_unreadable: false,
        asked_about: None,
        session: SessionFacts::Authenticated { upstream_cookie: true },
        user: UserFacts::UNKNOWN,
        factor_age: Some(60),
    };
    c.bench_function("policy/signed_in_forward", |b| {
        b.iter(|| decide(black_box(&facts), black_box(&routes)))
    });
    // The demo's one step-up rule, on a path it does not hold: what every
    // signed-in request pays for the feature.
    let rules = [tfa_gateway::config::StepUp {
        path_prefix: "/settings/billing".into(),
        max_age_secs: 300,
    }];
    let with_step_up = Routes {
        step_up: &rules,
        ..routes
    };
    let mut enrolled = facts;
    enrolled.user.second_factor = true;
    c.bench_function("policy/signed_in_forward_with_a_step_up_rule", |b| {
        b.iter(|| decide(black_box(&enrolled), black_box(&with_step_up)))
    });
}

criterion_group!(benches, cookie_decoding, header_names, policy_decision);
criterion_main!(benches);
