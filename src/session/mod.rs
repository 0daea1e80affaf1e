//! Gateway sessions, held in memory. A session binds the browser's gateway
//! token to one upstream session (by a hash of the upstream's cookie) and
//! records how far the sign-in has got. The per-request check is a hash and
//! one map lookup: no disk, and the same cost for ten sessions or a million.
//! Every session, signed in or waiting for its second factor, is also in
//! the store (the caller's job, see `gateway`), so that any replica can
//! take it into its table on first sight (`adopt`).
//!
//! Each session also keeps the dashboard's cookie it is bound to, so that
//! whenever it ends for a reason other than the dashboard's own sign-out
//! (replaced, expired, capped, a lockout) the caller can sign that dashboard
//! session out too: a dashboard session the gateway no longer vouches for
//! must not outlive it. A user has at most `max_per_user` signed-in and
//! `max_pending_per_user` pending sessions; past that the oldest ends.

mod about;
mod stored;
mod token;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use subtle::ConstantTimeEq;

use crate::config::SessionSettings;
use crate::env::{Env, UnixSeconds};
use crate::secretbox::SecretKey;

pub use about::{browser_summary, About};
use stored::held_context;
pub use stored::reseal;
pub use token::{hash, TokenHash};

/// How many tokens a replica remembers as having no session in the store,
/// so a replayed old token costs one store read, not one per request.
const ABSENT_CAP: usize = 100_000;

/// How far a sign-in has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// The upstream accepted the password; its Set-Cookie headers are held
    /// here until the second factor is passed (stored sealed only).
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
    /// The dashboard cookie this session is bound to; `None` only for a
    /// session restored from a record that did not keep it.
    upstream_cookie: Option<Arc<str>>,
    /// `upstream_cookie` sealed under the secret key and bound to the token
    /// hash: what the store keeps. Sealed once, not at every save.
    sealed_cookie: Option<Arc<[u8]>>,
    /// The held Set-Cookie headers of a pending session, sealed.
    sealed_held: Option<Arc<[u8]>>,
    pub created: UnixSeconds,
    /// The token every form of this session must carry back.
    pub csrf: String,
    last_seen: AtomicU64,
    /// When the user last confirmed their password in this session (0: never).
    confirmed_at: AtomicU64,
    /// The user has seen the grace-period notice in this session.
    grace_acknowledged: AtomicBool,
    /// This session was sent to enrollment at least once (audited once).
    enrollment_forced: AtomicBool,
    pub about: About,
}

impl Session {
    pub fn acknowledge_grace(&self) {
        self.grace_acknowledged.store(true, Ordering::Relaxed);
    }

    pub fn grace_acknowledged(&self) -> bool {
        self.grace_acknowledged.load(Ordering::Relaxed)
    }

    /// Marks this session as sent to enrollment; true only the first time,
    /// so the audit trail has one `enrollment_forced` per session, not one
    /// per request that was redirected.
    pub fn first_forced_enrollment(&self) -> bool {
        !self.enrollment_forced.swap(true, Ordering::Relaxed)
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

    /// Takes a confirmation made through another replica (never an older one).
    pub fn confirmed_elsewhere(&self, at: UnixSeconds) {
        self.confirmed_at.fetch_max(at, Ordering::Relaxed);
    }

    /// Whether `value` is the upstream cookie this session was bound to,
    /// compared in constant time: with the value itself where this process
    /// holds it (no hash to compute on every request; only a length that
    /// differs ends the comparison early, and the length is no secret),
    /// else with its hash.
    pub fn owns_upstream_cookie(&self, value: &str) -> bool {
        match &self.upstream_cookie {
            // Every request compares it: word by word (`subtle` goes byte
            // by byte), still in constant time for equal lengths.
            Some(own) => constant_time_eq::constant_time_eq(own.as_bytes(), value.as_bytes()),
            None => hash(value).ct_eq(&self.upstream_cookie_hash).into(),
        }
    }

    /// The dashboard cookie to sign out when this session ends.
    pub fn upstream_cookie(&self) -> Option<&Arc<str>> {
        self.upstream_cookie.as_ref()
    }

    pub fn last_seen(&self) -> UnixSeconds {
        self.last_seen.load(Ordering::Relaxed)
    }

    fn pending(&self) -> bool {
        matches!(self.stage, Stage::Pending { .. })
    }

    /// An expired session that ended only for want of use here: signed in,
    /// its lifetime not over. Another replica may have used it meanwhile,
    /// which only the store (where each saves its sessions' activity every
    /// `SessionSettings::sweep_every`) can say.
    fn idled_out(&self, now: UnixSeconds, s: &SessionSettings) -> bool {
        self.stage == Stage::Authenticated && now < self.created + s.lifetime_secs
    }

    fn expired(&self, now: UnixSeconds, s: &SessionSettings) -> bool {
        let deadline = match self.stage {
            Stage::Pending { .. } => self.created + s.pending_timeout_secs,
            Stage::Authenticated => (self.created + s.lifetime_secs).min(self.last_seen() + s.idle_timeout_secs),
        };
        now >= deadline
    }
}

/// A session that ended, with what it held.
pub type Ended = (TokenHash, Arc<Session>);

/// What a sweep removed or found worth saving.
#[derive(Debug, Default)]
pub struct Swept {
    /// Sessions that expired: delete them from the store.
    pub gone: Vec<TokenHash>,
    /// Signed-in sessions that idled out here (`Session::idled_out`): out
    /// of memory; ended only if no replica used them meanwhile.
    pub idle: Vec<Ended>,
    /// Signed-in sessions used since the last sweep, and when last: save
    /// their activity.
    pub active: Vec<(TokenHash, UnixSeconds)>,
    /// The dashboard cookies of every session that expired, signed in or
    /// still waiting for its second factor: sign those dashboard sessions out.
    pub sign_out: Vec<Arc<str>>,
}

/// What the per-request lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// No token, or no session of it.
    None,
    /// A token this gateway issued (its MAC is valid) whose session this
    /// replica has not seen: another replica's, to be read from the store.
    Unknown(TokenHash),
    /// A session that has just expired, now out of the table.
    Expired(Ended),
    Live(Found),
}

/// A live session the per-request check found.
#[derive(Debug, Clone)]
pub struct Found {
    pub token_hash: TokenHash,
    pub session: Arc<Session>,
    /// The upstream cookie value the browser sent that belongs to this
    /// session, if it sent one.
    pub upstream_cookie: Option<Arc<str>>,
}

pub struct SessionTable {
    map: DashMap<TokenHash, Arc<Session>, token::BuildTokenHasher>,
    /// Each user's sessions, to cap them without scanning the table. Locked
    /// only after `map`'s guards are dropped, never the other way round.
    by_user: DashMap<Arc<str>, Vec<TokenHash>>,
    /// Issued tokens the store had no session for, and when that was seen.
    absent: DashMap<TokenHash, UnixSeconds, token::BuildTokenHasher>,
    settings: SessionSettings,
    key: SecretKey,
}

impl SessionTable {
    pub fn new(settings: SessionSettings, key: SecretKey) -> Self {
        SessionTable {
            map: DashMap::default(),
            by_user: DashMap::new(),
            absent: DashMap::default(),
            settings,
            key,
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
    /// A session found expired is taken out of the table and handed back
    /// (to one request only), so the caller can end it properly at once.
    pub fn lookup<'a>(
        &self,
        token: Option<&str>,
        candidates: impl IntoIterator<Item = &'a str>,
        now: UnixSeconds,
    ) -> Lookup {
        let Some(token) = token else { return Lookup::None };
        let token_hash = hash(token);
        let Some(session) = self.map.get(&token_hash).map(|s| s.value().clone()) else {
            return if !self.absent.contains_key(&token_hash) && token::is_ours(&self.key, token) {
                Lookup::Unknown(token_hash)
            } else {
                Lookup::None
            };
        };
        if session.expired(now, &self.settings) {
            return match self.end(&token_hash) {
                Some(s) => Lookup::Expired((token_hash, s)),
                None => Lookup::None,
            };
        }
        session.last_seen.fetch_max(now, Ordering::Relaxed);
        // The session's own copy where it holds one: no allocation per request.
        let upstream_cookie = candidates
            .into_iter()
            .find(|v| session.owns_upstream_cookie(v))
            .map(|v| session.upstream_cookie.clone().unwrap_or_else(|| Arc::from(v)));
        Lookup::Live(Found {
            token_hash,
            session,
            upstream_cookie,
        })
    }

    /// Whether a session `lookup` found expired only idled out here (see
    /// `Session::idled_out`): worth asking the store about before ending it.
    pub fn idled_out(&self, session: &Session, now: UnixSeconds) -> bool {
        session.idled_out(now, &self.settings)
    }

    /// `lookup`, for callers that only want a live session; an expired one
    /// is removed and dropped.
    pub fn check<'a>(
        &self,
        token: Option<&str>,
        candidates: impl IntoIterator<Item = &'a str>,
        now: UnixSeconds,
    ) -> Option<Found> {
        match self.lookup(token, candidates, now) {
            Lookup::Live(f) => Some(f),
            _ => None,
        }
    }

    /// A session bound to `upstream_cookie`, its cookie sealed under `token_hash`.
    #[allow(clippy::too_many_arguments)]
    fn session(
        &self,
        env: &Env,
        token_hash: &TokenHash,
        user_id: Arc<str>,
        stage: Stage,
        upstream_cookie: Option<Arc<str>>,
        created: UnixSeconds,
    ) -> Session {
        let seal = |plain: &[u8], context: &[u8]| {
            self.key
                .seal(env, plain, context)
                .map_err(|e| tracing::error!(error = %e, "cannot seal a dashboard cookie"))
                .ok()
                .map(Arc::from)
        };
        let sealed_cookie = upstream_cookie.as_ref().and_then(|c| seal(c.as_bytes(), token_hash));
        let sealed_held = match &stage {
            Stage::Pending { held_set_cookies } => {
                let json = serde_json::to_vec(held_set_cookies).unwrap_or_default();
                seal(&json, &held_context(token_hash))
            }
            Stage::Authenticated => None,
        };
        Session {
            user_id,
            stage,
            upstream_cookie_hash: upstream_cookie.as_deref().map_or([0; 32], hash),
            upstream_cookie,
            sealed_cookie,
            sealed_held,
            created,
            csrf: token::csrf(&self.key, token_hash),
            last_seen: AtomicU64::new(created),
            confirmed_at: AtomicU64::new(0),
            grace_acknowledged: AtomicBool::new(false),
            enrollment_forced: AtomicBool::new(false),
            about: About::default(),
        }
    }

    fn insert(&self, token_hash: TokenHash, session: Arc<Session>) {
        let user = session.user_id.clone();
        self.map.insert(token_hash, session);
        self.by_user.entry(user).or_default().push(token_hash);
    }

    fn unindex(&self, user: &str, token_hash: &TokenHash) {
        if let dashmap::Entry::Occupied(mut e) = self.by_user.entry(Arc::from(user)) {
            e.get_mut().retain(|h| h != token_hash);
            if e.get().is_empty() {
                e.remove();
            }
        }
    }

    /// Starts a session for a user whose upstream sign-in just succeeded.
    /// Returns the browser's new token. The caller ends what `over_cap`
    /// then returns.
    pub fn start(
        &self,
        env: &Env,
        user_id: &str,
        upstream_cookie: &str,
        stage: Stage,
    ) -> (String, TokenHash, Arc<Session>) {
        self.start_from(env, user_id, upstream_cookie, stage, About::default())
    }

    /// `start`, with what the session says about itself.
    pub fn start_from(
        &self,
        env: &Env,
        user_id: &str,
        upstream_cookie: &str,
        stage: Stage,
        about: About,
    ) -> (String, TokenHash, Arc<Session>) {
        let now = env.now();
        let (token, token_hash) = token::issue(env, &self.key);
        let mut session = self.session(
            env,
            &token_hash,
            Arc::from(user_id),
            stage,
            Some(Arc::from(upstream_cookie)),
            now,
        );
        session.about = about;
        let session = Arc::new(session);
        self.insert(token_hash, session.clone());
        (token, token_hash, session)
    }

    /// Ends a session that just passed a second factor and starts its
    /// signed-in successor under a new token, so a token seen before the
    /// factor is worth nothing after: a pending sign-in (its held upstream
    /// Set-Cookie headers are returned, to release) or a signed-in session
    /// stepping up (none). The pass is recorded in the successor.
    pub fn release(&self, env: &Env, pending: &TokenHash) -> Option<(String, TokenHash, Arc<Session>, Vec<String>)> {
        let (_, old) = self.map.remove(pending)?;
        let held_set_cookies = match &old.stage {
            Stage::Pending { held_set_cookies } => held_set_cookies.clone(),
            Stage::Authenticated => Vec::new(),
        };
        self.unindex(&old.user_id, pending);
        let now = env.now();
        let (token, token_hash) = token::issue(env, &self.key);
        let mut session = self.session(
            env,
            &token_hash,
            old.user_id.clone(),
            Stage::Authenticated,
            old.upstream_cookie.clone(),
            now,
        );
        session.upstream_cookie_hash = old.upstream_cookie_hash;
        session.about = old.about.carried();
        session.about.factor_passed(now);
        session.confirmed_at = AtomicU64::new(old.confirmed_at.load(Ordering::Relaxed));
        session.grace_acknowledged = AtomicBool::new(old.grace_acknowledged());
        let session = Arc::new(session);
        self.insert(token_hash, session.clone());
        Some((token, token_hash, session, held_set_cookies))
    }

    /// Binds a signed-in session to a new upstream cookie value, for an
    /// upstream that rotates its session id.
    pub fn rebind(&self, env: &Env, token_hash: &TokenHash, upstream_cookie: &str) -> Option<Arc<Session>> {
        let mut entry = self.map.get_mut(token_hash)?;
        let old = entry.value();
        let mut session = self.session(
            env,
            token_hash,
            old.user_id.clone(),
            old.stage.clone(),
            Some(Arc::from(upstream_cookie)),
            old.created,
        );
        session.last_seen = AtomicU64::new(old.last_seen());
        session.confirmed_at = AtomicU64::new(old.confirmed_at.load(Ordering::Relaxed));
        session.grace_acknowledged = AtomicBool::new(old.grace_acknowledged());
        session.enrollment_forced = AtomicBool::new(old.enrollment_forced.load(Ordering::Relaxed));
        session.about = old.about.carried();
        let session = Arc::new(session);
        *entry.value_mut() = session.clone();
        Some(session)
    }

    pub fn end(&self, token_hash: &TokenHash) -> Option<Arc<Session>> {
        let (_, session) = self.map.remove(token_hash)?;
        self.unindex(&session.user_id, token_hash);
        Some(session)
    }

    pub fn get(&self, token_hash: &TokenHash) -> Option<Arc<Session>> {
        self.map.get(token_hash).map(|s| s.value().clone())
    }

    /// Whether the session is in the table (not ended), without a clone.
    pub fn contains(&self, token_hash: &TokenHash) -> bool {
        self.map.contains_key(token_hash)
    }

    /// The hashes of every session in the table.
    pub fn hashes(&self) -> Vec<TokenHash> {
        self.map.iter().map(|e| *e.key()).collect()
    }

    pub fn has_user(&self, user_id: &str) -> bool {
        self.by_user.contains_key(user_id)
    }

    /// The users with a session in the table.
    pub fn users(&self) -> Vec<Arc<str>> {
        self.by_user.iter().map(|e| e.key().clone()).collect()
    }

    /// The user's sessions, live or not yet swept.
    pub fn of_user(&self, user_id: &str) -> Vec<Ended> {
        let hashes = self.by_user.get(user_id).map(|h| h.clone()).unwrap_or_default();
        hashes
            .into_iter()
            .filter_map(|h| self.map.get(&h).map(|s| (h, s.value().clone())))
            .collect()
    }

    /// Ends the user's oldest sessions beyond the caps (signed-in and
    /// pending counted apart) and returns them, for the caller to delete
    /// and sign out at the dashboard. A sign-in loop thus replaces sessions
    /// instead of growing the table or the store.
    pub fn over_cap(&self, user_id: &str) -> Vec<Ended> {
        let (mut pending, mut signed_in): (Vec<_>, Vec<_>) =
            self.of_user(user_id).into_iter().partition(|(_, s)| s.pending());
        let mut ended = Vec::new();
        for (sessions, cap) in [
            (&mut pending, self.settings.max_pending_per_user),
            (&mut signed_in, self.settings.max_per_user),
        ] {
            if sessions.len() <= cap {
                continue;
            }
            sessions.sort_by_key(|(_, s)| s.created);
            let extra = sessions.len() - cap;
            for (h, _) in sessions.drain(..extra) {
                ended.extend(self.end(&h).map(|s| (h, s)));
            }
        }
        ended
    }

    /// Removes expired sessions; returns the hashes of signed-in ones removed
    /// (so the caller can delete them from disk), the dashboard cookies of
    /// all removed (to sign out), and the signed-in sessions used since
    /// `since`, whose activity is worth saving.
    pub fn sweep(&self, now: UnixSeconds, since: UnixSeconds) -> Swept {
        let mut swept = Swept::default();
        let mut removed = Vec::new();
        self.map.retain(|h, s| {
            if s.expired(now, &self.settings) {
                if s.idled_out(now, &self.settings) {
                    swept.idle.push((*h, s.clone()));
                } else {
                    swept.gone.push(*h);
                    swept.sign_out.extend(s.upstream_cookie.clone());
                }
                removed.push((s.user_id.clone(), *h));
                return false;
            }
            if s.stage == Stage::Authenticated && s.last_seen() > since {
                swept.active.push((*h, s.last_seen()));
            }
            true
        });
        // `map`'s guards are gone: the index may be locked now.
        for (user, h) in removed {
            self.unindex(&user, &h);
        }
        // A token absent a while ago may be worth asking about again only
        // if it could still be live, which no token older than a session's
        // lifetime is.
        let horizon = now.saturating_sub(self.settings.lifetime_secs);
        self.absent.retain(|_, seen| *seen > horizon);
        swept
    }
}

#[cfg(test)]
mod tests;
