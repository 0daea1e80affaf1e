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
//! The counters live in the store, changed by atomic updates, so every
//! replica counts toward one lockout per user and per address, and a
//! restart or a crash lifts none. An attempt is counted as a failure
//! *before* its guess is checked (`reserve`) and taken back if it was right
//! (`Throttle::right`): concurrent guesses through several replicas are
//! thus each counted before any is judged, and the limit holds exactly.
//!
//! This is a consecutive-failure lockout, not a request-rate limit, so it is
//! a few lines here rather than a token-bucket crate.

use std::collections::HashMap;

use dashmap::DashSet;
use serde::{Deserialize, Serialize};

use crate::client_addr::limit_key_of;
use crate::env::UnixSeconds;
use crate::store::{Store, StoreError};

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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
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

    /// No failure for a day and no lockout running: worth forgetting.
    pub fn stale(&self, now: UnixSeconds) -> bool {
        self.locked_until <= now && self.last_failure + MAX_LOCKOUT_SECS < now
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
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCounter {
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

    pub fn stale(&self, now: UnixSeconds) -> bool {
        self.counter.stale(now)
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
    store: Store,
    /// Users with a guess being checked right now through this replica.
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

/// Why an attempt may not be checked.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("locked out for {retry_after_secs} s")]
    Locked { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An attempt already counted as a failure, to be taken back if right.
#[derive(Debug)]
pub struct Reserved {
    user: String,
    client: Option<String>,
    before: Counter,
    counted: Counter,
    /// The address's counter before and after this attempt.
    address: Option<(ClientCounter, ClientCounter)>,
    /// What the failure led to, should the guess be wrong.
    pub after: AfterFailure,
}

impl Throttle {
    pub fn new(limits: Limits, store: Store) -> Self {
        Throttle {
            limits,
            store,
            checking: DashSet::new(),
        }
    }

    /// Claims the one check a user may have running through this replica;
    /// `None` while another runs. Without this, a burst of concurrent
    /// guesses would each cost a hash or an upstream call before the
    /// lockout could refuse them.
    pub fn begin(&self, user: &str) -> Option<Checking<'_>> {
        self.checking.insert(user.to_string()).then(|| Checking {
            throttle: self,
            user: user.to_string(),
        })
    }

    /// Counts an attempt by `user` from `client` as a failure, unless the
    /// user (or, for a user who already failed, the address) is locked out.
    /// A right guess then takes it back (`right`).
    pub async fn reserve(&self, user: &str, client: Option<&str>, now: UnixSeconds) -> Result<Reserved, Refused> {
        let limits = self.limits;
        let client = client.and_then(limit_key_of).map(|ip| ip.to_string());
        let address = match &client {
            Some(key) => self.store.client_counter(key).await?.unwrap_or_default(),
            None => ClientCounter::default(),
        };
        let (before, counted, user_locked) = self
            .store
            .update_user_counter(user, |c| {
                // A user with a clean count is never held back by their address.
                let by_address = (c.failures >= LOCKED_ADDRESS_GRACE)
                    .then(|| address.counter.retry_after(now))
                    .flatten();
                if let Some(retry_after_secs) = c.retry_after(now).into_iter().chain(by_address).max() {
                    return Err(Refused::Locked { retry_after_secs });
                }
                let before = *c;
                let locked = c.fail(now, limits.per_user, limits.lockout_secs);
                Ok((before, *c, locked))
            })
            .await?;
        let (address_locked, address) = match &client {
            Some(key) => {
                self.store
                    .update_client_counter::<_, StoreError>(key, |a| {
                        let before = a.clone();
                        let locked = a.fail(user, now, limits.per_client, limits.lockout_secs);
                        Ok((locked, Some((before, a.clone()))))
                    })
                    .await?
            }
            None => (false, None),
        };
        let by_address = (counted.failures >= LOCKED_ADDRESS_GRACE)
            .then(|| address.as_ref().and_then(|(_, a)| a.counter.retry_after(now)))
            .flatten();
        Ok(Reserved {
            user: user.to_string(),
            client,
            before,
            counted,
            address,
            after: AfterFailure {
                attempts_left: limits.per_user.saturating_sub(counted.failures),
                locked_now: user_locked || address_locked,
                retry_after: counted.retry_after(now).into_iter().chain(by_address).max(),
            },
        })
    }

    /// A right guess: the user's count starts again (and a lockout that
    /// its own reservation began is undone), and the address's failures
    /// against this user are forgiven; its failures against others stay.
    pub async fn right(&self, r: Reserved) -> Result<(), StoreError> {
        self.take_back(r, true).await
    }

    /// An attempt that was never judged (the dashboard or the store failed
    /// meanwhile): its count is taken back where nothing else counted since,
    /// so an outage locks nobody out.
    pub async fn cancel(&self, r: Reserved) -> Result<(), StoreError> {
        self.take_back(r, false).await
    }

    /// Restores both counters to what they were before `r` counted, where
    /// nothing else counted since; `right` also clears the user's count and
    /// forgives the address's failures against them.
    async fn take_back(&self, r: Reserved, right: bool) -> Result<(), StoreError> {
        self.store
            .update_user_counter::<_, StoreError>(&r.user, |c| {
                if *c == r.counted {
                    *c = r.before;
                }
                if right {
                    c.failures = 0;
                }
                Ok(())
            })
            .await?;
        if let (Some(key), Some((before, counted))) = (&r.client, &r.address) {
            self.store
                .update_client_counter::<_, StoreError>(key, |a| {
                    if a == counted {
                        *a = before.clone();
                    }
                    if right {
                        a.forgive(&r.user);
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(())
    }

    /// Forgets counters with no failure for a day and no lockout running,
    /// so addresses that tried once do not pile up.
    pub async fn sweep(&self, now: UnixSeconds) -> Result<(), StoreError> {
        self.store.forget_stale_counters(now).await
    }
}

#[cfg(test)]
mod tests;
