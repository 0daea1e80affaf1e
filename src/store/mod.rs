//! The gateway's durable state: users, accounts, sessions, second factors,
//! failure counters and the audit trail as typed, versioned records. The
//! domain talks to `Store`, whose calls are async and durable when they
//! return; a `Backend` (`sled.rs`, the embedded default, or `postgres.rs`)
//! keeps the encoded records. Nothing outside this module knows which one.
//! Every read is counted (`reads`), so tests and metrics can show that
//! requests do not read it.

mod backend;
mod bulk;
mod changes;
pub mod copy;
mod factors;
mod pg_listen;
mod postgres;
mod record;
mod sled;

pub use backend::{AuditCursor, Backend, Entry, Table};
pub use bulk::Import;
pub use changes::{Change, Health};

pub use factors::{FactorsRecord, PendingTotp, RecoveryCode, SmsFactor, TotpFactor};

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::env::UnixSeconds;
use crate::identity::{Identity, Membership};
use crate::throttle::Counter;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open {what}: {detail}")]
    Open { what: String, detail: String },
    /// The database failed or cannot be reached; the change was not made.
    #[error("store I/O failed: {0}")]
    Io(String),
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
    /// Present while the sign-in waits for its second factor: the
    /// dashboard's Set-Cookie headers held back until then, sealed like the
    /// cookie (they are the dashboard session itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_held: Option<Vec<u8>>,
    /// When the user last confirmed their password in this session (0:
    /// never), so a confirmation made through one replica counts on all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub confirmed_at: UnixSeconds,
}

fn is_zero(n: &UnixSeconds) -> bool {
    *n == 0
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

/// The users table, with the change that tells other replicas a user's
/// record (memberships, factors) changed.
fn users(id: &str) -> (Table, u8, Change) {
    (Table::Users, USER_V, Change::UserChanged(id.to_string()))
}

/// The audit trail is read in pages of this many events.
const AUDIT_PAGE: usize = 256;

#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    /// Reads of records since the store was opened, shared by every clone.
    reads: Arc<AtomicU64>,
}

impl Store {
    /// Opens (or creates) the embedded store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Ok(Store::with_backend(Arc::new(sled::SledBackend::open(dir)?)))
    }

    /// Connects to a shared PostgreSQL store, creating or migrating its
    /// schema.
    pub fn connect(url: &str) -> Result<Store, StoreError> {
        Ok(Store::with_backend(Arc::new(postgres::PgBackend::connect(url)?)))
    }

    pub fn with_backend(backend: Arc<dyn Backend>) -> Store {
        Store {
            backend,
            reads: Arc::default(),
        }
    }

    /// The backend's own calls, for the conformance suite and `store copy`.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Changes announced through any replica, and `Resync` after a lost
    /// connection (see `changes`).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.backend.subscribe()
    }

    /// Whether the store answers.
    pub fn health(&self) -> Health {
        self.backend.health()
    }

    /// Which store this is, for logs: never a password.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// How many reads (single records or whole-table scans) this store has
    /// served since it was opened. Writes that only replace a record are
    /// not counted; read-modify-write updates are.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    fn count_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    async fn get<T: DeserializeOwned>(&self, table: Table, version: u8, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.count_read();
        self.backend
            .get(table, key)
            .await?
            .map(|b| record::decode(table.name(), version, &b))
            .transpose()
    }

    async fn all<T: DeserializeOwned>(&self, table: Table, version: u8) -> Result<Vec<T>, StoreError> {
        self.count_read();
        self.backend
            .scan(table)
            .await?
            .iter()
            .map(|(_, v)| record::decode(table.name(), version, v))
            .collect()
    }

    /// Applies `change` atomically to one record (`fresh` when there is
    /// none) and commits it. `change` may run more than once if another
    /// writer wins the race, so it must only compute from its input; its
    /// error aborts without writing.
    async fn update<R, T, E>(
        &self,
        (table, version, announce): (Table, u8, Change),
        key: &[u8],
        fresh: impl Fn() -> R,
        mut change: impl FnMut(&mut R) -> Result<T, E>,
    ) -> Result<T, E>
    where
        R: Serialize + DeserializeOwned,
        E: From<StoreError>,
    {
        loop {
            self.count_read();
            let old = self.backend.get(table, key).await?;
            let mut rec = match &old {
                Some(b) => record::decode(table.name(), version, b)?,
                None => fresh(),
            };
            let out = change(&mut rec)?;
            let new = record::encode(version, &rec)?;
            if self
                .backend
                .swap(table, key, old, Some(new), Some(announce.clone()))
                .await?
            {
                return Ok(out);
            }
        }
    }

    /// Records what the upstream said about a user at sign-in, keeping the
    /// first time the gateway saw them.
    pub async fn remember_user(&self, who: &Identity, now: UnixSeconds) -> Result<UserRecord, StoreError> {
        self.put_identity(who, now, true).await
    }

    /// Records memberships learned by a refresh; not a sign-in.
    pub async fn refresh_user(&self, who: &Identity, now: UnixSeconds) -> Result<UserRecord, StoreError> {
        self.put_identity(who, now, false).await
    }

    async fn put_identity(&self, who: &Identity, now: UnixSeconds, login: bool) -> Result<UserRecord, StoreError> {
        let fresh = || UserRecord {
            id: who.user_id.clone(),
            email: String::new(),
            accounts: Vec::new(),
            first_seen: now,
            last_login: now,
        };
        let rec = self
            .update(
                users(&who.user_id),
                who.user_id.as_bytes(),
                fresh,
                |u: &mut UserRecord| {
                    u.email = who.email.clone();
                    u.accounts = who.accounts.clone();
                    if login {
                        u.last_login = now;
                    }
                    Ok::<_, StoreError>(u.clone())
                },
            )
            .await?;
        for m in &who.accounts {
            // Only the name comes from the upstream; the flags are ours.
            self.update_account(&m.account_id, &m.account_name, |a| {
                a.name = m.account_name.clone();
                Ok::<_, StoreError>(())
            })
            .await?;
        }
        Ok(rec)
    }

    /// Changes an account's record atomically (a new one is named
    /// `name`) and returns it as committed.
    pub async fn update_account<E: From<StoreError>>(
        &self,
        id: &str,
        name: &str,
        mut change: impl FnMut(&mut AccountRecord) -> Result<(), E>,
    ) -> Result<AccountRecord, E> {
        let fresh = || AccountRecord::new(id, name);
        let announce = Change::AccountChanged(id.to_string());
        self.update((Table::Accounts, ACCOUNT_V, announce), id.as_bytes(), fresh, |a| {
            change(a)?;
            Ok(a.clone())
        })
        .await
    }

    /// Every account the gateway knows.
    pub async fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        self.all(Table::Accounts, ACCOUNT_V).await
    }

    /// Every user the gateway knows.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.all(Table::Users, USER_V).await
    }

    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.get(Table::Users, USER_V, id.as_bytes()).await
    }

    pub async fn account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.get(Table::Accounts, ACCOUNT_V, id.as_bytes()).await
    }

    pub async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        self.backend
            .put(Table::Sessions, &s.token_hash, record::encode(SESSION_V, s)?)
            .await
    }

    /// One stored session, by its token's hash.
    pub async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.get(Table::Sessions, SESSION_V, token_hash).await
    }

    /// Updates a stored session only if it is still there, so activity saved
    /// late can never bring back a session that was ended meanwhile.
    pub async fn touch_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        self.backend
            .replace(Table::Sessions, &s.token_hash, record::encode(SESSION_V, s)?)
            .await
            .map(drop)
    }

    pub async fn delete_sessions(&self, token_hashes: &[[u8; 32]]) -> Result<(), StoreError> {
        if token_hashes.is_empty() {
            return Ok(());
        }
        let keys = token_hashes.iter().map(|h| h.to_vec()).collect();
        let ended = token_hashes.iter().map(|h| Change::SessionEnded(*h)).collect();
        self.backend.delete(Table::Sessions, keys, ended).await
    }

    /// Removes a stored session if it is still there, atomically: of two
    /// replicas releasing one pending sign-in, only one gets `true`.
    pub async fn take_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
        self.count_read();
        let Some(old) = self.backend.get(Table::Sessions, token_hash).await? else {
            return Ok(false);
        };
        let ended = Some(Change::SessionEnded(*token_hash));
        self.backend
            .swap(Table::Sessions, token_hash, Some(old), None, ended)
            .await
    }

    /// Which of `token_hashes` still have a stored session.
    pub async fn sessions_present(&self, token_hashes: &[[u8; 32]]) -> Result<Vec<[u8; 32]>, StoreError> {
        self.count_read();
        let keys = token_hashes.iter().map(|h| h.to_vec()).collect();
        Ok(self
            .backend
            .present(Table::Sessions, keys)
            .await?
            .into_iter()
            .filter_map(|k| k.try_into().ok())
            .collect())
    }

    /// Every stored session; unreadable ones are skipped and reported, since
    /// one bad record must not keep the gateway from starting.
    pub async fn sessions(&self) -> Result<(Vec<SessionRecord>, Vec<StoreError>), StoreError> {
        self.count_read();
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for (_, v) in self.backend.scan(Table::Sessions).await? {
            match record::decode("sessions", SESSION_V, &v) {
                Ok(s) => ok.push(s),
                Err(e) => bad.push(e),
            }
        }
        Ok((ok, bad))
    }

    /// Appends an event to the audit trail.
    pub async fn audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.backend
            .append_audit(event.at, record::encode(AUDIT_V, event)?)
            .await
    }

    /// The newest `limit` audit events that `wanted` keeps.
    pub async fn audit_query(
        &self,
        limit: usize,
        wanted: impl Fn(&AuditEvent) -> bool,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.count_read();
        let mut out = Vec::new();
        let mut before = None;
        while out.len() < limit {
            let page = self.backend.audit_page(before.take(), AUDIT_PAGE).await?;
            let Some((last, _)) = page.last() else { break };
            before = Some(last.clone());
            for (_, v) in &page {
                let e: AuditEvent = record::decode("audit", AUDIT_V, v)?;
                if wanted(&e) && out.len() < limit {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// Saves a user's failure counter; `None` removes it (after a success).
    pub async fn put_throttle(&self, user_id: &str, counter: Option<&Counter>) -> Result<(), StoreError> {
        let key = user_id.as_bytes();
        match counter {
            Some(c) => {
                self.backend
                    .put(Table::Throttle, key, record::encode(THROTTLE_V, c)?)
                    .await
            }
            None => {
                self.backend
                    .delete(Table::Throttle, vec![key.to_vec()], Vec::new())
                    .await
            }
        }
    }

    /// Every saved user failure counter.
    pub async fn throttles(&self) -> Result<Vec<(String, Counter)>, StoreError> {
        self.count_read();
        self.backend
            .scan(Table::Throttle)
            .await?
            .iter()
            .map(|(k, v)| {
                Ok((
                    String::from_utf8_lossy(k).into_owned(),
                    record::decode("throttle", THROTTLE_V, v)?,
                ))
            })
            .collect()
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

    #[tokio::test]
    async fn users_and_sessions_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.remember_user(&bob(), 100).await.unwrap();
            s.put_session(&SessionRecord {
                token_hash: [1; 32],
                user_id: "u-bob".into(),
                upstream_cookie_hash: [2; 32],
                created: 100,
                last_seen: 100,
                sealed_upstream_cookie: None,
                sealed_held: None,
                confirmed_at: 0,
            })
            .await
            .unwrap();
        }
        let s = reopen(dir.path());
        assert_eq!(s.user("u-bob").await.unwrap().unwrap().email, "bob@acme.test");
        assert_eq!(s.account("acme").await.unwrap().unwrap().name, "Acme");
        let (sessions, errors) = s.sessions().await.unwrap();
        assert_eq!(sessions.len(), 1);
        assert!(errors.is_empty());
    }

    #[tokio::test]
    async fn touching_an_ended_session_does_not_bring_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let r = SessionRecord {
            token_hash: [3; 32],
            user_id: "u".into(),
            upstream_cookie_hash: [0; 32],
            created: 1,
            last_seen: 1,
            sealed_upstream_cookie: None,
            sealed_held: None,
            confirmed_at: 0,
        };
        s.put_session(&r).await.unwrap();
        s.delete_sessions(&[r.token_hash]).await.unwrap();
        s.touch_session(&SessionRecord { last_seen: 9, ..r }).await.unwrap();
        assert!(s.sessions().await.unwrap().0.is_empty());
    }

    #[tokio::test]
    async fn second_sign_in_keeps_first_seen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.remember_user(&bob(), 100).await.unwrap();
        let again = s.remember_user(&bob(), 200).await.unwrap();
        assert_eq!((again.first_seen, again.last_login), (100, 200));
    }

    #[tokio::test]
    async fn audit_reads_newest_first() {
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
            .await
            .unwrap();
        }
        let kinds: Vec<_> = s
            .audit_query(10, |_| true)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["logout", "login"]);
    }

    #[tokio::test]
    async fn reads_are_counted_and_writes_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.update_account::<StoreError>("acme", "Acme", |_| Ok(()))
            .await
            .unwrap();
        let before = s.reads();
        s.account("acme").await.unwrap();
        s.clone().factors("u").await.unwrap();
        assert_eq!(s.reads() - before, 2, "clones share the counter");
    }

    #[test]
    fn unknown_record_version_is_reported_not_panicked() {
        let err = record::decode::<UserRecord>("users", 1, &[9, b'{', b'}']).unwrap_err();
        assert!(err.to_string().contains("unknown record version 9"));
    }
}
