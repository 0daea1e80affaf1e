//! The gateway's view of the outside world that tests must control: time and
//! randomness. Every module that needs either takes it from here as a value,
//! so a test can freeze the clock or make tokens predictable without globals.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;

/// Seconds since the Unix epoch; the unit every stored timestamp uses.
pub type UnixSeconds = u64;

/// `2026-11-22 23:25:35Z` for Unix seconds (proleptic Gregorian, UTC).
pub fn date_time(t: UnixSeconds) -> String {
    let secs = t % 86_400;
    format!(
        "{} {:02}:{:02}:{:02}Z",
        date(t),
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// `2026-11-30` for Unix seconds (UTC), as pages show a date.
pub fn date(t: UnixSeconds) -> String {
    let (y, m, d) = crate::logging::civil_from_days((t / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> UnixSeconds;
}

/// A source of unpredictable bytes, for tokens and secrets.
pub trait Random: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixSeconds {
        // A clock before 1970 is a broken host; treating it as the epoch makes
        // every session look expired, which fails closed.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

/// The pair every stateful component receives.
#[derive(Clone)]
pub struct Env {
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
}

impl Env {
    pub fn real() -> Self {
        Env {
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
        }
    }

    pub fn now(&self) -> UnixSeconds {
        self.clock.now()
    }

    /// `N` random bytes, base64url without padding: the form of every token
    /// the gateway hands out.
    pub fn token<const N: usize>(&self) -> String {
        use base64::Engine as _;
        let mut bytes = [0u8; N];
        self.random.fill(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}

#[cfg(test)]
pub mod testing {
    //! A clock that tests move by hand and a counter-based "random" source.
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Debug, Default)]
    pub struct FixedClock(pub AtomicU64);

    impl FixedClock {
        pub fn at(t: UnixSeconds) -> Arc<Self> {
            Arc::new(FixedClock(AtomicU64::new(t)))
        }
        pub fn advance(&self, secs: u64) {
            self.0.fetch_add(secs, Ordering::SeqCst);
        }
    }

    impl Clock for FixedClock {
        fn now(&self) -> UnixSeconds {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[derive(Debug, Default)]
    pub struct CountingRandom(pub AtomicU64);

    impl Random for CountingRandom {
        fn fill(&self, buf: &mut [u8]) {
            let n = self.0.fetch_add(1, Ordering::SeqCst).to_le_bytes();
            for (i, b) in buf.iter_mut().enumerate() {
                *b = n[i % 8] ^ (i as u8);
            }
        }
    }

    pub fn env_at(t: UnixSeconds) -> (Env, Arc<FixedClock>) {
        let clock = FixedClock::at(t);
        (
            Env {
                clock: clock.clone(),
                random: Arc::new(CountingRandom::default()),
            },
            clock,
        )
    }
}
