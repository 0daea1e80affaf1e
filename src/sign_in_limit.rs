//! Sign-in attempts per client address: at most `per_minute` a minute, with
//! a burst of as many, counted before the gateway reads the form or calls
//! the upstream. A password guesser or a script signing in in a loop gets
//! 429 with `Retry-After` and costs the upstream nothing.
//!
//! Each address is one number in memory, the time its allowance is next
//! full (the generic cell rate algorithm: a token bucket without a timer).
//! An address whose allowance is full again is forgotten, by the sweeper and
//! when the map is full; the map never holds more than `MAX_TRACKED`
//! addresses. Past that, while an attacker with very many addresses keeps it
//! full of live entries, new addresses share one allowance: they are slowed
//! together rather than let through uncounted or grown into memory.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use dashmap::DashMap;

use crate::client_addr::limit_key_of;
use crate::env::UnixSeconds;

/// The most addresses remembered at once (some tens of bytes each).
pub const MAX_TRACKED: usize = 100_000;

const WINDOW_MS: u64 = 60_000;

pub struct SignInLimit {
    /// Milliseconds between attempts at the sustained rate.
    interval_ms: u64,
    /// Per address key: when its allowance is full again, in ms.
    full_at: DashMap<IpAddr, u64>,
    /// The allowance shared by addresses that found the map full.
    overflow: Mutex<u64>,
    /// When the map was last swept because it was full, in seconds.
    last_full_sweep: AtomicU64,
    max_tracked: usize,
}

impl SignInLimit {
    pub fn new(per_minute: u32) -> Self {
        SignInLimit::with_capacity(per_minute, MAX_TRACKED)
    }

    fn with_capacity(per_minute: u32, max_tracked: usize) -> Self {
        SignInLimit {
            interval_ms: WINDOW_MS / u64::from(per_minute.max(1)),
            full_at: DashMap::new(),
            overflow: Mutex::new(0),
            last_full_sweep: AtomicU64::new(0),
            max_tracked,
        }
    }

    /// Counts one sign-in attempt from `client`; `Err(seconds)` to wait if
    /// its allowance is spent. Clients without a readable address share one.
    pub fn attempt(&self, client: Option<&str>, now: UnixSeconds) -> Result<(), u64> {
        let now_ms = now.saturating_mul(1000);
        let key = client.and_then(limit_key_of).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if let Some(mut full_at) = self.full_at.get_mut(&key) {
            return self.take(&mut full_at, now_ms);
        }
        if self.full_at.len() >= self.max_tracked {
            self.sweep_when_full(now);
        }
        if self.full_at.len() >= self.max_tracked {
            let mut shared = self.overflow.lock().unwrap_or_else(|e| e.into_inner());
            return self.take(&mut shared, now_ms);
        }
        let mut full_at = self.full_at.entry(key).or_insert(0);
        self.take(&mut full_at, now_ms)
    }

    fn take(&self, full_at: &mut u64, now_ms: u64) -> Result<(), u64> {
        let next = (*full_at).max(now_ms) + self.interval_ms;
        if next - now_ms > WINDOW_MS {
            return Err((next - now_ms - WINDOW_MS).div_ceil(1000).max(1));
        }
        *full_at = next;
        Ok(())
    }

    /// Forgets addresses whose allowance is full again: they are as if new.
    pub fn sweep(&self, now: UnixSeconds) {
        let now_ms = now.saturating_mul(1000);
        self.full_at.retain(|_, full_at| *full_at > now_ms);
    }

    /// A sweep when the map is full, at most once a second: a flood of new
    /// addresses must not make every attempt walk the whole map.
    fn sweep_when_full(&self, now: UnixSeconds) {
        if self.last_full_sweep.swap(now, Ordering::Relaxed) != now {
            self.sweep(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_waits() {
        let limit = SignInLimit::new(3);
        for _ in 0..3 {
            assert_eq!(limit.attempt(Some("192.0.2.1"), 100), Ok(()));
        }
        assert_eq!(limit.attempt(Some("192.0.2.1"), 100), Err(20));
        assert_eq!(limit.attempt(Some("192.0.2.2"), 100), Ok(()), "another address");
        assert_eq!(limit.attempt(Some("192.0.2.1"), 120), Ok(()), "one more after 20 s");
    }

    #[test]
    fn refused_attempts_do_not_push_the_wait_further() {
        let limit = SignInLimit::new(1);
        limit.attempt(Some("192.0.2.1"), 100).unwrap();
        for _ in 0..100 {
            assert!(limit.attempt(Some("192.0.2.1"), 110).is_err());
        }
        assert_eq!(limit.attempt(Some("192.0.2.1"), 160), Ok(()));
    }

    #[test]
    fn an_ipv6_network_shares_one_allowance() {
        let limit = SignInLimit::new(2);
        limit.attempt(Some("2001:db8::1"), 100).unwrap();
        limit.attempt(Some("2001:db8::2"), 100).unwrap();
        assert!(limit.attempt(Some("2001:db8::3"), 100).is_err());
    }

    #[test]
    fn a_full_map_forgets_idle_addresses_then_shares_one_allowance() {
        let limit = SignInLimit::with_capacity(2, 3);
        for i in 0..3 {
            limit.attempt(Some(&format!("192.0.2.{i}")), 100).unwrap();
        }
        // Full of live entries: newcomers share one allowance of two.
        limit.attempt(Some("198.51.100.1"), 100).unwrap();
        limit.attempt(Some("198.51.100.2"), 100).unwrap();
        assert!(limit.attempt(Some("198.51.100.3"), 100).is_err());
        assert_eq!(limit.full_at.len(), 3, "the map did not grow");
        // A minute later the old entries are idle and make room.
        assert_eq!(limit.attempt(Some("198.51.100.3"), 200), Ok(()));
        assert_eq!(limit.full_at.len(), 1);
    }
}
