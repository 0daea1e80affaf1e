//! The embedded backend: one sled database in the data folder, one tree per
//! table. The only code that knows sled. sled's calls block, so each runs
//! on tokio's blocking pool; each write is flushed before it returns, which
//! is the durability the `Backend` contract promises.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::backend::{AuditCursor, Backend, Entry, Table};
use super::changes::{Change, Health};
use super::StoreError;
use crate::env::UnixSeconds;

/// sled's page cache. Its default, 1 GiB, is for a database that serves
/// reads; this one is read once per user or session first seen and then
/// mostly written, so a large cache only holds pages nobody asks for again
/// (BENCHMARKS.md: 1.6 GiB resident with a million users at the default).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct SledBackend {
    dir: PathBuf,
    db: sled::Db,
    trees: Vec<sled::Tree>,
    audit: sled::Tree,
    /// One process holds the folder, so there is no one to tell of a
    /// change: subscribers hear nothing, and the store is always up.
    changes: tokio::sync::broadcast::Sender<Change>,
    health: Health,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// The database's folder inside the gateway's data folder.
const FOLDER: &str = "store";

impl SledBackend {
    /// Whether the data folder `dir` holds a database (`open` would make one).
    pub fn exists(dir: &Path) -> bool {
        dir.join(FOLDER).is_dir()
    }

    pub fn open(dir: &Path) -> Result<SledBackend, StoreError> {
        let db = sled::Config::new()
            .path(dir.join(FOLDER))
            .flush_every_ms(Some(500))
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| StoreError::Open {
                what: format!(
                    "the store at {} (is another gateway running on this data directory?)",
                    dir.display()
                ),
                detail: e.to_string(),
            })?;
        let trees = Table::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<_, _>>()?;
        Ok(SledBackend {
            dir: dir.to_path_buf(),
            trees,
            audit: db.open_tree("audit")?,
            db,
            changes: tokio::sync::broadcast::channel(1).0,
            health: Health::default(),
        })
    }

    fn tree(&self, table: Table) -> &sled::Tree {
        let i = Table::ALL
            .iter()
            .position(|t| *t == table)
            .expect("every table has a tree");
        &self.trees[i]
    }

    /// Runs `op` on the blocking pool with its own handle to the database.
    async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&SledBackend) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || op(&me))
            .await
            .unwrap_or_else(|e| Err(StoreError::Io(format!("store task failed: {e}"))))
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

/// Records as sled yields them, as owned entries; the first error stops.
fn entries(items: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>) -> Result<Vec<Entry>, StoreError> {
    items
        .map(|item| {
            let (k, v) = item?;
            Ok((k.to_vec(), v.to_vec()))
        })
        .collect()
}

#[async_trait]
impl Backend for SledBackend {
    fn describe(&self) -> String {
        format!("sled:{}", self.dir.display())
    }

    async fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_vec();
        self.run(move |b| Ok(b.tree(table).get(key)?.map(|v| v.to_vec()))).await
    }

    async fn put(&self, table: Table, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let key = key.to_vec();
        self.run(move |b| {
            b.tree(table).insert(key, value)?;
            b.flush()
        })
        .await
    }

    async fn put_many(&self, table: Table, entries: Vec<Entry>) -> Result<(), StoreError> {
        self.run(move |b| {
            let mut batch = sled::Batch::default();
            for (k, v) in entries {
                batch.insert(k, v);
            }
            b.tree(table).apply_batch(batch)?;
            b.flush()
        })
        .await
    }

    async fn replace(&self, table: Table, key: &[u8], value: Vec<u8>) -> Result<bool, StoreError> {
        let key = key.to_vec();
        self.run(move |b| {
            let before = b.tree(table).fetch_and_update(key, |old| old.map(|_| value.clone()))?;
            b.flush()?;
            Ok(before.is_some())
        })
        .await
    }

    async fn delete(&self, table: Table, keys: Vec<Vec<u8>>, _announce: Vec<Change>) -> Result<(), StoreError> {
        self.run(move |b| {
            let mut batch = sled::Batch::default();
            for k in keys {
                batch.remove(k);
            }
            b.tree(table).apply_batch(batch)?;
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
        self.run(move |b| {
            let swapped = b.tree(table).compare_and_swap(key, old, new)?.is_ok();
            if swapped {
                b.flush()?;
            }
            Ok(swapped)
        })
        .await
    }

    async fn present(&self, table: Table, keys: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, StoreError> {
        self.run(move |b| {
            let tree = b.tree(table);
            let mut found = Vec::new();
            for k in keys {
                if tree.contains_key(&k)? {
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
        self.run(move |b| entries(b.tree(table).iter())).await
    }

    async fn keys(&self, table: Table) -> Result<Vec<Vec<u8>>, StoreError> {
        self.run(move |b| b.tree(table).iter().keys().map(|k| Ok(k?.to_vec())).collect())
            .await
    }

    async fn scan_page(&self, table: Table, after: Option<Vec<u8>>, limit: usize) -> Result<Vec<Entry>, StoreError> {
        use std::ops::Bound;
        self.run(move |b| {
            let tree = b.tree(table);
            let range = match after {
                Some(k) => tree.range((Bound::Excluded(k), Bound::Unbounded)),
                None => tree.iter(),
            };
            entries(range.take(limit))
        })
        .await
    }

    async fn append_audit(&self, at: UnixSeconds, value: Vec<u8>) -> Result<(), StoreError> {
        self.run(move |b| {
            b.audit.insert(b.audit_key(at)?, value)?;
            b.flush()
        })
        .await
    }

    async fn append_audit_many(&self, events: Vec<(UnixSeconds, Vec<u8>)>) -> Result<(), StoreError> {
        self.run(move |b| {
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
            entries(range.rev().take(limit))
        })
        .await
    }
}
