//! Sessions as the store keeps them: taken into the table at start-up or
//! on first sight through another replica (`adopt`), remembered as absent
//! when the store has none, judged expired without being taken in (for the
//! store-wide sweep), resealed under a new key, and what a replica writes
//! of a session it holds (`to_record`, `rebound`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{token, About, Session, SessionTable, Stage, TokenHash, ABSENT_CAP};
use crate::env::{Env, UnixSeconds};
use crate::secretbox::SecretKey;
use crate::store::{SessionChange, SessionRecord};

impl Session {
    /// What `Store::update_session` merges in after `rebind`: the new
    /// dashboard session, and nothing else this replica holds.
    pub fn rebound(&self) -> SessionChange {
        SessionChange::Rebound {
            upstream_cookie_hash: self.upstream_cookie_hash,
            sealed_upstream_cookie: self.sealed_cookie.as_deref().map(<[u8]>::to_vec),
        }
    }

    /// The record the store keeps of this session, as this replica holds it.
    pub fn to_record(&self, token_hash: TokenHash) -> SessionRecord {
        SessionRecord {
            token_hash,
            user_id: self.user_id.to_string(),
            upstream_cookie_hash: self.upstream_cookie_hash,
            created: self.created,
            last_seen: self.last_seen(),
            sealed_upstream_cookie: self.sealed_cookie.as_deref().map(<[u8]>::to_vec),
            sealed_held: self.sealed_held.as_deref().map(<[u8]>::to_vec),
            confirmed_at: self.confirmed_at.load(Ordering::Relaxed),
            client: self.about.client.as_deref().map(str::to_string),
            user_agent: self.about.user_agent.as_deref().map(str::to_string),
            factor_at: self.about.factor_at(),
            signed_in_at: self.about.signed_in_at,
            passwordless: self.about.passwordless,
        }
    }
}

impl SessionTable {
    /// Puts back a session read from the store at start-up, unless expired.
    pub fn restore(&self, env: &Env, r: &SessionRecord) -> bool {
        self.adopt(env, r).is_some()
    }

    /// Remembers that the store holds no session for `token_hash`. The
    /// set is bounded: past its cap it starts again, which costs at most
    /// one more store read per token.
    pub fn mark_absent(&self, token_hash: TokenHash, now: UnixSeconds) {
        if self.absent.len() >= ABSENT_CAP {
            self.absent.clear();
        }
        self.absent.insert(token_hash, now);
    }

    /// Whether the store was found to hold no session for `token_hash`.
    pub fn known_absent(&self, token_hash: &TokenHash) -> bool {
        self.absent.contains_key(token_hash)
    }

    /// Takes a session read from the store into the table, unless expired
    /// (or another request took it in first); returns the table's session.
    pub fn adopt(&self, env: &Env, r: &SessionRecord) -> Option<Arc<Session>> {
        if let Some(known) = self.map.get(&r.token_hash) {
            return Some(known.value().clone());
        }
        let now = env.now();
        let cookie = r.sealed_upstream_cookie.as_deref().and_then(|sealed| {
            let opened = self.key.open(sealed, &r.token_hash).ok();
            let text = opened.and_then(|b| String::from_utf8(b).ok());
            if text.is_none() {
                tracing::warn!("a stored session's dashboard cookie does not open; it cannot be signed out");
            }
            text
        });
        let stage = match &r.sealed_held {
            None => Stage::Authenticated,
            // A pending sign-in whose held cookies do not open can never be
            // released: it is as good as absent.
            Some(sealed) => Stage::Pending {
                held_set_cookies: self
                    .key
                    .open(sealed, &held_context(&r.token_hash))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())?,
            },
        };
        let mut session = Session {
            user_id: Arc::from(r.user_id.as_str()),
            stage,
            upstream_cookie_hash: r.upstream_cookie_hash,
            upstream_cookie: cookie.map(Arc::from),
            sealed_cookie: r.sealed_upstream_cookie.as_deref().map(Arc::from),
            sealed_held: r.sealed_held.as_deref().map(Arc::from),
            created: r.created,
            csrf: token::csrf(&self.key, &r.token_hash),
            last_seen: AtomicU64::new(r.last_seen),
            confirmed_at: AtomicU64::new(r.confirmed_at),
            grace_acknowledged: AtomicBool::new(false),
            enrollment_forced: AtomicBool::new(false),
            about: About::stored(r),
        };
        if session.upstream_cookie.is_none() {
            session.sealed_cookie = None;
        }
        if session.expired(now, &self.settings) {
            return None;
        }
        let session = Arc::new(session);
        self.insert(r.token_hash, session.clone());
        Some(session)
    }

    /// Whether a stored session has expired, judged from its record alone;
    /// if so, with the dashboard cookie it held (when it opens), to sign
    /// that session out. For sessions no replica holds any more.
    pub fn expired_record(&self, r: &SessionRecord, now: UnixSeconds) -> Option<Option<String>> {
        let s = &self.settings;
        let deadline = match r.sealed_held {
            Some(_) => r.created + s.pending_timeout_secs,
            None => (r.created + s.lifetime_secs).min(r.last_seen + s.idle_timeout_secs),
        };
        if now < deadline {
            return None;
        }
        let cookie = r.sealed_upstream_cookie.as_deref().and_then(|sealed| {
            let opened = self.key.open(sealed, &r.token_hash).ok();
            opened.and_then(|b| String::from_utf8(b).ok())
        });
        Some(cookie)
    }
}

/// What the held Set-Cookie headers are sealed to: the session, and their
/// use, so they never open as the session's dashboard cookie or vice versa.
pub(super) fn held_context(token_hash: &TokenHash) -> Vec<u8> {
    [token_hash.as_slice(), b"held"].concat()
}

/// For `rotate-key`: the records with anything sealed, sealed again under
/// `new`. A dashboard cookie that does not open under `old` is dropped (the
/// session stays; only its dashboard sign-out is lost); a pending sign-in
/// whose held cookies do not open is dropped whole, since it could never
/// be released.
pub fn reseal(env: &Env, records: Vec<SessionRecord>, old: &SecretKey, new: &SecretKey) -> Vec<SessionRecord> {
    let again = |sealed: &[u8], context: &[u8]| {
        old.open(sealed, context)
            .and_then(|plain| new.seal(env, &plain, context))
            .ok()
    };
    records
        .into_iter()
        .filter(|r| r.sealed_upstream_cookie.is_some() || r.sealed_held.is_some())
        .filter_map(|mut r| {
            if let Some(sealed) = r.sealed_upstream_cookie.take() {
                r.sealed_upstream_cookie = again(&sealed, &r.token_hash);
            }
            if let Some(sealed) = r.sealed_held.take() {
                r.sealed_held = Some(again(&sealed, &held_context(&r.token_hash))?);
            }
            Some(r)
        })
        .collect()
}
