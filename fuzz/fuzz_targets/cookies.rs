//! Cookie and session decoding at the edge. The input is lines: the first
//! names the upstream's session cookie (empty: `dash_session`), the rest are
//! header values, read both as `Cookie` headers from a browser and as
//! `Set-Cookie` headers from the upstream. Checked, besides "no panic":
//! the parsed pairs are well formed; the `Cookie` header sent upstream never
//! carries the gateway's cookie nor a client-sent upstream session cookie,
//! in any spelling a dashboard's server reads as the same name (percent-
//! encoded, or hidden after white space in a value too), only the one
//! the gateway chose to keep; forward authentication's "exactly one, the
//! session's own" holds only when it is so; a session is found only by its
//! own token, and it claims only its own upstream cookie.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tfa_gateway::config::SessionSettings;
use tfa_gateway::cookies::{effect, pairs, sole, upstream_header, values, values_set, SetCookieEffect};
use tfa_gateway::env::Env;
use tfa_gateway::lookalike::{cookie_read_as, same};
use tfa_gateway::secretbox::SecretKey;
use tfa_gateway::session::{SessionTable, Stage};

const GATEWAY_COOKIE: &str = "tfa_session";
const BOUND_UPSTREAM_COOKIE: &str = "upstream-session-value";

/// One signed-in session, started through the public API, and its token.
fn table() -> &'static (SessionTable, Env, String) {
    static TABLE: OnceLock<(SessionTable, Env, String)> = OnceLock::new();
    TABLE.get_or_init(|| {
        let day = 86_400;
        let table = SessionTable::new(
            SessionSettings {
                lifetime_secs: 365 * day,
                idle_timeout_secs: 365 * day,
                pending_timeout_secs: day,
                max_per_user: 20,
                max_pending_per_user: 5,
            },
            SecretKey::generate(&Env::real()).0,
        );
        let env = Env::real();
        let (token, _, _) = table.start(&env, "u-fuzz", BOUND_UPSTREAM_COOKIE, Stage::Authenticated);
        (table, env, token)
    })
}

fn names_of<'a>(p: &[(&'a str, &'a str)]) -> Vec<&'a str> {
    p.iter().map(|(n, _)| *n).collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let name = match lines.next().unwrap_or_default() {
        "" => "dash_session",
        n => n,
    };
    let headers: Vec<&str> = lines.collect();

    // Browser -> gateway: the Cookie headers.
    let p = pairs(headers.iter().copied());
    for (n, v) in &p {
        assert!(!n.is_empty() && *n == n.trim(), "badly trimmed name {n:?}");
        assert!(!n.contains([';', '=']), "name {n:?} spans a separator");
        assert!(!v.contains(';'), "value {v:?} spans a separator");
    }
    let candidates: Vec<&str> = values(p.iter().copied(), name).collect();
    assert_eq!(candidates.len(), p.iter().filter(|(n, _)| *n == name).count());

    // Gateway -> upstream: drop ours and theirs, keep at most the verified one.
    // Pairs with a comma are not forwarded (no valid cookie has one, and an
    // RFC 2109 upstream splits on commas). The kept value is one the
    // upstream itself set, so it has none either.
    let drop = [GATEWAY_COOKIE, name];
    let keep = candidates.iter().find(|v| !v.contains(',')).map(|v| (name, *v));
    for keep in [None, keep] {
        let sent = upstream_header(p.iter().copied(), &drop, keep);
        let mut expected: Vec<&str> = p
            .iter()
            .filter(|(n, v)| !drop.iter().any(|d| cookie_read_as(n, v, d)) && !n.contains(',') && !v.contains(','))
            .map(|(n, _)| *n)
            .collect();
        expected.extend(keep.map(|(n, _)| n));
        match &sent {
            None => assert!(expected.is_empty(), "no Cookie header, yet {expected:?} should be sent"),
            Some(h) => {
                let seen = pairs([h.as_str()]);
                assert_eq!(
                    names_of(&seen),
                    expected,
                    "upstream would read other cookies from {h:?}"
                );
                // Nor one hidden in another pair, or percent-encoded.
                let hidden = seen
                    .iter()
                    .filter(|(n, v)| drop.iter().any(|d| cookie_read_as(n, v, d)))
                    .count();
                assert_eq!(hidden, usize::from(keep.is_some()), "a session cookie in disguise in {h:?}");
                // Read the old way, splitting on commas too: still only ours.
                let legacy = pairs(h.split(','));
                let session_cookies = legacy.iter().filter(|(n, _)| drop.iter().any(|d| same(n, d))).count();
                assert!(
                    session_cookies <= usize::from(keep.is_some()),
                    "a comma-splitting upstream would read a smuggled cookie from {h:?}"
                );
            }
        }
    }

    // Forward authentication: one cookie of that name in any spelling, the
    // session's own, none hidden in another pair, or no approval.
    let spelled = p.iter().filter(|(n, _)| same(n, name)).count();
    let disguised = p.iter().any(|(n, v)| !same(n, name) && cookie_read_as(n, v, name));
    assert_eq!(
        sole(p.iter().copied(), name, BOUND_UPSTREAM_COOKIE),
        spelled == 1 && candidates == [BOUND_UPSTREAM_COOKIE] && !disguised,
        "sole disagrees about {p:?}"
    );

    // The session check, with the token as the proxy finds it and as raw text.
    let (sessions, env, token) = table();
    let now = env.now();
    let tokens = [
        values(p.iter().copied(), GATEWAY_COOKIE).next(),
        headers.first().copied(),
        Some(name),
    ];
    for t in tokens.into_iter().flatten() {
        let found = sessions.check(Some(t), candidates.iter().copied(), now);
        assert_eq!(
            found.is_some(),
            t == token.as_str(),
            "token {t:?} found the wrong session"
        );
    }
    let found = sessions
        .check(Some(token), candidates.iter().copied(), now)
        .expect("the session's own token finds it");
    let owned = candidates.iter().find(|c| **c == BOUND_UPSTREAM_COOKIE).copied();
    assert_eq!(
        found.upstream_cookie.as_deref(),
        owned,
        "the session claimed a cookie it was not bound to"
    );
    assert!(sessions.check(None, candidates.iter().copied(), now).is_none());

    // Upstream -> gateway: Set-Cookie headers, at the edges of time too.
    for now in [0, 1_700_000_000, u64::MAX] {
        for h in &headers {
            if let SetCookieEffect::Sets(v) = effect(h, name, now) {
                assert!(!v.is_empty(), "an empty value counts as clearing");
            }
        }
        let set: Vec<String> = values_set(headers.iter().copied(), name, now).collect();
        assert!(set.len() <= headers.len());
    }
});
