//! The gateway's durable state in sled: users, accounts, sessions, second
//! factors and the audit trail, each in its own tree, each record versioned. This is the only
//! module that knows sled; everything else sees typed records. Calls block,
//! so async callers run them on the blocking pool. Every read is counted
//! (`reads`), so tests and metrics can show that requests do not read it.

mod bulk;
mod factors;
mod record;

pub use bulk::Import;

pub use factors::{FactorsRecord, PendingTotp, RecoveryCode, SmsFactor, TotpFactor};

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::env::UnixSeconds;
use crate::identity::{Identity, Membership};
use crate::throttle::Counter;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source} (is another gateway running on this data directory?)")]
    Open { path: String, source: sled::Error },
    #[error("store I/O failed: {0}")]
    Io(#[from] sled::Error),
    #[error("cannot encode a record: {0}")]
    Encode(String),
    #[error("a record in tree {tree} is unreadable: {detail}")]
    Corrupt { tree: &'static str, detail: String },
}

const USER_V: u8 = 1;
const ACCOUNT_V: u8 = 1;
const SESSION_V: u8 = 1;
const AUDIT_V: u8 = 1;
const THROTTLE_V: u8 = 1;

/// What the gateway remembers of a user between sign-ins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub accounts: Vec<Membership>,
    pub first_seen: UnixSeconds,
    pub last_login: UnixSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub id: String,
    pub name: String,
    /// The operator's activation of the 2FA feature; `None`: the configured default.
    #[serde(default)]
    pub active: Option<bool>,
    /// The owner's "require two-factor authentication for all account users".
    #[serde(default)]
    pub require_2fa: bool,
    /// Who last changed the requirement, and when.
    #[serde(default)]
    pub require_changed_by: Option<String>,
    #[serde(default)]
    pub require_changed_at: Option<UnixSeconds>,
    /// Until when users without 2FA may still continue (grace period).
    #[serde(default)]
    pub grace_until: Option<UnixSeconds>,
}

impl AccountRecord {
    pub fn new(id: &str, name: &str) -> Self {
        AccountRecord {
            id: id.to_string(),
            name: name.to_string(),
            active: None,
            require_2fa: false,
            require_changed_by: None,
            require_changed_at: None,
            grace_until: None,
        }
    }
}

/// A fully signed-in session as it survives a restart. Only hashes of the
/// browser's tokens are kept, so a copy of the data folder opens no session;
/// the dashboard's cookie, needed to sign its session out when this one
/// ends, is kept sealed under the secret key and bound to the token hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub token_hash: [u8; 32],
    pub user_id: String,
    pub upstream_cookie_hash: [u8; 32],
    pub created: UnixSeconds,
    pub last_seen: UnixSeconds,
    /// Absent in records written before it was kept: such a session still
    /// works, but its dashboard session is left to the dashboard's expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_upstream_cookie: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: UnixSeconds,
    pub kind: String,
    pub user_id: Option<String>,
    pub account_id: Option<String>,
    pub client: Option<String>,
    pub detail: String,
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    users: sled::Tree,
    accounts: sled::Tree,
    sessions: sled::Tree,
    audit: sled::Tree,
    factors: sled::Tree,
    throttle: sled::Tree,
    /// Reads of records since the store was opened, shared by every clone.
    reads: Arc<AtomicU64>,
}

/// sled's page cache. Its default, 1 GiB, is for a database that serves
/// reads; this one is read in full once at start-up (into the in-memory
/// directory and session table) and then mostly written, so a large cache
/// only holds pages nobody asks for again (BENCHMARKS.md: 1.6 GiB resident
/// with a million users at the default).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(dir.join("store"))
            .flush_every_ms(Some(500))
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|source| StoreError::Open {
                path: dir.display().to_string(),
                source,
            })?;
        Ok(Store {
            users: db.open_tree("users")?,
            accounts: db.open_tree("accounts")?,
            sessions: db.open_tree("sessions")?,
            audit: db.open_tree("audit")?,
            factors: db.open_tree("factors")?,
            throttle: db.open_tree("throttle")?,
            db,
            reads: Arc::default(),
        })
    }

    /// How many reads (single records or whole-tree scans) this store has
    /// served since it was opened. Writes that only replace a record are
    /// not counted; read-modify-write updates are.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    fn count_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Records what the upstream said about a user at sign-in, keeping the
    /// first time the gateway saw them.
    pub fn remember_user(&self, who: &Identity, now: UnixSeconds) -> Result<UserRecord, StoreError> {
        self.put_identity(who, now, true)
    }

    /// Records memberships learned by a refresh; not a sign-in.
    pub fn refresh_user(&self, who: &Identity, now: UnixSeconds) -> Result<UserRecord, StoreError> {
        self.put_identity(who, now, false)
    }

    fn put_identity(&self, who: &Identity, now: UnixSeconds, login: bool) -> Result<UserRecord, StoreError> {
        let known = self.user(&who.user_id)?;
        let rec = UserRecord {
            id: who.user_id.clone(),
            email: who.email.clone(),
            accounts: who.accounts.clone(),
            first_seen: known.as_ref().map_or(now, |u| u.first_seen),
            last_login: match (&known, login) {
                (Some(u), false) => u.last_login,
                _ => now,
            },
        };
        self.users.insert(rec.id.as_bytes(), record::encode(USER_V, &rec)?)?;
        for m in &who.accounts {
            // Only the name comes from the upstream; the flags are ours.
            let mut acc = self
                .account(&m.account_id)?
                .unwrap_or_else(|| AccountRecord::new(&m.account_id, &m.account_name));
            acc.name = m.account_name.clone();
            self.put_account(&acc)?;
        }
        Ok(rec)
    }

    pub fn put_account(&self, acc: &AccountRecord) -> Result<(), StoreError> {
        self.accounts
            .insert(acc.id.as_bytes(), record::encode(ACCOUNT_V, acc)?)?;
        Ok(())
    }

    /// Every account the gateway knows.
    pub fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        self.count_read();
        self.accounts
            .iter()
            .map(|item| {
                let (_, v) = item?;
                record::decode("accounts", ACCOUNT_V, &v)
            })
            .collect()
    }

    /// Every user the gateway knows.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.count_read();
        self.users
            .iter()
            .map(|item| {
                let (_, v) = item?;
                record::decode("users", USER_V, &v)
            })
            .collect()
    }

    pub fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.count_read();
        self.users
            .get(id.as_bytes())?
            .map(|b| record::decode("users", USER_V, &b))
            .transpose()
    }

    pub fn account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.count_read();
        self.accounts
            .get(id.as_bytes())?
            .map(|b| record::decode("accounts", ACCOUNT_V, &b))
            .transpose()
    }

    pub fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        self.sessions.insert(s.token_hash, record::encode(SESSION_V, s)?)?;
        Ok(())
    }

    /// Updates a stored session only if it is still there, so activity saved
    /// late can never bring back a session that was ended meanwhile.
    pub fn touch_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let bytes = record::encode(SESSION_V, s)?;
        self.sessions
            .update_and_fetch(s.token_hash, |old| old.map(|_| bytes.clone()))?;
        Ok(())
    }

    pub fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.sessions.remove(token_hash)?;
        Ok(())
    }

    /// Every stored session; unreadable ones are skipped and reported, since
    /// one bad record must not keep the gateway from starting.
    pub fn sessions(&self) -> (Vec<SessionRecord>, Vec<StoreError>) {
        self.count_read();
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for item in self.sessions.iter() {
            match item
                .map_err(StoreError::from)
                .and_then(|(_, v)| record::decode("sessions", SESSION_V, &v))
            {
                Ok(s) => ok.push(s),
                Err(e) => bad.push(e),
            }
        }
        (ok, bad)
    }

    /// Appends an event. Keys are a time-ordered id so the newest are read first.
    pub fn audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let seq = self.db.generate_id()?;
        let mut key = event.at.to_be_bytes().to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        self.audit.insert(key, record::encode(AUDIT_V, event)?)?;
        Ok(())
    }

    /// The newest `limit` audit events that `wanted` keeps.
    pub fn audit_query(
        &self,
        limit: usize,
        wanted: impl Fn(&AuditEvent) -> bool,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.count_read();
        let mut out = Vec::new();
        for item in self.audit.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = item?;
            let e: AuditEvent = record::decode("audit", AUDIT_V, &v)?;
            if wanted(&e) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Saves a user's failure counter; `None` removes it (after a success).
    pub fn put_throttle(&self, user_id: &str, counter: Option<&Counter>) -> Result<(), StoreError> {
        match counter {
            Some(c) => {
                self.throttle
                    .insert(user_id.as_bytes(), record::encode(THROTTLE_V, c)?)?;
            }
            None => {
                self.throttle.remove(user_id.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Every saved user failure counter.
    pub fn throttles(&self) -> Result<Vec<(String, Counter)>, StoreError> {
        self.count_read();
        self.throttle
            .iter()
            .map(|item| {
                let (k, v) = item?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    record::decode("throttle", THROTTLE_V, &v)?,
                ))
            })
            .collect()
    }

    /// Waits until everything written so far is on disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Role;

    fn bob() -> Identity {
        Identity {
            user_id: "u-bob".into(),
            email: "bob@acme.test".into(),
            accounts: vec![Membership {
                account_id: "acme".into(),
                account_name: "Acme".into(),
                role: Role::Member,
            }],
        }
    }

    /// Opens the store again after a drop in the same process; sled lets go
    /// of its lock from a background thread, a moment after the drop.
    pub(super) fn reopen(dir: &Path) -> Store {
        for _ in 0..100 {
            if let Ok(s) = Store::open(dir) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Store::open(dir).unwrap()
    }

    #[test]
    fn users_and_sessions_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.remember_user(&bob(), 100).unwrap();
            s.put_session(&SessionRecord {
                token_hash: [1; 32],
                user_id: "u-bob".into(),
                upstream_cookie_hash: [2; 32],
                created: 100,
                last_seen: 100,
                sealed_upstream_cookie: None,
            })
            .unwrap();
            s.flush().unwrap();
        }
        let s = reopen(dir.path());
        assert_eq!(s.user("u-bob").unwrap().unwrap().email, "bob@acme.test");
        assert_eq!(s.account("acme").unwrap().unwrap().name, "Acme");
        let (sessions, errors) = s.sessions();
        assert_eq!(sessions.len(), 1);
        assert!(errors.is_empty());
    }

    #[test]
    fn touching_an_ended_session_does_not_bring_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let r = SessionRecord {
            token_hash: [3; 32],
            user_id: "u".into(),
            upstream_cookie_hash: [0; 32],
            created: 1,
            last_seen: 1,
            sealed_upstream_cookie: None,
        };
        s.put_session(&r).unwrap();
        s.delete_session(&r.token_hash).unwrap();
        s.touch_session(&SessionRecord { last_seen: 9, ..r }).unwrap();
        assert!(s.sessions().0.is_empty());
    }

    #[test]
    fn second_sign_in_keeps_first_seen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.remember_user(&bob(), 100).unwrap();
        let again = s.remember_user(&bob(), 200).unwrap();
        assert_eq!((again.first_seen, again.last_login), (100, 200));
    }

    #[test]
    fn audit_reads_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for (at, kind) in [(1, "login"), (2, "logout")] {
            s.audit(&AuditEvent {
                at,
                kind: kind.into(),
                user_id: None,
                account_id: None,
                client: None,
                detail: String::new(),
            })
            .unwrap();
        }
        let kinds: Vec<_> = s
            .audit_query(10, |_| true)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["logout", "login"]);
    }

    #[test]
    fn reads_are_counted_and_writes_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.put_account(&AccountRecord::new("acme", "Acme")).unwrap();
        assert_eq!(s.reads(), 0);
        s.account("acme").unwrap();
        s.clone().factors("u").unwrap();
        assert_eq!(s.reads(), 2, "clones share the counter");
    }

    #[test]
    fn unknown_record_version_is_reported_not_panicked() {
        let err = record::decode::<UserRecord>("users", 1, &[9, b'{', b'}']).unwrap_err();
        assert!(err.to_string().contains("unknown record version 9"));
    }
}
