//! The session table's rules, with an injected clock.

use super::*;
use crate::env::testing::env_at;
use crate::store::SessionRecord;

fn settings() -> SessionSettings {
    SessionSettings {
        lifetime_secs: 3600,
        idle_timeout_secs: 600,
        pending_timeout_secs: 120,
        max_per_user: 3,
        max_pending_per_user: 2,
    }
}

fn table(env: &Env) -> SessionTable {
    SessionTable::new(settings(), SecretKey::generate(env).0)
}

#[test]
fn session_is_found_by_token_and_owns_only_its_upstream_cookie() {
    let (env, _) = env_at(1000);
    let t = table(&env);
    let (token, _, _) = t.start(&env, "u-bob", "up-1", Stage::Authenticated);
    let found = t.check(Some(&token), ["forged", "up-1"], 1001).unwrap();
    assert_eq!(found.upstream_cookie.as_deref(), Some("up-1"));
    assert!(t
        .check(Some(&token), ["forged"], 1001)
        .unwrap()
        .upstream_cookie
        .is_none());
    assert!(t.check(Some("invented"), ["up-1"], 1001).is_none());
    // Compared with the value itself: no near miss is the cookie.
    for near in ["up-", "up-11", "UP-1", "up-2", ""] {
        let found = t.check(Some(&token), [near], 1001).unwrap();
        assert!(found.upstream_cookie.is_none(), "{near:?}");
    }
}

#[test]
fn idle_session_expires() {
    let (env, _) = env_at(1000);
    let t = table(&env);
    let (token, _, _) = t.start(&env, "u-bob", "up-1", Stage::Authenticated);
    assert!(t.check(Some(&token), [], 1500).is_some());
    assert!(t.check(Some(&token), [], 2099).is_some(), "use at 1500 kept it alive");
    assert!(t.check(Some(&token), [], 2700).is_none());
}

#[test]
fn busy_session_still_ends_at_its_lifetime() {
    let (env, _) = env_at(1000);
    let t = table(&env);
    let (token, _, _) = t.start(&env, "u-bob", "up-1", Stage::Authenticated);
    for now in (1300..4600).step_by(300) {
        assert!(
            t.check(Some(&token), [], now).is_some(),
            "used every 5 minutes, alive at {now}"
        );
    }
    assert!(
        t.check(Some(&token), [], 4601).is_none(),
        "an hour after sign-in it is over"
    );
    assert!(t.check(Some(&token), [], 4602).is_none(), "and removed, not revived");
}

#[test]
fn restore_drops_sessions_that_expired_while_the_gateway_was_down() {
    let (env, _) = env_at(10_000);
    let t = table(&env);
    let record = |token: &str, created, last_seen| SessionRecord {
        token_hash: hash(token),
        user_id: "u-bob".into(),
        upstream_cookie_hash: hash("up"),
        created,
        last_seen,
        ..Default::default()
    };
    assert!(t.restore(&env, &record("fresh", 9_000, 9_900)));
    assert!(
        !t.restore(&env, &record("idle", 9_000, 9_300)),
        "unused for 700 s, past the 600 s idle timeout"
    );
    assert!(
        !t.restore(&env, &record("old", 6_000, 9_990)),
        "in use, but 4000 s old, past the 3600 s lifetime"
    );
    assert_eq!(t.len(), 1, "only the live session is loaded");
    assert!(t.check(Some("fresh"), ["up"], 10_000).is_some());
}

#[test]
fn release_gives_a_new_token_and_voids_the_old_one() {
    let (env, _) = env_at(1000);
    let t = table(&env);
    let held = vec!["dash_session=up-1; Path=/".to_string()];
    let (old, old_hash, _) = t.start(
        &env,
        "u-bob",
        "up-1",
        Stage::Pending {
            held_set_cookies: held.clone(),
        },
    );
    let (new, _, s, released) = t.release(&env, &old_hash).unwrap();
    assert_ne!(old, new);
    assert_eq!(released, held);
    assert_eq!(s.stage, Stage::Authenticated);
    assert!(t.check(Some(&old), [], 1001).is_none());
    assert!(t.check(Some(&new), [], 1001).is_some());
}

#[test]
fn pending_session_expires_sooner() {
    let (env, _) = env_at(1000);
    let t = table(&env);
    let (token, _, _) = t.start(
        &env,
        "u-bob",
        "up",
        Stage::Pending {
            held_set_cookies: vec![],
        },
    );
    assert!(t.check(Some(&token), [], 1121).is_none());
}

#[test]
fn rebind_follows_a_rotated_upstream_cookie() {
    let (env, _) = env_at(1000);
    let t = table(&env);
    let (token, h, _) = t.start(&env, "u-bob", "up-1", Stage::Authenticated);
    t.rebind(&env, &h, "up-2");
    let found = t.check(Some(&token), ["up-1", "up-2"], 1001).unwrap();
    assert_eq!(found.upstream_cookie.as_deref(), Some("up-2"));
}

#[test]
fn a_forced_enrollment_is_noted_once_per_session_even_across_a_rebind() {
    let (env, _) = env_at(1000);
    let t = table(&env);
    let (token, h, _) = t.start(&env, "u-bob", "up-1", Stage::Authenticated);
    let (other, _, _) = t.start(&env, "u-bob", "up-9", Stage::Authenticated);
    let session = |tok: &str, up: &str| t.check(Some(tok), [up], 1001).unwrap().session;
    assert!(session(&token, "up-1").first_forced_enrollment());
    assert!(!session(&token, "up-1").first_forced_enrollment());
    t.rebind(&env, &h, "up-2");
    assert!(!session(&token, "up-2").first_forced_enrollment(), "kept by a rebind");
    assert!(
        session(&other, "up-9").first_forced_enrollment(),
        "another session is another notice"
    );
}

#[test]
fn sweep_reports_expired_idle_and_recently_used_sessions() {
    let (env, _) = env_at(1000);
    let t = table(&env);
    let (a, ha, _) = t.start(&env, "u-a", "x", Stage::Authenticated);
    let (_, hb, _) = t.start(&env, "u-b", "y", Stage::Authenticated);
    t.check(Some(&a), [], 1500);
    let (_, hc, _) = t.start(
        &env,
        "u-c",
        "z",
        Stage::Pending {
            held_set_cookies: vec!["held".into()],
        },
    );
    let swept = t.sweep(1650, 1400);
    assert_eq!(swept.gone, [hc], "the abandoned sign-in is stored too");
    let signed_out: Vec<&str> = swept.sign_out.iter().map(|c| &**c).collect();
    assert_eq!(signed_out, ["z"], "the abandoned sign-in's");
    // Unused here for the idle timeout, within its lifetime: another
    // replica may have used it, so it is not ended yet, only let go.
    let idle: Vec<_> = swept
        .idle
        .iter()
        .map(|(h, s)| (*h, s.upstream_cookie().cloned()))
        .collect();
    assert_eq!(idle, [(hb, Some(Arc::from("y")))]);
    assert_eq!(swept.active, [(ha, 1500)]);
    assert_eq!(t.len(), 1);

    // Past its lifetime, a session ends however recently it was used.
    for at in (2000..=4500).step_by(500) {
        assert!(t.check(Some(&a), [], at).is_some(), "in use at {at}");
    }
    let swept = t.sweep(4600, 4400);
    assert_eq!((swept.gone, swept.idle.len()), (vec![ha], 0));
    assert_eq!(t.len(), 0);
}

#[test]
fn a_users_oldest_sessions_end_past_the_cap_and_other_users_keep_theirs() {
    let (env, clock) = env_at(1000);
    let t = table(&env);
    let (other, _, _) = t.start(&env, "u-other", "o", Stage::Authenticated);
    let mut tokens = Vec::new();
    for i in 0..5 {
        clock.advance(1);
        let (token, _, _) = t.start(&env, "u-bob", &format!("up-{i}"), Stage::Authenticated);
        tokens.push(token);
    }
    let ended = t.over_cap("u-bob");
    let cookies: Vec<&str> = ended.iter().map(|(_, s)| &**s.upstream_cookie().unwrap()).collect();
    assert_eq!(cookies, ["up-0", "up-1"], "the two oldest of five, past a cap of three");
    assert!(t.check(Some(&tokens[0]), [], 1010).is_none());
    assert!(t.check(Some(&tokens[4]), [], 1010).is_some());
    assert!(t.check(Some(&other), [], 1010).is_some());
    assert_eq!(t.of_user("u-bob").len(), 3);
    assert!(t.over_cap("u-bob").is_empty());
}

#[test]
fn pending_sign_ins_are_capped_apart_from_signed_in_sessions() {
    let (env, clock) = env_at(1000);
    let t = table(&env);
    let pending = || Stage::Pending {
        held_set_cookies: vec![],
    };
    for i in 0..3 {
        clock.advance(1);
        t.start(&env, "u-bob", &format!("s-{i}"), Stage::Authenticated);
        t.start(&env, "u-bob", &format!("p-{i}"), pending());
    }
    let ended = t.over_cap("u-bob");
    let cookies: Vec<&str> = ended.iter().map(|(_, s)| &**s.upstream_cookie().unwrap()).collect();
    assert_eq!(cookies, ["p-0"], "three pending past a cap of two; three signed in fit");
}

#[test]
fn the_dashboard_cookie_survives_a_restart_sealed_and_only_under_its_token() {
    let (env, _) = env_at(1000);
    let key = SecretKey::generate(&env).0;
    let t = SessionTable::new(settings(), key.clone());
    let (token, h, s) = t.start(&env, "u-bob", "dash-cookie-value", Stage::Authenticated);
    let record = s.to_record(h);
    let sealed = record.sealed_upstream_cookie.clone().expect("kept");
    assert!(
        !sealed.windows(17).any(|w| w == b"dash-cookie-value"),
        "sealed, not in the clear"
    );
    let restarted = SessionTable::new(settings(), key.clone());
    assert!(restarted.restore(&env, &record));
    let found = restarted.check(Some(&token), ["dash-cookie-value"], 1001).unwrap();
    assert_eq!(found.session.upstream_cookie().map(|c| &**c), Some("dash-cookie-value"));
    // Moved onto another token, the sealed cookie does not open.
    let moved = SessionRecord {
        token_hash: hash("another"),
        ..record
    };
    let other = SessionTable::new(settings(), key);
    assert!(other.restore(&env, &moved), "the session itself still works");
    assert!(other.of_user("u-bob")[0].1.upstream_cookie().is_none());
}

#[test]
fn a_stored_session_is_judged_expired_from_its_record_alone() {
    let (env, _) = env_at(1000);
    let t = table(&env);
    let (_, h, s) = t.start(&env, "u-a", "dash-cookie", Stage::Authenticated);
    let record = s.to_record(h);
    let idle = t.settings.idle_timeout_secs;
    assert_eq!(t.expired_record(&record, 1000 + idle - 1), None);
    assert_eq!(
        t.expired_record(&record, 1000 + idle),
        Some(Some("dash-cookie".to_string())),
        "with the dashboard cookie to sign out"
    );
    let (_, h, s) = t.start(
        &env,
        "u-b",
        "other",
        Stage::Pending {
            held_set_cookies: vec!["held".into()],
        },
    );
    let pending = s.to_record(h);
    let wait = t.settings.pending_timeout_secs;
    assert_eq!(t.expired_record(&pending, 1000 + wait - 1), None);
    assert!(t.expired_record(&pending, 1000 + wait).is_some());
}
