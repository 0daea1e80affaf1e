//! Gateway sessions, held in memory. A session binds the browser's gateway
//! token to one upstream session (by a hash of the upstream's cookie) and
//! records how far the sign-in has got. The per-request check is a hash and
//! one map lookup: no disk, and the same cost for ten sessions or a million.
//! Persisting signed-in sessions is the caller's job (see `store`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::SessionSettings;
use crate::env::{Env, UnixSeconds};
use crate::store::SessionRecord;

pub type TokenHash = [u8; 32];

pub fn hash(value: &str) -> TokenHash {
    Sha256::digest(value.as_bytes()).into()
}

/// How far a sign-in has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// The upstream accepted the password; its Set-Cookie headers are held
    /// here until the second factor is passed. Never written to disk.
    Pending { held_set_cookies: Vec<String> },
    /// Fully signed in: the upstream's cookie is in the browser and requests
    /// carrying it are forwarded.
    Authenticated,
}

#[derive(Debug)]
pub struct Session {
    pub user_id: Arc<str>,
    pub stage: Stage,
    pub upstream_cookie_hash: TokenHash,
    pub created: UnixSeconds,
    /// The token every form of this session must carry back.
    pub csrf: String,
    last_seen: AtomicU64,
    /// When the user last confirmed their password in this session (0: never).
    confirmed_at: AtomicU64,
    /// The user has seen the grace-period notice in this session.
    grace_acknowledged: AtomicBool,
}

impl Session {
    fn new(env: &Env, user_id: Arc<str>, stage: Stage, upstream_cookie_hash: TokenHash, created: UnixSeconds) -> Self {
        Session {
            user_id,
            stage,
            upstream_cookie_hash,
            created,
            csrf: env.token::<24>(),
            last_seen: AtomicU64::new(created),
            confirmed_at: AtomicU64::new(0),
            grace_acknowledged: AtomicBool::new(false),
        }
    }

    pub fn acknowledge_grace(&self) {
        self.grace_acknowledged.store(true, Ordering::Relaxed);
    }

    pub fn grace_acknowledged(&self) -> bool {
        self.grace_acknowledged.load(Ordering::Relaxed)
    }

    /// Whether `token` is this session's CSRF token, compared in constant time.
    pub fn csrf_matches(&self, token: &str) -> bool {
        token.as_bytes().ct_eq(self.csrf.as_bytes()).into()
    }

    pub fn confirm_password(&self, now: UnixSeconds) {
        self.confirmed_at.store(now, Ordering::Relaxed);
    }

    /// Whether the password was confirmed in this session within `window` seconds.
    pub fn password_confirmed(&self, now: UnixSeconds, window: u64) -> bool {
        let at = self.confirmed_at.load(Ordering::Relaxed);
        at != 0 && now.saturating_sub(at) <= window
    }

    /// Whether `value` is the upstream cookie this session was bound to,
    /// compared in constant time.
    pub fn owns_upstream_cookie(&self, value: &str) -> bool {
        hash(value).ct_eq(&self.upstream_cookie_hash).into()
    }

    pub fn last_seen(&self) -> UnixSeconds {
        self.last_seen.load(Ordering::Relaxed)
    }

    fn expired(&self, now: UnixSeconds, s: &SessionSettings) -> bool {
        let deadline = match self.stage {
            Stage::Pending { .. } => self.created + s.pending_timeout_secs,
            Stage::Authenticated => (self.created + s.lifetime_secs).min(self.last_seen() + s.idle_timeout_secs),
        };
        now >= deadline
    }

    pub fn to_record(&self, token_hash: TokenHash) -> SessionRecord {
        SessionRecord {
            token_hash,
            user_id: self.user_id.to_string(),
            upstream_cookie_hash: self.upstream_cookie_hash,
            created: self.created,
            last_seen: self.last_seen(),
        }
    }
}

/// What a sweep removed or found worth saving.
#[derive(Debug, Default)]
pub struct Swept {
    /// Signed-in sessions that expired: delete them from disk.
    pub gone: Vec<TokenHash>,
    /// Signed-in sessions used since the last sweep: save their activity.
    pub active: Vec<SessionRecord>,
    /// Held upstream cookies of sign-ins that never passed their second
    /// factor: those upstream sessions should be signed out.
    pub abandoned: Vec<Vec<String>>,
}

/// What the per-request check found.
#[derive(Debug, Clone)]
pub struct Found {
    pub token_hash: TokenHash,
    pub session: Arc<Session>,
    /// The upstream cookie value the browser sent that belongs to this
    /// session, if it sent one.
    pub upstream_cookie: Option<String>,
}

pub struct SessionTable {
    map: DashMap<TokenHash, Arc<Session>>,
    settings: SessionSettings,
}

impl SessionTable {
    pub fn new(settings: SessionSettings) -> Self {
        SessionTable {
            map: DashMap::new(),
            settings,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The per-request check: finds the live session of `token` and which of
    /// the upstream cookie `candidates` (a client may send several) it owns.
    pub fn check<'a>(
        &self,
        token: Option<&str>,
        candidates: impl IntoIterator<Item = &'a str>,
        now: UnixSeconds,
    ) -> Option<Found> {
        let token_hash = hash(token?);
        let session = self.map.get(&token_hash)?.value().clone();
        if session.expired(now, &self.settings) {
            // Pending sessions are left to the sweep, which also signs out
            // the upstream session they hold.
            if session.stage == Stage::Authenticated {
                self.map.remove(&token_hash);
            }
            return None;
        }
        session.last_seen.fetch_max(now, Ordering::Relaxed);
        let upstream_cookie = candidates
            .into_iter()
            .find(|v| session.owns_upstream_cookie(v))
            .map(str::to_string);
        Some(Found {
            token_hash,
            session,
            upstream_cookie,
        })
    }

    /// Starts a session for a user whose upstream sign-in just succeeded.
    /// Returns the browser's new token.
    pub fn start(
        &self,
        env: &Env,
        user_id: &str,
        upstream_cookie: &str,
        stage: Stage,
    ) -> (String, TokenHash, Arc<Session>) {
        let now = env.now();
        let token = env.token::<32>();
        let token_hash = hash(&token);
        let session = Arc::new(Session::new(env, Arc::from(user_id), stage, hash(upstream_cookie), now));
        self.map.insert(token_hash, session.clone());
        (token, token_hash, session)
    }

    /// Ends a pending session and starts its signed-in successor under a new
    /// token, so a token seen before the second factor is worth nothing after.
    /// Returns the new token and the upstream Set-Cookie headers to release.
    pub fn release(&self, env: &Env, pending: &TokenHash) -> Option<(String, TokenHash, Arc<Session>, Vec<String>)> {
        let (_, old) = self.map.remove(pending)?;
        let Stage::Pending { held_set_cookies } = &old.stage else {
            // Not pending: put it back untouched; there is nothing to release.
            self.map.insert(*pending, old);
            return None;
        };
        let now = env.now();
        let token = env.token::<32>();
        let token_hash = hash(&token);
        let session = Arc::new(Session::new(
            env,
            old.user_id.clone(),
            Stage::Authenticated,
            old.upstream_cookie_hash,
            now,
        ));
        self.map.insert(token_hash, session.clone());
        Some((token, token_hash, session, held_set_cookies.clone()))
    }

    /// Binds a signed-in session to a new upstream cookie value, for an
    /// upstream that rotates its session id.
    pub fn rebind(&self, token_hash: &TokenHash, upstream_cookie: &str) -> Option<Arc<Session>> {
        let mut entry = self.map.get_mut(token_hash)?;
        let old = entry.value();
        let session = Arc::new(Session {
            user_id: old.user_id.clone(),
            stage: old.stage.clone(),
            upstream_cookie_hash: hash(upstream_cookie),
            created: old.created,
            csrf: old.csrf.clone(),
            last_seen: AtomicU64::new(old.last_seen()),
            confirmed_at: AtomicU64::new(old.confirmed_at.load(Ordering::Relaxed)),
            grace_acknowledged: AtomicBool::new(old.grace_acknowledged()),
        });
        *entry.value_mut() = session.clone();
        Some(session)
    }

    pub fn end(&self, token_hash: &TokenHash) -> Option<Arc<Session>> {
        self.map.remove(token_hash).map(|(_, s)| s)
    }

    /// Puts back a session read from the store at start-up, unless expired.
    pub fn restore(&self, env: &Env, r: &SessionRecord) -> bool {
        let now = env.now();
        let session = Session::new(
            env,
            Arc::from(r.user_id.as_str()),
            Stage::Authenticated,
            r.upstream_cookie_hash,
            r.created,
        );
        session.last_seen.store(r.last_seen, Ordering::Relaxed);
        if session.expired(now, &self.settings) {
            return false;
        }
        self.map.insert(r.token_hash, Arc::new(session));
        true
    }

    /// Removes expired sessions; returns the hashes of signed-in ones removed
    /// (so the caller can delete them from disk) and the signed-in sessions
    /// used since `since`, whose activity is worth saving.
    pub fn sweep(&self, now: UnixSeconds, since: UnixSeconds) -> Swept {
        let mut swept = Swept::default();
        self.map.retain(|h, s| {
            if s.expired(now, &self.settings) {
                match &s.stage {
                    Stage::Authenticated => swept.gone.push(*h),
                    Stage::Pending { held_set_cookies } => swept.abandoned.push(held_set_cookies.clone()),
                }
                return false;
            }
            if s.stage == Stage::Authenticated && s.last_seen() > since {
                swept.active.push(s.to_record(*h));
            }
            true
        });
        swept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::env_at;

    fn settings() -> SessionSettings {
        SessionSettings {
            lifetime_secs: 3600,
            idle_timeout_secs: 600,
            pending_timeout_secs: 120,
        }
    }

    #[test]
    fn session_is_found_by_token_and_owns_only_its_upstream_cookie() {
        let (env, _) = env_at(1000);
        let t = SessionTable::new(settings());
        let (token, _, _) = t.start(&env, "u-bob", "up-1", Stage::Authenticated);
        let found = t.check(Some(&token), ["forged", "up-1"], 1001).unwrap();
        assert_eq!(found.upstream_cookie.as_deref(), Some("up-1"));
        assert!(t
            .check(Some(&token), ["forged"], 1001)
            .unwrap()
            .upstream_cookie
            .is_none());
        assert!(t.check(Some("invented"), ["up-1"], 1001).is_none());
    }

    #[test]
    fn idle_session_expires() {
        let (env, _) = env_at(1000);
        let t = SessionTable::new(settings());
        let (token, _, _) = t.start(&env, "u-bob", "up-1", Stage::Authenticated);
        assert!(t.check(Some(&token), [], 1500).is_some());
        assert!(t.check(Some(&token), [], 2099).is_some(), "use at 1500 kept it alive");
        assert!(t.check(Some(&token), [], 2700).is_none());
    }

    #[test]
    fn busy_session_still_ends_at_its_lifetime() {
        let (env, _) = env_at(1000);
        let t = SessionTable::new(settings());
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
        let t = SessionTable::new(settings());
        let record = |token: &str, created, last_seen| SessionRecord {
            token_hash: hash(token),
            user_id: "u-bob".into(),
            upstream_cookie_hash: hash("up"),
            created,
            last_seen,
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
        let t = SessionTable::new(settings());
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
        let t = SessionTable::new(settings());
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
        let t = SessionTable::new(settings());
        let (token, h, _) = t.start(&env, "u-bob", "up-1", Stage::Authenticated);
        t.rebind(&h, "up-2");
        let found = t.check(Some(&token), ["up-1", "up-2"], 1001).unwrap();
        assert_eq!(found.upstream_cookie.as_deref(), Some("up-2"));
    }

    #[test]
    fn sweep_reports_expired_and_recently_used_sessions() {
        let (env, _) = env_at(1000);
        let t = SessionTable::new(settings());
        let (a, _, _) = t.start(&env, "u-a", "x", Stage::Authenticated);
        let (_, hb, _) = t.start(&env, "u-b", "y", Stage::Authenticated);
        t.check(Some(&a), [], 1500);
        t.start(
            &env,
            "u-c",
            "z",
            Stage::Pending {
                held_set_cookies: vec!["held".into()],
            },
        );
        let swept = t.sweep(1650, 1400);
        assert_eq!(swept.gone, vec![hb]);
        assert_eq!(swept.active.len(), 1);
        assert_eq!(swept.abandoned, vec![vec!["held".to_string()]]);
        assert_eq!(t.len(), 1);
    }
}
