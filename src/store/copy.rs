//! `store copy`: moves a gateway's embedded store to a shared PostgreSQL one,
//! once, with the gateway stopped, so that a deployment that outgrows one
//! machine keeps its users, second factors, sessions, failure counters and
//! audit trail.
//!
//! Records go over as the bytes they are: both backends keep the same
//! versioned encoding, so nothing is decoded and written again, and a record
//! this release would not read still arrives intact. Only each audit event's
//! time is read out of it, because PostgreSQL keeps it in a column of its own.
//!
//! The target must be empty. Merging into a database that replicas already
//! use could overwrite their newer records, and a second run into the same
//! database would repeat the whole audit trail. A failed copy is started over
//! from a new database, never resumed.
//!
//! A copy without an error is not yet proof: afterwards both sides are read
//! again and compared table by table (count and SHA-256 of every key and
//! value) and the audit event by event in order, so the operator switches
//! the gateways over on evidence.
//!
//! Everything is read and written a page at a time: a million users with
//! their second factors are gigabytes, more than the copy should hold.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::backend::{AuditCursor, Backend, Table};
use super::record::{self, Record};
use super::sled::SledBackend;
use super::{AuditEvent, Store, StoreError};
use crate::env::UnixSeconds;

/// Records per commit: a million users are 200 statements, each small
/// enough for PostgreSQL to take at once and for a failure to say little.
pub(super) const BATCH: usize = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("no embedded store in {0}: give the gateway's data_dir (the folder that holds `store`)")]
    NoSource(PathBuf),
    #[error("cannot open the embedded store in {dir}: is the gateway still running? Stop it first, the copy needs the store to itself ({detail})")]
    SourceBusy { dir: PathBuf, detail: String },
    #[error("{target} already holds records ({found}); copy only into a new, empty database: drop it and create it again (DROP DATABASE ...; CREATE DATABASE ...), then copy again")]
    TargetNotEmpty { target: String, found: String },
    #[error("the copy in {target} differs from the source: {differences}; start no gateway on it: drop the database, create it again and copy again")]
    Mismatch { target: String, differences: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one table, or the audit trail, holds: how many records and a
/// SHA-256 over all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub name: &'static str,
    pub count: u64,
    pub digest: [u8; 32],
}

/// A copy done and verified: the same tallies on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub from: String,
    pub to: String,
    /// Every table in `Table::ALL` order, then the audit trail.
    pub tallies: Vec<Tally>,
}

/// One line per table, then the verdict; no password (both sides are
/// named by `describe`).
impl fmt::Display for CopyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tallies {
            writeln!(
                f,
                "{:<9} {:>10} record(s)  sha256 {}  same in both",
                t.name,
                t.count,
                short(&t.digest)
            )?;
        }
        write!(f, "verified: {} holds what {} holds", self.to, self.from)
    }
}

fn short(digest: &[u8; 32]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens the embedded store in the data folder `dir` for copying. Unlike
/// `Store::open` it never makes one: copying a mistyped folder would
/// otherwise "succeed" with nothing in it.
pub fn open_source(dir: &Path) -> Result<Store, CopyError> {
    if !SledBackend::exists(dir) {
        return Err(CopyError::NoSource(dir.to_path_buf()));
    }
    // sled locks its folder, so a running gateway is the usual reason.
    Store::open(dir).map_err(|e| match e {
        StoreError::Open { detail, .. } => CopyError::SourceBusy {
            dir: dir.to_path_buf(),
            detail,
        },
        other => other.into(),
    })
}

/// Copies every table and the audit trail of `from` into the empty store
/// `to`, then reads both again and compares them.
pub async fn copy(from: &Store, to: &Store) -> Result<CopyReport, CopyError> {
    let (source, target) = (from.backend().as_ref(), to.backend().as_ref());
    refuse_non_empty(target).await?;
    for table in Table::ALL {
        let records = copy_table(source, target, table).await?;
        tracing::info!(table = table.name(), records, "copied");
    }
    let events = copy_audit(source, target).await?;
    tracing::info!(events, "copied the audit trail");
    verify(from, to).await
}

pub(super) async fn refuse_non_empty(target: &dyn Backend) -> Result<(), CopyError> {
    let mut found = Vec::new();
    for table in Table::ALL {
        if !target.scan_page(table, None, 1).await?.is_empty() {
            found.push(table.name());
        }
    }
    if !target.audit_page(None, 1).await?.is_empty() {
        found.push("audit");
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(CopyError::TargetNotEmpty {
        target: target.describe(),
        found: format!("in {}", found.join(", ")),
    })
}

/// Copies one table a page at a time, so that a million users never sit
/// in memory at once. Returns how many records.
async fn copy_table(source: &dyn Backend, target: &dyn Backend, table: Table) -> Result<u64, CopyError> {
    let mut copied = 0;
    let mut after = None;
    loop {
        let page = source.scan_page(table, after.take(), BATCH).await?;
        let full = page.len() == BATCH;
        after = page.last().map(|(key, _)| key.clone());
        copied += page.len() as u64;
        if !page.is_empty() {
            target.put_many(table, page).await?;
        }
        if !full {
            return Ok(copied);
        }
    }
}

/// Writes the source's audit trail to the target oldest first. Returns
/// how many events.
async fn copy_audit(source: &dyn Backend, target: &dyn Backend) -> Result<u64, CopyError> {
    let mut copied = 0;
    for start in audit_starts(source).await? {
        let events = oldest_first(source.audit_page(start, BATCH).await?)?;
        copied += events.len() as u64;
        target.append_audit_many(events).await?;
    }
    Ok(copied)
}

/// Where each page of the audit trail starts, oldest page first. Pages
/// come newest first, so a first pass only notes where each starts and the
/// caller reads them again from the oldest: the trail, which may be far
/// larger than the tables, is never held whole.
pub(super) async fn audit_starts(source: &dyn Backend) -> Result<Vec<Option<AuditCursor>>, StoreError> {
    let mut starts: Vec<Option<AuditCursor>> = vec![None];
    loop {
        let page = source.audit_page(starts.last().cloned().flatten(), BATCH).await?;
        match page.last() {
            Some((cursor, _)) if page.len() == BATCH => starts.push(Some(cursor.clone())),
            _ => break,
        }
    }
    starts.reverse();
    Ok(starts)
}

/// A page of the audit trail (newest first) as events oldest first, each
/// with its time.
pub(super) fn oldest_first(page: Vec<(AuditCursor, Vec<u8>)>) -> Result<Vec<(UnixSeconds, Vec<u8>)>, StoreError> {
    page.into_iter()
        .rev()
        .map(|(_, body)| Ok((event_time(&body)?, body)))
        .collect()
}

/// An audit event's time, the one field PostgreSQL keeps beside the record.
pub(super) fn event_time(body: &[u8]) -> Result<UnixSeconds, StoreError> {
    #[derive(Deserialize)]
    struct Stamp {
        at: UnixSeconds,
    }
    impl Record for Stamp {
        const VERSION: u8 = AuditEvent::VERSION;
    }
    Ok(record::decode::<Stamp>("audit", body)?.at)
}

/// Reads both sides again and compares their tallies.
async fn verify(from: &Store, to: &Store) -> Result<CopyReport, CopyError> {
    let (source, target) = (from.backend().as_ref(), to.backend().as_ref());
    let mut pairs = Vec::new();
    for table in Table::ALL {
        pairs.push((table_tally(source, table).await?, table_tally(target, table).await?));
    }
    pairs.push((audit_tally(source).await?, audit_tally(target).await?));
    let differences: Vec<String> = pairs
        .iter()
        .filter(|(a, b)| a != b)
        .map(|(a, b)| {
            format!(
                "{}: {} record(s) (sha256 {}) in the source, {} (sha256 {}) in the copy",
                a.name,
                a.count,
                short(&a.digest),
                b.count,
                short(&b.digest)
            )
        })
        .collect();
    if !differences.is_empty() {
        return Err(CopyError::Mismatch {
            target: to.describe(),
            differences: differences.join("; "),
        });
    }
    Ok(CopyReport {
        from: from.describe(),
        to: to.describe(),
        tallies: pairs.into_iter().map(|(a, _)| a).collect(),
    })
}

/// Counts and hashes records with each part's length before it, so that
/// no two different sequences of records hash alike.
pub(super) struct Hasher {
    name: &'static str,
    count: u64,
    sha: Sha256,
}

impl Hasher {
    pub(super) fn new(name: &'static str) -> Hasher {
        Hasher {
            name,
            count: 0,
            sha: Sha256::new(),
        }
    }

    pub(super) fn add(&mut self, parts: &[&[u8]]) {
        self.count += 1;
        for part in parts {
            self.sha.update((part.len() as u64).to_be_bytes());
            self.sha.update(part);
        }
    }

    pub(super) fn finish(self) -> Tally {
        Tally {
            name: self.name,
            count: self.count,
            digest: self.sha.finalize().into(),
        }
    }
}

/// A table's records in key order, read a page at a time. Both backends
/// order keys byte by byte; were one to differ, the digests would differ
/// and the copy be refused, never wrongly passed.
pub(super) async fn table_tally(backend: &dyn Backend, table: Table) -> Result<Tally, StoreError> {
    let mut h = Hasher::new(table.name());
    let mut after = None;
    loop {
        let page = backend.scan_page(table, after.take(), BATCH).await?;
        for (key, value) in &page {
            h.add(&[key, value]);
        }
        match page.last() {
            Some((key, _)) if page.len() == BATCH => after = Some(key.clone()),
            _ => return Ok(h.finish()),
        }
    }
}

/// The audit trail's events in their order (newest first: the order pages
/// come in); the cursors differ between backends and are left out.
pub(super) async fn audit_tally(backend: &dyn Backend) -> Result<Tally, StoreError> {
    let mut h = Hasher::new("audit");
    let mut before = None;
    loop {
        let page = backend.audit_page(before.take(), BATCH).await?;
        for (_, body) in &page {
            h.add(&[body]);
        }
        match page.last() {
            Some((cursor, _)) if page.len() == BATCH => before = Some(cursor.clone()),
            _ => return Ok(h.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditEvent, SessionRecord};

    fn event(at: UnixSeconds, kind: String) -> AuditEvent {
        AuditEvent {
            at,
            kind,
            user_id: None,
            account_id: None,
            client: None,
            detail: String::new(),
        }
    }

    /// Users filling more than two pages.
    const USERS: u32 = 2 * BATCH as u32 + 1;

    /// A store with records in every table (`USERS` users, 3 of the rest)
    /// and `events` audit events, several per second.
    async fn filled(dir: &Path, events: usize) -> Store {
        let s = Store::open(dir).unwrap();
        for table in Table::ALL {
            let n = if table == Table::Users { USERS } else { 3 };
            let entries = (0..n).map(|i| (i.to_be_bytes().to_vec(), format!("{}-{i}", table.name()).into_bytes()));
            s.backend().put_many(table, entries.collect()).await.unwrap();
        }
        let trail = (0..events)
            .map(|i| {
                let e = event(1_000 + i as UnixSeconds / 7, format!("e{i}"));
                (e.at, record::encode(&e).unwrap())
            })
            .collect();
        s.backend().append_audit_many(trail).await.unwrap();
        s
    }

    #[tokio::test]
    async fn every_table_and_the_audit_arrive_in_order() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let events = 2 * BATCH + 3;
        let from = filled(a.path(), events).await;
        let to = Store::open(b.path()).unwrap();
        let report = copy(&from, &to).await.unwrap();
        let counts: Vec<_> = report.tallies.iter().map(|t| (t.name, t.count)).collect();
        assert_eq!(
            counts,
            [
                ("users", u64::from(USERS)),
                ("accounts", 3),
                ("sessions", 3),
                ("factors", 3),
                ("throttle", 3),
                ("client_throttle", 3),
                ("sms_codes", 3),
                ("sms_sends", 3),
                ("ceremonies", 3),
                ("user_sessions", 3),
                ("audit", events as u64)
            ]
        );
        let newest: Vec<_> = to.audit_query(3, |_| true).await.unwrap();
        let kinds: Vec<_> = newest.into_iter().map(|e| e.kind).collect();
        let last = events - 1;
        assert_eq!(
            kinds,
            [format!("e{last}"), format!("e{}", last - 1), format!("e{}", last - 2)]
        );
        assert!(report.to_string().ends_with(&format!(
            "verified: {} holds what {} holds",
            to.describe(),
            from.describe()
        )));
    }

    #[tokio::test]
    async fn a_target_with_records_is_refused_and_left_alone() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let from = filled(a.path(), 2).await;
        let to = Store::open(b.path()).unwrap();
        to.put_session(&SessionRecord {
            token_hash: [4; 32],
            user_id: "u".into(),
            upstream_cookie_hash: [0; 32],
            created: 1,
            last_seen: 1,
            ..Default::default()
        })
        .await
        .unwrap();
        let err = copy(&from, &to).await.unwrap_err().to_string();
        assert!(
            err.contains("(in sessions, user_sessions)") && err.contains("DROP DATABASE"),
            "{err}"
        );
        assert_eq!(to.backend().keys(Table::Users).await.unwrap().len(), 0);
        assert!(to.backend().audit_page(None, 1).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_difference_after_the_copy_is_named_by_table() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let from = filled(a.path(), 5).await;
        let to = Store::open(b.path()).unwrap();
        copy(&from, &to).await.unwrap();
        // Same count, one value changed: only the digest can tell.
        let key = 1u32.to_be_bytes();
        to.backend().put(Table::Factors, &key, b"other".to_vec()).await.unwrap();
        to.backend()
            .append_audit(5_000, record::encode(&event(5_000, "extra".into())).unwrap())
            .await
            .unwrap();
        let err = verify(&from, &to).await.unwrap_err().to_string();
        assert!(
            err.contains("factors: 3 record(s)") && err.contains("audit: 5 record(s)"),
            "{err}"
        );
        assert!(!err.contains("users"), "{err}");
    }

    #[tokio::test]
    async fn a_folder_without_a_store_is_an_error_and_stays_empty() {
        let dir = tempfile::tempdir().unwrap();
        let err = open_source(dir.path()).err().unwrap().to_string();
        assert!(err.contains("no embedded store"), "{err}");
        assert!(!SledBackend::exists(dir.path()));
    }

    #[tokio::test]
    async fn a_store_in_use_asks_whether_the_gateway_runs() {
        let dir = tempfile::tempdir().unwrap();
        let _running = Store::open(dir.path()).unwrap();
        let err = open_source(dir.path()).err().unwrap().to_string();
        assert!(err.contains("is the gateway still running?"), "{err}");
    }
}
