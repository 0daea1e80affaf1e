//! The gateway's durable state: users, accounts, sessions, second factors,
//! failure counters and the audit trail as typed, versioned records. The
//! domain talks to `Store`, whose calls are async and durable when they
//! return; a `Backend` (`sled.rs`, the embedded default, or `postgres.rs`)
//! keeps the encoded records. Nothing outside this module knows which one.
//! Every read is counted (`reads`), so tests and metrics can show that
//! requests do not read it.

mod backend;
pub mod backup;
mod bulk;
mod changes;
pub mod copy;
mod counters;
mod factors;
mod pair;
mod pg_listen;
mod postgres;
mod record;

use record::Record;
mod ceremonies;
mod session_index;
mod sessions;
mod sled;
mod sms;

pub use backend::{AuditCursor, Backend, Entry, Table};
pub use bulk::Import;
pub use changes::{Change, Health};

pub use ceremonies::{Ceremony, CeremonyPurpose};
pub use factors::{
    FactorEntry, FactorsRecord, PendingTotp, RecoveryCode, RecoveryCodes, RememberedDevice, RememberedDevices, Slot,
    SmsFactor, TotpFactor, WebauthnKey, WebauthnKeys,
};
pub use sessions::{SessionChange, SessionRecord};
pub use sms::{SmsCodeRecord, SmsSends};

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::env::UnixSeconds;
use crate::identity::{Identity, Membership};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open {what}: {detail}")]
    Open { what: String, detail: String },
    /// The database failed; the change was not made.
    #[error("store I/O failed: {0}")]
    Io(String),
    /// The database cannot be reached now; the change was not made. The
    /// outage is logged once when it starts (`Health`), not per request.
    #[error("the store is unreachable: {0}")]
    Unavailable(String),
    #[error("cannot encode a record: {0}")]
    Encode(String),
    #[error("a record in tree {tree} is unreadable: {detail}")]
    Corrupt { tree: &'static str, detail: String },
}

impl StoreError {
    /// Logs a failed store call: an outage at debug level only, since
    /// `Health` says it once, and every other failure as an error.
    pub fn log(&self, what: &str) {
        match self {
            StoreError::Unavailable(_) => tracing::debug!(error = %self, "{what}"),
            _ => tracing::error!(error = %self, "{what}"),
        }
    }
}

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
fn users(id: &str) -> (Table, Option<Change>) {
    (Table::Users, Some(Change::UserChanged(id.to_string())))
}

/// The audit trail is read in pages of this many events.
const AUDIT_PAGE: usize = 256;

impl Record for UserRecord {
    const VERSION: u8 = 1;
}

impl Record for AccountRecord {
    const VERSION: u8 = 1;
}

impl Record for AuditEvent {
    const VERSION: u8 = 1;
}

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

    /// Leaves the embedded store in `dir` quick to open next time, once
    /// the process is done with it (`sled::SledBackend::settle`).
    pub fn settle(dir: &Path, patience: std::time::Duration) -> Result<(), StoreError> {
        sled::SledBackend::settle(dir, patience)
    }

    /// Opens the embedded store, waiting up to `patience` for the process
    /// this one replaces to let go of it (a graceful upgrade).
    pub fn open_patiently(dir: &Path, patience: std::time::Duration) -> Result<Store, StoreError> {
        Ok(Store::with_backend(Arc::new(sled::SledBackend::open_patiently(
            dir, patience,
        )?)))
    }

    /// Lets go of the embedded store for a successor process, once the
    /// calls running now are done; every later call is refused
    /// (`Backend::release`).
    pub async fn release(&self, patience: std::time::Duration) -> Result<(), StoreError> {
        self.backend.release(patience).await
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

    async fn get<T: Record>(&self, table: Table, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.count_read();
        self.backend
            .get(table, key)
            .await?
            .map(|b| record::decode(table.name(), &b))
            .transpose()
    }

    async fn all<T: Record>(&self, table: Table) -> Result<Vec<T>, StoreError> {
        self.count_read();
        self.backend
            .scan(table)
            .await?
            .iter()
            .map(|(_, v)| record::decode(table.name(), v))
            .collect()
    }

    /// Removes every record of `table` that `gone` says has nothing left to
    /// say, each only if unchanged since it was read, so a change made
    /// meanwhile (a failure counted, a code sent) is never lost.
    async fn remove_where<R: Record>(&self, table: Table, gone: impl Fn(&R) -> bool) -> Result<(), StoreError> {
        self.count_read();
        for (key, bytes) in self.backend.scan(table).await? {
            let r: R = record::decode(table.name(), &bytes)?;
            if gone(&r) {
                self.backend.swap(table, &key, Some(bytes), None, None).await?;
            }
        }
        Ok(())
    }

    /// Applies `change` atomically to one record (`fresh` when there is
    /// none) and commits it. `change` may run more than once if another
    /// writer wins the race, so it must only compute from its input; its
    /// error aborts without writing.
    async fn update<R, T, E>(
        &self,
        at: (Table, Option<Change>),
        key: &[u8],
        fresh: impl Fn() -> R,
        change: impl FnMut(&mut R) -> Result<T, E>,
    ) -> Result<T, E>
    where
        R: Record + Serialize,
        E: From<StoreError>,
    {
        let out = self.update_if(at, key, || Some(fresh()), change).await?;
        Ok(out.expect("a fresh record is always there to change"))
    }

    /// `update`, where `fresh` may give no record: then an absent record
    /// stays absent, `change` does not run, and the answer is `None`.
    async fn update_if<R, T, E>(
        &self,
        (table, announce): (Table, Option<Change>),
        key: &[u8],
        fresh: impl Fn() -> Option<R>,
        mut change: impl FnMut(&mut R) -> Result<T, E>,
    ) -> Result<Option<T>, E>
    where
        R: Record + Serialize,
        E: From<StoreError>,
    {
        loop {
            self.count_read();
            let old = self.backend.get(table, key).await?;
            let mut rec = match &old {
                Some(b) => record::decode(table.name(), b)?,
                None => match fresh() {
                    Some(rec) => rec,
                    None => return Ok(None),
                },
            };
            let out = change(&mut rec)?;
            let new = record::encode(&rec)?;
            if old.as_ref() == Some(&new) {
                // Nothing changed: no write, and nothing for the other
                // replicas to re-read (an identity refresh that learned
                // nothing new, every minute for every signed-in user;
                // activity another replica already saved).
                return Ok(Some(out));
            }
            if self.backend.swap(table, key, old, Some(new), announce.clone()).await? {
                return Ok(Some(out));
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
        let announce = Some(Change::AccountChanged(id.to_string()));
        self.update((Table::Accounts, announce), id.as_bytes(), fresh, |a| {
            change(a)?;
            Ok(a.clone())
        })
        .await
    }

    /// Every account the gateway knows.
    pub async fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        self.all(Table::Accounts).await
    }

    /// Every user the gateway knows.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.all(Table::Users).await
    }

    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.get(Table::Users, id.as_bytes()).await
    }

    pub async fn account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.get(Table::Accounts, id.as_bytes()).await
    }

    /// Appends an event to the audit trail.
    pub async fn audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.backend.append_audit(event.at, record::encode(event)?).await
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
                let e: AuditEvent = record::decode("audit", v)?;
                if wanted(&e) && out.len() < limit {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
