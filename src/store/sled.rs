//! The embedded backend: one sled database in the data folder, one tree per
//! table, except that a user's record and their factors share one entry of
//! the `users` tree (`pair.rs`). The only code that knows sled. sled's calls
//! block, so each runs on tokio's blocking pool; each write is flushed
//! before it returns, which is the durability the `Backend` contract
//! promises.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::backend::{AuditCursor, Backend, Entry, Table, WritesPaused};
use super::changes::{Change, Health};
use super::pair::{self, Half};
use super::StoreError;

mod fold;
mod recover;

use crate::env::UnixSeconds;
use fold::fold_factors;

/// sled's page cache. Its default, 1 GiB, is for a database that serves
/// reads; this one is read once per user or session first seen and then
/// mostly written, so a large cache only holds pages nobody asks for again
/// (BENCHMARKS.md: 1.6 GiB resident with a million users at the default).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct SledBackend {
    dir: PathBuf,
    /// `None` once released to a successor process (`release`).
    open: Arc<RwLock<Option<Arc<Open>>>>,
    /// Every write holds it shared; a backup holds it alone, so that what
    /// it reads is one moment's store (`pause_writes`).
    gate: Arc<tokio::sync::RwLock<()>>,
    /// Let go for good, to a successor process (`release`).
    released: Arc<AtomicBool>,
    /// Reopening after an I/O failure (`recover`) is under way.
    recovering: Arc<AtomicBool>,
    /// One process holds the folder, so there is no one to tell of a
    /// change: subscribers hear nothing, and the store is always up.
    changes: tokio::sync::broadcast::Sender<Change>,
    health: Health,
}

/// The open database: while any of these handles lives, sled holds the
/// folder's lock.
struct Open {
    db: sled::Db,
    /// One per table, in `Table::ALL` order; `Users` and `Factors` are the
    /// same tree.
    trees: Vec<sled::Tree>,
    audit: sled::Tree,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// The database's folder inside the gateway's data folder.
const FOLDER: &str = "store";

/// What a person can do about a store that would not open: sled's lock
/// held says another process has the folder; damaged files say so, with
/// the ways back, rather than suggest a process that is not there.
fn open_hint(e: &sled::Error) -> &'static str {
    match e {
        // sled words its lock failure so, as an error of kind `Other`.
        sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock") => {
            " (is another gateway running on this data directory?)"
        }
        sled::Error::Corruption { .. } => {
            " (its files are damaged: restore a backup with `tfa-gateway restore`, \
             or move the folder aside to start with an empty store)"
        }
        _ => "",
    }
}

impl SledBackend {
    /// Whether the data folder `dir` holds a database (`open` would make one).
    pub fn exists(dir: &Path) -> bool {
        dir.join(FOLDER).is_dir()
    }

    fn config(dir: &Path) -> sled::Config {
        sled::Config::new()
            .path(dir.join(FOLDER))
            .flush_every_ms(Some(500))
            .cache_capacity(CACHE_BYTES)
    }

    /// Opens the database of a stopped gateway and lets it go again. sled
    /// reads back the part of its log written since it last opened, then
    /// writes a snapshot of where every page is; doing that when the
    /// gateway stops, with every handle of the run gone, spares the next
    /// start the replay (BENCHMARKS.md: 0.2 s instead of 1.1 s with a
    /// million enrolled users). An error if the folder is still locked
    /// after `patience` (a handle still open somewhere): nothing is lost
    /// then, the next start replays the log.
    pub fn settle(dir: &Path, patience: std::time::Duration) -> Result<(), StoreError> {
        if !Self::exists(dir) {
            return Ok(());
        }
        let until = std::time::Instant::now() + patience;
        loop {
            match Self::config(dir).open() {
                Ok(db) => return Ok(db.flush().map(drop)?),
                // sled lets go of its lock from a background thread, a
                // moment after the last handle is dropped.
                Err(sled::Error::Io(_)) if std::time::Instant::now() < until => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn open(dir: &Path) -> Result<SledBackend, StoreError> {
        Self::open_patiently(dir, Duration::ZERO)
    }

    /// Opens the database, waiting up to `patience` for a process that is
    /// handing over to let go of it.
    pub fn open_patiently(dir: &Path, patience: Duration) -> Result<SledBackend, StoreError> {
        let until = Instant::now() + patience;
        let db = loop {
            match Self::config(dir).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(_)) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    return Err(StoreError::Open {
                        what: format!("the store at {}{}", dir.display(), open_hint(&e)),
                        detail: e.to_string(),
                    })
                }
            }
        };
        let trees: Vec<sled::Tree> = Table::ALL
            .iter()
            .map(|t| db.open_tree(Self::place(*t).0.name()))
            .collect::<Result<_, _>>()?;
        let open = Open {
            trees,
            audit: db.open_tree("audit")?,
            db,
        };
        fold_factors(&open.db, open.tree(Table::Users).0)?;
        Ok(SledBackend {
            dir: dir.to_path_buf(),
            open: Arc::new(RwLock::new(Some(Arc::new(open)))),
            gate: Arc::default(),
            released: Arc::default(),
            recovering: Arc::default(),
            changes: tokio::sync::broadcast::channel(1).0,
            health: Health::default(),
        })
    }

    /// Where a table's records are: the table whose tree holds them, and
    /// which half of its entries they are when they share them.
    fn place(table: Table) -> (Table, Option<Half>) {
        match table {
            Table::Users => (Table::Users, Some(Half::User)),
            Table::Factors => (Table::Users, Some(Half::Factors)),
            other => (other, None),
        }
    }

    /// Runs `op` on the blocking pool with its own handle to the database;
    /// refused once the database was released.
    async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Open) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let open = self.open.read().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(open) = open else {
            let why = if self.released.load(Ordering::Relaxed) {
                "the store was handed to this gateway's successor"
            } else {
                "the store is being reopened after a failure"
            };
            return Err(StoreError::Unavailable(why.into()));
        };
        let failed = open.clone();
        let result = tokio::task::spawn_blocking(move || op(&open))
            .await
            .unwrap_or_else(|e| Err(StoreError::Io(format!("store task failed: {e}"))));
        if let Err(StoreError::Io(_)) = &result {
            self.recover(failed);
        }
        result
    }
}

impl SledBackend {
    /// `run` for a call that writes: it waits while writes are paused.
    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Open) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _writing = self.gate.read().await;
        self.run(op).await
    }
}

impl Open {
    fn tree(&self, table: Table) -> (&sled::Tree, Option<Half>) {
        let i = Table::ALL
            .iter()
            .position(|t| *t == table)
            .expect("every table has a tree");
        (&self.trees[i], SledBackend::place(table).1)
    }

    /// Time first, so the newest are last; the id, which only grows, keeps
    /// events of one second apart and in the order they were appended.
    fn audit_key(&self, at: UnixSeconds) -> Result<Vec<u8>, StoreError> {
        let mut key = at.to_be_bytes().to_vec();
        key.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        Ok(key)
    }

    /// Makes what was written so far durable.
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// Records as sled yields them, as owned entries (only those with the
/// `half` asked for, when entries are shared); the first error stops.
fn entries(
    items: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    half: Option<Half>,
    limit: usize,
) -> Result<Vec<Entry>, StoreError> {
    let mut out = Vec::new();
    for item in items {
        if out.len() == limit {
            break;
        }
        let (k, v) = item?;
        match half {
            None => out.push((k.to_vec(), v.to_vec())),
            Some(h) => {
                if let Some(v) = pair::get(&v, h)? {
                    out.push((k.to_vec(), v.to_vec()));
                }
            }
        }
    }
    Ok(out)
}

/// Runs `op` as one transaction on `tree`: all its writes or none.
fn transact<T>(
    tree: &sled::Tree,
    op: impl Fn(&TransactionalTree) -> Result<T, ConflictableTransactionError<StoreError>>,
) -> Result<T, StoreError> {
    tree.transaction(op).map_err(untangle)
}

fn untangle(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// Sets (`None`: removes) the `half` of an entry inside a transaction.
fn set_half(
    tx: &TransactionalTree,
    half: Half,
    key: &[u8],
    old: Option<&[u8]>,
    new: Option<&[u8]>,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    match pair::set(old, half, new).map_err(abort)? {
        Some(entry) => tx.insert(key, entry)?,
        None => tx.remove(key)?,
    };
    Ok(())
}

/// Sets (`None`: removes) the `half` of each entry of `writes`, in one
/// transaction.
fn set_halves(tree: &sled::Tree, half: Half, writes: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
    transact(tree, |tx| {
        for (k, v) in writes {
            let old = tx.get(k)?;
            set_half(tx, half, k, old.as_deref(), v.as_deref())?;
        }
        Ok(())
    })
}

#[async_trait]
impl Backend for SledBackend {
    fn describe(&self) -> String {
        format!("sled:{}", self.dir.display())
    }

    async fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_vec();
        self.run(move |b| {
            let (tree, half) = b.tree(table);
            let Some(v) = tree.get(key)? else { return Ok(None) };
            match half {
                None => Ok(Some(v.to_vec())),
                Some(h) => Ok(pair::get(&v, h)?.map(<[u8]>::to_vec)),
            }
        })
        .await
    }

    async fn put(&self, table: Table, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.put_many(table, vec![(key.to_vec(), value)]).await
    }

    async fn put_many(&self, table: Table, entries: Vec<Entry>) -> Result<(), StoreError> {
        self.write(move |b| {
            match b.tree(table) {
                (tree, None) => {
                    let mut batch = sled::Batch::default();
                    for (k, v) in entries {
                        batch.insert(k, v);
                    }
                    tree.apply_batch(batch)?;
                }
                (tree, Some(half)) => {
                    let writes: Vec<_> = entries.into_iter().map(|(k, v)| (k, Some(v))).collect();
                    set_halves(tree, half, &writes)?;
                }
            }
            b.flush()
        })
        .await
    }

    async fn delete(&self, table: Table, keys: Vec<Vec<u8>>, _announce: Vec<Change>) -> Result<(), StoreError> {
        self.write(move |b| {
            match b.tree(table) {
                (tree, None) => {
                    let mut batch = sled::Batch::default();
                    for k in keys {
                        batch.remove(k);
                    }
                    tree.apply_batch(batch)?;
                }
                (tree, Some(half)) => {
                    let writes: Vec<_> = keys.into_iter().map(|k| (k, None)).collect();
                    set_halves(tree, half, &writes)?;
                }
            }
            b.flush()
        })
        .await
    }

    async fn swap(
        &self,
        table: Table,
        key: &[u8],
        old: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        _announce: Option<Change>,
    ) -> Result<bool, StoreError> {
        let key = key.to_vec();
        self.write(move |b| {
            let swapped = match b.tree(table) {
                (tree, None) => tree.compare_and_swap(&key, old.as_deref(), new.as_deref())?.is_ok(),
                (tree, Some(half)) => transact(tree, |tx| {
                    let entry = tx.get(&key)?;
                    let current = match &entry {
                        Some(e) => pair::get(e, half).map_err(abort)?,
                        None => None,
                    };
                    if current != old.as_deref() {
                        return Ok(false);
                    }
                    set_half(tx, half, &key, entry.as_deref(), new.as_deref())?;
                    Ok(true)
                })?,
            };
            if swapped {
                b.flush()?;
            }
            Ok(swapped)
        })
        .await
    }

    async fn present(&self, table: Table, keys: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, StoreError> {
        self.run(move |b| {
            let (tree, half) = b.tree(table);
            let mut found = Vec::new();
            for k in keys {
                let there = match (half, tree.get(&k)?) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(h), Some(entry)) => pair::get(&entry, h)?.is_some(),
                };
                if there {
                    found.push(k);
                }
            }
            Ok(found)
        })
        .await
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    fn health(&self) -> Health {
        self.health.clone()
    }

    async fn scan(&self, table: Table) -> Result<Vec<Entry>, StoreError> {
        self.run(move |b| {
            let (tree, half) = b.tree(table);
            entries(tree.iter(), half, usize::MAX)
        })
        .await
    }

    async fn keys(&self, table: Table) -> Result<Vec<Vec<u8>>, StoreError> {
        self.run(move |b| match b.tree(table) {
            (tree, None) => tree.iter().keys().map(|k| Ok(k?.to_vec())).collect(),
            (tree, half) => Ok(entries(tree.iter(), half, usize::MAX)?
                .into_iter()
                .map(|(k, _)| k)
                .collect()),
        })
        .await
    }

    async fn scan_page(&self, table: Table, after: Option<Vec<u8>>, limit: usize) -> Result<Vec<Entry>, StoreError> {
        use std::ops::Bound;
        self.run(move |b| {
            let (tree, half) = b.tree(table);
            let range = match after {
                Some(k) => tree.range((Bound::Excluded(k), Bound::Unbounded)),
                None => tree.iter(),
            };
            entries(range, half, limit)
        })
        .await
    }

    async fn append_audit(&self, at: UnixSeconds, value: Vec<u8>) -> Result<(), StoreError> {
        self.write(move |b| {
            b.audit.insert(b.audit_key(at)?, value)?;
            b.flush()
        })
        .await
    }

    async fn append_audit_many(&self, events: Vec<(UnixSeconds, Vec<u8>)>) -> Result<(), StoreError> {
        self.write(move |b| {
            let mut batch = sled::Batch::default();
            for (at, value) in events {
                batch.insert(b.audit_key(at)?, value);
            }
            b.audit.apply_batch(batch)?;
            b.flush()
        })
        .await
    }

    async fn audit_page(
        &self,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<(AuditCursor, Vec<u8>)>, StoreError> {
        self.run(move |b| {
            let range = match before {
                Some(c) => b.audit.range(..c),
                None => b.audit.iter(),
            };
            entries(range.rev(), None, limit)
        })
        .await
    }

    async fn pause_writes(&self) -> Option<WritesPaused> {
        Some(WritesPaused {
            _held: self.gate.clone().write_owned().await,
        })
    }

    async fn release(&self, patience: Duration) -> Result<(), StoreError> {
        self.released.store(true, Ordering::Relaxed);
        let taken = self.open.write().unwrap_or_else(PoisonError::into_inner).take();
        let Some(mut open) = taken else { return Ok(()) };
        tokio::task::spawn_blocking(move || {
            let until = Instant::now() + patience;
            // A call already running holds its own handle: it finishes first.
            loop {
                match Arc::try_unwrap(open) {
                    Ok(last) => return Ok(last.db.flush().map(drop)?),
                    Err(_) if Instant::now() >= until => {
                        return Err(StoreError::Io(
                            "a store call did not finish; the store stays locked until this process exits".into(),
                        ))
                    }
                    Err(still) => {
                        open = still;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Io(format!("store task failed: {e}"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_error(dir: &Path) -> String {
        match SledBackend::open_patiently(dir, Duration::from_secs(5)) {
            Ok(_) => panic!("the store at {} opened", dir.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_store_held_by_another_process_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let _held = SledBackend::open(tmp.path()).unwrap();
        let e = SledBackend::open(tmp.path()).err().expect("a second open").to_string();
        assert!(e.contains("is another gateway running"), "{e}");
    }

    #[test]
    fn a_damaged_store_says_so_and_how_back_not_that_a_process_holds_it() {
        // A demo's store as found on the development machine after an
        // earlier session (how it came to be is not known): a snapshot
        // naming records its empty log does not have.
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/damaged-sled");
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        std::fs::create_dir_all(store.join("blobs")).unwrap();
        for name in ["conf", "db", "snap.0000000000000D34"] {
            std::fs::copy(fixture.join(name), store.join(name)).unwrap();
        }
        let e = open_error(tmp.path());
        assert!(e.contains("damaged") && e.contains("tfa-gateway restore"), "{e}");
        assert!(!e.contains("another gateway"), "{e}");
    }
}
