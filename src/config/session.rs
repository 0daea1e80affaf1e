//! The `[session]` section: how long sessions live and how many one user
//! may hold, validated into `SessionSettings`.

use super::bounded;
use super::file::RawSession;

/// Sessions one user may hold: enough for every browser and device a
/// person uses, few enough that a sign-in loop cannot grow the table.
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 20;
/// Sign-ins waiting for a second factor: a person has one or two at a time.
pub const DEFAULT_MAX_PENDING_PER_USER: usize = 5;

#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// Longest life of a signed-in session, whatever its activity.
    pub lifetime_secs: u64,
    /// A session unused this long ends.
    pub idle_timeout_secs: u64,
    /// How long a sign-in may wait for its second factor.
    pub pending_timeout_secs: u64,
    /// Signed-in sessions one user may hold at once; the oldest ends first.
    pub max_per_user: usize,
    /// Sign-ins of one user that may wait for a second factor at once.
    pub max_pending_per_user: usize,
}

impl SessionSettings {
    /// How often a gateway sweeps its sessions and saves their activity: a
    /// minute, or a quarter of the idle timeout where that is shorter.
    /// Another replica asks the store before it ends a session it saw idle,
    /// so the activity saved there must never be so old that a session in
    /// use looks idle (see `Gateway::idle_everywhere`).
    pub fn sweep_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs((self.idle_timeout_secs / 4).clamp(1, 60))
    }
}

/// Every timeout at least a minute (a shorter one ends sessions while a
/// person reads a page); the caps from 1 to 1,000.
pub(super) fn validate(raw: &RawSession) -> Result<SessionSettings, (&'static str, String)> {
    let cap = |key, value, default| bounded(key, value, default, 1..=1000);
    let session = SessionSettings {
        lifetime_secs: raw.lifetime_seconds.unwrap_or(12 * 3600),
        idle_timeout_secs: raw.idle_timeout_seconds.unwrap_or(2 * 3600),
        pending_timeout_secs: raw.pending_timeout_seconds.unwrap_or(600),
        max_per_user: cap("session.max_per_user", raw.max_per_user, DEFAULT_MAX_SESSIONS_PER_USER)?,
        max_pending_per_user: cap(
            "session.max_pending_per_user",
            raw.max_pending_per_user,
            DEFAULT_MAX_PENDING_PER_USER,
        )?,
    };
    for (key, v) in [
        ("session.lifetime_seconds", session.lifetime_secs),
        ("session.idle_timeout_seconds", session.idle_timeout_secs),
        ("session.pending_timeout_seconds", session.pending_timeout_secs),
    ] {
        if v < 60 {
            return Err((key, format!("{v} is too short (at least 60)")));
        }
    }
    Ok(session)
}
