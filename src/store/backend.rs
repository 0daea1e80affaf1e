//! The seam between the gateway's typed records and a database. A backend
//! stores opaque records (`record.rs` encodes them) in a few tables of
//! key → value, and every call that returns `Ok` is durable: a crash after
//! it loses nothing. Conditional writes (`swap`, `replace`) are the one
//! atomic check-and-change the domain needs: a code consumed through one
//! replica, or one task, cannot be consumed again through another. A write
//! that others may have cached carries the `Change`s to announce, sent in
//! the same commit, so no replica can miss a change that was made.

use async_trait::async_trait;

use super::changes::{Change, Health};
use super::StoreError;
use crate::env::UnixSeconds;

/// The kinds of record, one table (sled tree, PostgreSQL table) each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Users,
    Accounts,
    Sessions,
    Factors,
    /// Failure counters per user.
    Throttle,
    /// Failure counters per client address (`client_addr::limit_key`).
    ClientThrottle,
    /// SMS codes in flight, one per user.
    SmsCodes,
    /// When SMS codes were sent, per user and per number.
    SmsSends,
    /// WebAuthn ceremonies in flight, one per session.
    Ceremonies,
    /// Each user's sessions: `user id, 0, token hash` keys, empty values.
    UserSessions,
}

impl Table {
    pub const ALL: [Table; 10] = [
        Table::Users,
        Table::Accounts,
        Table::Sessions,
        Table::Factors,
        Table::Throttle,
        Table::ClientThrottle,
        Table::SmsCodes,
        Table::SmsSends,
        Table::Ceremonies,
        Table::UserSessions,
    ];

    /// The name of its sled tree and PostgreSQL table.
    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Accounts => "accounts",
            Table::Sessions => "sessions",
            Table::Factors => "factors",
            Table::Throttle => "throttle",
            Table::ClientThrottle => "client_throttle",
            Table::SmsCodes => "sms_codes",
            Table::SmsSends => "sms_sends",
            Table::Ceremonies => "ceremonies",
            Table::UserSessions => "user_sessions",
        }
    }
}

/// A record with its key.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Where a page of the audit trail ends; pass it back to read older events.
pub type AuditCursor = Vec<u8>;

/// Writes wait while this lives (`Backend::pause_writes`).
pub struct WritesPaused {
    pub(super) _held: tokio::sync::OwnedRwLockWriteGuard<()>,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// What this backend is, for logs and errors: `sled:DIR` or the
    /// PostgreSQL host and database (never the password).
    fn describe(&self) -> String;

    async fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Inserts or replaces.
    async fn put(&self, table: Table, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;

    /// Writes all of `entries` in one commit.
    async fn put_many(&self, table: Table, entries: Vec<Entry>) -> Result<(), StoreError>;

    /// Removes the records of `keys` (absent ones are no error), in one
    /// commit with the announcement of `announce`.
    async fn delete(&self, table: Table, keys: Vec<Vec<u8>>, announce: Vec<Change>) -> Result<(), StoreError>;

    /// Which of `keys` have a record.
    async fn present(&self, table: Table, keys: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Sets the record to `new` (`None`: removes it) only if it is still
    /// `old` (`None`: absent); `false` if someone changed it first. A
    /// change made announces `announce` in the same commit.
    async fn swap(
        &self,
        table: Table,
        key: &[u8],
        old: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        announce: Option<Change>,
    ) -> Result<bool, StoreError>;

    /// Every record of the table, in key order.
    async fn scan(&self, table: Table) -> Result<Vec<Entry>, StoreError>;

    /// Every key of the table, in key order.
    async fn keys(&self, table: Table) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Up to `limit` records of the table whose keys come after `after`
    /// (from the first when `None`), in key order: a table too large to
    /// hold at once, read a page at a time (`store copy`).
    async fn scan_page(&self, table: Table, after: Option<Vec<u8>>, limit: usize) -> Result<Vec<Entry>, StoreError>;

    /// Changes announced by any replica (this one included), and `Resync`
    /// after a lost connection.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change>;

    /// Whether the database answered last time it was asked.
    fn health(&self) -> Health;

    /// Appends an event to the audit trail.
    async fn append_audit(&self, at: UnixSeconds, value: Vec<u8>) -> Result<(), StoreError>;

    /// Appends `events` to the audit trail in one commit, in the order
    /// given (newest last), for `store copy`.
    async fn append_audit_many(&self, events: Vec<(UnixSeconds, Vec<u8>)>) -> Result<(), StoreError>;

    /// Up to `limit` audit events older than `before` (all when `None`),
    /// newest first, each with the cursor to continue from.
    async fn audit_page(
        &self,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<(AuditCursor, Vec<u8>)>, StoreError>;

    /// Holds back every write until the guard is dropped, so that what is
    /// read meanwhile is one moment's store (`admin backup`); `None` when
    /// the backend cannot (a shared database has its own tools: pg_dump).
    async fn pause_writes(&self) -> Option<WritesPaused> {
        None
    }

    /// Lets go of a database only one process may hold, for a successor
    /// process to open, once the calls running now are done (waiting up to
    /// `patience`); every later call is refused. A shared database needs
    /// nothing of the kind.
    async fn release(&self, _patience: std::time::Duration) -> Result<(), StoreError> {
        Ok(())
    }
}
