//! Limits on wrong guesses at a secret (second-factor codes, enrollment
//! codes, passwords). Consecutive failures are counted per user (across all
//! of their sessions) and per client address; past a limit further attempts
//! are refused until a lockout ends, and each new lockout of the same user or
//! address lasts twice as long as the last.
//!
//! A user's success resets that user's count. It does not reset the
//! address's: an address's count is what it did against everyone, and one
//! user's success there (the attacker's own account, say) must not wipe out
//! its guesses for others. Only that address's failures against the same
//! user are forgiven, which were most likely the user's own typing.
//!
//! A locked address does not lock out everyone behind it: many people share
//! one address behind a proxy or a NAT, and an attacker there could lock
//! them all with failures on accounts of their own. A locked address may
//! still try for a user with fewer than `LOCKED_ADDRESS_GRACE` failures of
//! their own, so a person whose count is clean (or who mistyped once) signs
//! in; guesses for users who already failed wait for the lockout to end. An
//! attacker holding many users' passwords thus gets a couple of guesses per
//! user past the address's limit, not the per-user limit per lockout.
//!
//! Counting happens here, in memory; a user's counter is also
//! saved to the store after each change and put back at start-up
//! (`Gateway::save_throttle`, `restore_user`), so a restart or a crash
//! neither lifts a user's lockout nor resets their count. Per-address
//! counters are not saved: a restart starts them afresh, and the per-user
//! limit, which an attacker cannot shed by changing address, still holds.
//!
//! This is a consecutive-failure lockout, not a request-rate limit, so it is
//! a few lines here rather than a token-bucket crate.

use std::collections::HashMap;
use std::net::IpAddr;

use dashmap::{DashMap, DashSet};
use serde::{Deserialize, Serialize};

use crate::client_addr::limit_key_of;
use crate::env::UnixSeconds;

/// The longest lockout, however often it repeats.
const MAX_LOCKOUT_SECS: u64 = 24 * 3600;

/// A locked address may still try for a user with fewer failures than this:
/// one typo is common; a second guess for the same user from a locked
/// address is the pattern of guessing, not of typing.
pub const LOCKED_ADDRESS_GRACE: u32 = 2;

/// How many users' failures an address's counter remembers one by one (to
/// forgive them on that user's success). Failures beyond it still count but
/// are never forgiven, so the memory an address costs stays small.
const ATTRIBUTED_USERS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_user: u32,
    pub per_client: u32,
    pub lockout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Locked { retry_after_secs: u64 },
}

/// What a failure led to, for the audit trail and the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterFailure {
    /// Attempts left before the user is locked out (0 when locked now).
    pub attempts_left: u32,
    /// This failure started a lockout (of the user or of the address).
    pub locked_now: bool,
    /// How long this user must wait before trying again from this address,
    /// if they must.
    pub retry_after: Option<u64>,
}

/// One user's or address's consecutive failures and lockouts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    failures: u32,
    lockouts: u32,
    locked_until: UnixSeconds,
    last_failure: UnixSeconds,
}

impl Counter {
    fn retry_after(&self, now: UnixSeconds) -> Option<u64> {
        (self.locked_until > now).then(|| self.locked_until - now)
    }

    /// Counts a failure; returns true if it started a lockout.
    fn fail(&mut self, now: UnixSeconds, limit: u32, base: u64) -> bool {
        if self.locked_until != 0 && self.locked_until <= now {
            // A lockout ended: a fresh allowance, but the next lockout is longer.
            self.failures = 0;
            self.locked_until = 0;
        }
        self.failures += 1;
        self.last_failure = now;
        if self.failures >= limit && self.locked_until <= now {
            self.lockouts += 1;
            let factor = 1u64 << (self.lockouts - 1).min(16);
            self.locked_until = now + base.saturating_mul(factor).min(MAX_LOCKOUT_SECS);
            return true;
        }
        false
    }
}

/// An address's failures, and against whom, to forgive a user's own.
#[derive(Debug, Default)]
struct ClientCounter {
    counter: Counter,
    against: HashMap<String, u32>,
}

impl ClientCounter {
    fn fail(&mut self, user: &str, now: UnixSeconds, limit: u32, base: u64) -> bool {
        if self.counter.locked_until != 0 && self.counter.locked_until <= now {
            // The lockout ended and `fail` starts a fresh allowance.
            self.against.clear();
        }
        let locked = self.counter.fail(now, limit, base);
        if let Some(n) = self.against.get_mut(user) {
            *n += 1;
        } else if self.against.len() < ATTRIBUTED_USERS {
            self.against.insert(user.to_string(), 1);
        }
        locked
    }

    /// Takes back this address's failures against `user`; a lockout that
    /// is running keeps running.
    fn forgive(&mut self, user: &str) {
        if let Some(n) = self.against.remove(user) {
            self.counter.failures = self.counter.failures.saturating_sub(n);
        }
    }
}

pub struct Throttle {
    limits: Limits,
    users: DashMap<String, Counter>,
    /// Keyed by `client_addr::limit_key`.
    clients: DashMap<IpAddr, ClientCounter>,
    /// Users with a guess being checked right now.
    checking: DashSet<String>,
}

/// A user's check in progress; the next may start when it is dropped.
pub struct Checking<'a> {
    throttle: &'a Throttle,
    user: String,
}

impl Drop for Checking<'_> {
    fn drop(&mut self) {
        self.throttle.checking.remove(&self.user);
    }
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Throttle {
            limits,
            users: DashMap::new(),
            clients: DashMap::new(),
            checking: DashSet::new(),
        }
    }

    /// Claims the one check a user may have running; `None` while another
    /// runs. Without this, a burst of concurrent wrong guesses would all
    /// pass `check` before the first failure was counted, and each would
    /// cost a hash or an upstream call: the limit would bound nothing.
    pub fn begin(&self, user: &str) -> Option<Checking<'_>> {
        self.checking.insert(user.to_string()).then(|| Checking {
            throttle: self,
            user: user.to_string(),
        })
    }

    /// Whether an attempt by `user` from `client` may be checked at all.
    pub fn check(&self, user: &str, client: Option<&str>, now: UnixSeconds) -> Verdict {
        let own = self.users.get(user).map(|c| *c).unwrap_or_default();
        let by_user = own.retry_after(now);
        // A user with a clean count is never held back by their address.
        let by_client = (own.failures >= LOCKED_ADDRESS_GRACE)
            .then(|| client.and_then(limit_key_of))
            .flatten()
            .and_then(|ip| self.clients.get(&ip).and_then(|c| c.counter.retry_after(now)));
        match by_user.into_iter().chain(by_client).max() {
            Some(retry_after_secs) => Verdict::Locked { retry_after_secs },
            None => Verdict::Allowed,
        }
    }

    pub fn failure(&self, user: &str, client: Option<&str>, now: UnixSeconds) -> AfterFailure {
        let (locked_now, failures) = {
            let mut c = self.users.entry(user.to_string()).or_default();
            let locked = c.fail(now, self.limits.per_user, self.limits.lockout_secs);
            (locked, c.failures)
        };
        let client_locked = client.and_then(limit_key_of).is_some_and(|ip| {
            self.clients
                .entry(ip)
                .or_default()
                .fail(user, now, self.limits.per_client, self.limits.lockout_secs)
        });
        let retry_after = match self.check(user, client, now) {
            Verdict::Locked { retry_after_secs } => Some(retry_after_secs),
            Verdict::Allowed => None,
        };
        AfterFailure {
            attempts_left: self.limits.per_user.saturating_sub(failures),
            locked_now: locked_now || client_locked,
            retry_after,
        }
    }

    /// The user's counter, to be saved after it changed.
    pub fn user_counter(&self, user: &str) -> Option<Counter> {
        self.users.get(user).map(|c| *c)
    }

    /// Puts back a user's counter saved before a restart.
    pub fn restore_user(&self, user: &str, counter: Counter) {
        self.users.insert(user.to_string(), counter);
    }

    /// A right guess by `user`: their count starts again, and `client`'s
    /// failures against them are forgiven; its failures against others stay.
    pub fn success(&self, user: &str, client: Option<&str>) {
        if let Some(mut c) = self.users.get_mut(user) {
            c.failures = 0;
        }
        if let Some(ip) = client.and_then(limit_key_of) {
            if let Some(mut c) = self.clients.get_mut(&ip) {
                c.forgive(user);
            }
        }
    }

    /// Forgets counters with no failure for a day and no lockout running,
    /// so addresses that tried once do not pile up.
    pub fn sweep(&self, now: UnixSeconds) {
        let stale = |c: &Counter| c.locked_until <= now && c.last_failure + MAX_LOCKOUT_SECS < now;
        self.users.retain(|_, c| !stale(c));
        self.clients.retain(|_, c| !stale(&c.counter));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(Limits {
            per_user: 3,
            per_client: 5,
            lockout_secs: 60,
        })
    }

    #[test]
    fn user_is_locked_after_the_limit_in_any_session() {
        let t = throttle();
        assert_eq!(t.failure("bob", Some("1.1.1.1"), 100).attempts_left, 2);
        assert_eq!(t.failure("bob", Some("2.2.2.2"), 101).attempts_left, 1);
        let last = t.failure("bob", None, 102);
        assert!(last.locked_now);
        assert_eq!(
            t.check("bob", Some("3.3.3.3"), 110),
            Verdict::Locked { retry_after_secs: 52 }
        );
        assert_eq!(t.check("alice", Some("3.3.3.3"), 110), Verdict::Allowed);
    }

    #[test]
    fn lockout_ends_and_the_next_one_lasts_longer() {
        let t = throttle();
        for s in 0..3 {
            t.failure("bob", None, 100 + s);
        }
        assert_eq!(t.check("bob", None, 162), Verdict::Allowed);
        for s in 0..3 {
            t.failure("bob", None, 200 + s);
        }
        assert_eq!(t.check("bob", None, 202), Verdict::Locked { retry_after_secs: 120 });
    }

    #[test]
    fn success_resets_the_consecutive_count() {
        let t = throttle();
        t.failure("bob", None, 100);
        t.failure("bob", None, 101);
        t.success("bob", None);
        assert_eq!(t.failure("bob", None, 102).attempts_left, 2);
    }

    #[test]
    fn an_address_past_its_limit_is_refused_for_users_who_already_failed() {
        let t = throttle();
        for (i, user) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            t.failure(user, Some("6.6.6.6"), 100 + i as u64);
        }
        t.failure("a", Some("7.7.7.7"), 106);
        assert!(matches!(t.check("a", Some("6.6.6.6"), 107), Verdict::Locked { .. }));
        assert_eq!(t.check("a", Some("7.7.7.7"), 107), Verdict::Allowed, "another address");
    }

    #[test]
    fn a_locked_address_still_lets_a_user_with_a_clean_count_try() {
        let t = throttle();
        for i in 0..5 {
            t.failure("mallory", Some("6.6.6.6"), 100 + i);
        }
        assert_eq!(t.check("alice", Some("6.6.6.6"), 106), Verdict::Allowed);
        let typo = t.failure("alice", Some("6.6.6.6"), 106);
        assert_eq!(typo.retry_after, None, "one typo behind a locked address");
        assert!(t.failure("alice", Some("6.6.6.6"), 107).retry_after.is_some());
    }

    #[test]
    fn another_users_success_does_not_reset_the_address() {
        let t = throttle();
        for i in 0..4 {
            t.failure(&format!("victim{i}"), Some("6.6.6.6"), 100);
        }
        t.success("mallory", Some("6.6.6.6"));
        assert!(
            t.failure("victim0", Some("6.6.6.6"), 101).locked_now,
            "the fifth failure"
        );
    }

    #[test]
    fn a_users_success_forgives_the_addresss_failures_against_them() {
        let t = throttle();
        for _ in 0..2 {
            t.failure("alice", Some("6.6.6.6"), 100);
        }
        t.success("alice", Some("6.6.6.6"));
        for i in 0..4 {
            assert!(!t.failure(&format!("u{i}"), Some("6.6.6.6"), 101).locked_now);
        }
    }

    #[test]
    fn addresses_of_one_ipv6_network_share_a_count() {
        let t = throttle();
        for i in 0..5 {
            t.failure("bob", Some(&format!("2001:db8::{i}")), 100);
        }
        assert!(t.clients.len() == 1);
    }

    #[test]
    fn restored_counter_keeps_the_lockout() {
        let t = throttle();
        for s in 0..3 {
            t.failure("bob", None, 100 + s);
        }
        let saved = t.user_counter("bob").unwrap();
        let after_restart = throttle();
        after_restart.restore_user("bob", saved);
        assert!(matches!(after_restart.check("bob", None, 110), Verdict::Locked { .. }));
    }

    #[test]
    fn a_user_has_one_check_at_a_time() {
        let t = throttle();
        let first = t.begin("bob").expect("nothing running");
        assert!(t.begin("bob").is_none(), "a second concurrent check is refused");
        assert!(t.begin("alice").is_some(), "other users are not held up");
        drop(first);
        assert!(t.begin("bob").is_some(), "free again once the check ended");
    }

    #[test]
    fn sweep_forgets_old_counters_but_not_running_lockouts() {
        let t = throttle();
        t.failure("old", None, 0);
        t.sweep(MAX_LOCKOUT_SECS + 10);
        assert_eq!(t.users.len(), 0);
    }
}
