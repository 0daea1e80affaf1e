//! The lockout rules over a real (temporary) store.

use super::*;

fn throttle() -> (Throttle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        per_user: 3,
        per_client: 5,
        lockout_secs: 60,
    };
    (Throttle::new(limits, Store::open(dir.path()).unwrap()), dir)
}

/// A wrong guess: counted, never taken back.
async fn failure(t: &Throttle, user: &str, client: Option<&str>, now: UnixSeconds) -> AfterFailure {
    t.reserve(user, client, now).await.expect("not locked").after
}

async fn check(t: &Throttle, user: &str, client: Option<&str>, now: UnixSeconds) -> Verdict {
    match t.reserve(user, client, now).await {
        Ok(r) => {
            t.right(r).await.unwrap();
            Verdict::Allowed
        }
        Err(Refused::Locked { retry_after_secs }) => Verdict::Locked { retry_after_secs },
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn user_is_locked_after_the_limit_in_any_session() {
    let (t, _d) = throttle();
    assert_eq!(failure(&t, "bob", Some("1.1.1.1"), 100).await.attempts_left, 2);
    assert_eq!(failure(&t, "bob", Some("2.2.2.2"), 101).await.attempts_left, 1);
    let last = failure(&t, "bob", None, 102).await;
    assert!(last.locked_now);
    assert_eq!(
        check(&t, "bob", Some("3.3.3.3"), 110).await,
        Verdict::Locked { retry_after_secs: 52 }
    );
    assert_eq!(check(&t, "alice", Some("3.3.3.3"), 110).await, Verdict::Allowed);
}

#[tokio::test]
async fn lockout_ends_and_the_next_one_lasts_longer() {
    let (t, _d) = throttle();
    for s in 0..3 {
        failure(&t, "bob", None, 100 + s).await;
    }
    for s in 0..3 {
        failure(&t, "bob", None, 200 + s).await;
    }
    assert_eq!(
        check(&t, "bob", None, 202).await,
        Verdict::Locked { retry_after_secs: 120 }
    );
}

#[tokio::test]
async fn a_right_guess_resets_the_consecutive_count() {
    let (t, _d) = throttle();
    failure(&t, "bob", None, 100).await;
    failure(&t, "bob", None, 101).await;
    assert_eq!(check(&t, "bob", None, 102).await, Verdict::Allowed);
    assert_eq!(failure(&t, "bob", None, 103).await.attempts_left, 2);
}

#[tokio::test]
async fn a_right_guess_at_the_limit_does_not_lock_its_own_user_out() {
    let (t, _d) = throttle();
    failure(&t, "bob", None, 100).await;
    failure(&t, "bob", None, 101).await;
    // The third attempt is counted (and would lock) before it is judged.
    assert_eq!(check(&t, "bob", None, 102).await, Verdict::Allowed);
    assert_eq!(check(&t, "bob", None, 103).await, Verdict::Allowed);
}

#[tokio::test]
async fn concurrent_attempts_are_each_counted_before_any_is_judged() {
    let (t, _d) = throttle();
    let held: Vec<_> = futures_util::future::join_all((0..3).map(|_| t.reserve("bob", None, 100))).await;
    assert!(held.iter().all(Result::is_ok), "three attempts fit the limit");
    assert!(matches!(t.reserve("bob", None, 100).await, Err(Refused::Locked { .. })));
}

#[tokio::test]
async fn an_address_past_its_limit_is_refused_for_users_who_already_failed() {
    let (t, _d) = throttle();
    for (i, user) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        failure(&t, user, Some("6.6.6.6"), 100 + i as u64).await;
    }
    failure(&t, "a", Some("7.7.7.7"), 106).await;
    assert!(matches!(
        check(&t, "a", Some("6.6.6.6"), 107).await,
        Verdict::Locked { .. }
    ));
    assert_eq!(
        check(&t, "a", Some("7.7.7.7"), 107).await,
        Verdict::Allowed,
        "another address"
    );
}

#[tokio::test]
async fn a_locked_address_still_lets_a_user_with_a_clean_count_try() {
    let (t, _d) = throttle();
    for i in 0..5 {
        failure(&t, &format!("mallory{i}"), Some("6.6.6.6"), 100 + i).await;
    }
    let typo = failure(&t, "alice", Some("6.6.6.6"), 106).await;
    assert_eq!(typo.retry_after, None, "one typo behind a locked address");
    assert!(failure(&t, "alice", Some("6.6.6.6"), 107).await.retry_after.is_some());
}

#[tokio::test]
async fn another_users_success_does_not_reset_the_address() {
    let (t, _d) = throttle();
    for i in 0..4 {
        failure(&t, &format!("victim{i}"), Some("6.6.6.6"), 100).await;
    }
    assert_eq!(check(&t, "mallory", Some("6.6.6.6"), 100).await, Verdict::Allowed);
    assert!(
        failure(&t, "victim0", Some("6.6.6.6"), 101).await.locked_now,
        "the fifth failure"
    );
}

#[tokio::test]
async fn a_users_success_forgives_the_addresss_failures_against_them() {
    let (t, _d) = throttle();
    for _ in 0..2 {
        failure(&t, "alice", Some("6.6.6.6"), 100).await;
    }
    assert_eq!(check(&t, "alice", Some("6.6.6.6"), 100).await, Verdict::Allowed);
    for i in 0..4 {
        assert!(!failure(&t, &format!("u{i}"), Some("6.6.6.6"), 101).await.locked_now);
    }
}

#[tokio::test]
async fn addresses_of_one_ipv6_network_share_a_count() {
    let (t, _d) = throttle();
    for i in 0..4 {
        failure(&t, &format!("u{i}"), Some(&format!("2001:db8::{i}")), 100).await;
    }
    assert!(failure(&t, "u9", Some("2001:db8::99"), 100).await.locked_now);
}

#[tokio::test]
async fn a_user_has_one_check_at_a_time() {
    let (t, _d) = throttle();
    let first = t.begin("bob").expect("nothing running");
    assert!(t.begin("bob").is_none(), "a second concurrent check is refused");
    assert!(t.begin("alice").is_some(), "other users are not held up");
    drop(first);
    assert!(t.begin("bob").is_some(), "free again once the check ended");
}

#[tokio::test]
async fn sweep_forgets_old_counters_but_not_running_lockouts() {
    let (t, _d) = throttle();
    failure(&t, "old", Some("6.6.6.6"), 0).await;
    for s in 0..3 {
        failure(&t, "locked", None, MAX_LOCKOUT_SECS + s).await;
    }
    t.sweep(MAX_LOCKOUT_SECS + 10).await.unwrap();
    assert_eq!(
        failure(&t, "old", Some("6.6.6.6"), MAX_LOCKOUT_SECS + 10)
            .await
            .attempts_left,
        2
    );
    assert!(matches!(
        check(&t, "locked", None, MAX_LOCKOUT_SECS + 10).await,
        Verdict::Locked { .. }
    ));
}
