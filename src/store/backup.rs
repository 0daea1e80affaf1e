//! `admin backup` and `restore`: the embedded store as one file, taken while
//! the gateway serves and brought back into an empty store with the gateway
//! stopped.
//!
//! The file is JSON lines: a header, then every record of every table as
//! the bytes the store keeps (base64), then the audit trail oldest first,
//! then a trailer with each table's count and SHA-256 (the tallies `store
//! copy` verifies with). Records are the store's own encoding, so secrets
//! in it are what the store holds: sealed (TOTP secrets, phone numbers, the
//! dashboard's cookies) or hashed (recovery codes, tokens), never plain;
//! restoring needs the same `second_factor` key.
//!
//! One moment's store: writes wait while the backup reads
//! (`Backend::pause_writes`); requests that only read, and signed-in
//! requests, which touch no store, go on. A PostgreSQL store has pg_dump
//! for this and is refused.
//!
//! Restoring reads and checks the whole file against its trailer before it
//! writes anything, so a cut or altered file changes nothing, writes into
//! an empty store only, and then checks the store against the trailer.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::backend::{Entry, Table};
use super::copy::{self, CopyError, Hasher, Tally, BATCH};
use super::{Store, StoreError};
use crate::env::UnixSeconds;

const FORMAT: &str = "tfa-gateway backup";
const VERSION: u32 = 1;
/// The audit trail's name in the file, beside the tables'.
const AUDIT: &str = "audit";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} cannot be backed up this way: use pg_dump (and pg_restore) for a PostgreSQL store")]
    Shared(String),
    #[error("not a tfa-gateway backup: {0}")]
    NotABackup(String),
    #[error("the backup is damaged or incomplete: {0}; nothing was restored")]
    Damaged(String),
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    created: UnixSeconds,
    from: String,
}

/// One record: its table (or `audit`), key (none for an audit event) and
/// bytes.
#[derive(Serialize, Deserialize)]
struct Line {
    table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    value: String,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct Count {
    name: String,
    count: u64,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    tallies: Vec<Count>,
}

impl From<&Tally> for Count {
    fn from(t: &Tally) -> Count {
        Count {
            name: t.name.to_string(),
            count: t.count,
            sha256: t.digest.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

fn json_line<T: Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), StoreError> {
    serde_json::to_writer(&mut *out, value).map_err(|e| StoreError::Encode(e.to_string()))?;
    out.push(b'\n');
    Ok(())
}

/// The whole store as a backup file, with writes held back meanwhile.
pub async fn write(store: &Store, now: UnixSeconds) -> Result<Vec<u8>, BackupError> {
    let source = store.backend().as_ref();
    let Some(_paused) = source.pause_writes().await else {
        return Err(BackupError::Shared(source.describe()));
    };
    let mut out = Vec::new();
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        created: now,
        from: source.describe(),
    };
    json_line(&mut out, &header)?;
    let mut tallies = Vec::new();
    for table in Table::ALL {
        let mut after = None;
        loop {
            let page = source.scan_page(table, after.take(), BATCH).await?;
            for (key, value) in &page {
                let line = Line {
                    table: table.name().into(),
                    key: Some(B64.encode(key)),
                    value: B64.encode(value),
                };
                json_line(&mut out, &line)?;
            }
            match page.last() {
                Some((key, _)) if page.len() == BATCH => after = Some(key.clone()),
                _ => break,
            }
        }
        // Counted by reading the table again, as `store copy` verifies: with
        // writes held back both reads agree, and the trailer proves it.
        tallies.push(Count::from(&copy::table_tally(source, table).await?));
    }
    for start in copy::audit_starts(source).await? {
        for (_, body) in copy::oldest_first(source.audit_page(start, BATCH).await?)? {
            let line = Line {
                table: AUDIT.into(),
                key: None,
                value: B64.encode(body),
            };
            json_line(&mut out, &line)?;
        }
    }
    tallies.push(Count::from(&copy::audit_tally(source).await?));
    json_line(&mut out, &Trailer { tallies })?;
    Ok(out)
}

/// What a backup file holds, read and checked.
struct Contents {
    tables: Vec<(Table, Vec<Entry>)>,
    /// Oldest first.
    audit: Vec<Vec<u8>>,
    tallies: Vec<Count>,
}

fn damaged(what: impl std::fmt::Display) -> BackupError {
    BackupError::Damaged(what.to_string())
}

/// Reads a backup file and checks every table and the audit trail against
/// the trailer's counts and digests.
fn read(file: &[u8]) -> Result<Contents, BackupError> {
    let mut lines = file.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let header: Header = lines
        .next()
        .and_then(|l| serde_json::from_slice(l).ok())
        .ok_or_else(|| BackupError::NotABackup("no header line".into()))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(BackupError::NotABackup(format!(
            "format {:?} version {} (this release reads {FORMAT:?} version {VERSION})",
            header.format, header.version
        )));
    }
    let mut tables: Vec<(Table, Vec<Entry>)> = Table::ALL.iter().map(|t| (*t, Vec::new())).collect();
    let mut audit = Vec::new();
    let mut trailer = None;
    for (n, line) in lines.enumerate() {
        if trailer.is_some() {
            return Err(damaged(format!("line {} follows the trailer", n + 2)));
        }
        if let Ok(t) = serde_json::from_slice::<Trailer>(line) {
            trailer = Some(t);
            continue;
        }
        let record: Line = serde_json::from_slice(line).map_err(|e| damaged(format!("line {}: {e}", n + 2)))?;
        let value = B64
            .decode(&record.value)
            .map_err(|e| damaged(format!("line {}: {e}", n + 2)))?;
        if record.table == AUDIT {
            audit.push(value);
            continue;
        }
        let Some((_, entries)) = tables.iter_mut().find(|(t, _)| t.name() == record.table) else {
            return Err(damaged(format!("line {}: no table {:?}", n + 2, record.table)));
        };
        let key = B64
            .decode(record.key.unwrap_or_default())
            .map_err(|e| damaged(format!("line {}: {e}", n + 2)))?;
        entries.push((key, value));
    }
    let Some(trailer) = trailer else {
        return Err(damaged("it ends before its trailer (cut short?)"));
    };
    let contents = Contents {
        tables,
        audit,
        tallies: trailer.tallies,
    };
    let found = contents.tally();
    if found != contents.tallies {
        return Err(damaged("its records do not match the counts and digests it ends with"));
    }
    Ok(contents)
}

impl Contents {
    /// The tallies of what was read, as `store copy` computes them.
    fn tally(&self) -> Vec<Count> {
        let mut out = Vec::new();
        for (table, entries) in &self.tables {
            let mut h = Hasher::new(table.name());
            for (k, v) in entries {
                h.add(&[k, v]);
            }
            out.push(Count::from(&h.finish()));
        }
        let mut h = Hasher::new(AUDIT);
        for body in self.audit.iter().rev() {
            h.add(&[body]);
        }
        out.push(Count::from(&h.finish()));
        out
    }
}

/// Brings a backup file back into the empty store `to`; returns a report
/// of what it holds, checked.
pub async fn restore(file: &[u8], to: &Store) -> Result<String, BackupError> {
    let contents = read(file)?;
    let target = to.backend().as_ref();
    copy::refuse_non_empty(target).await?;
    for (table, entries) in contents.tables {
        for chunk in entries.chunks(BATCH) {
            target.put_many(table, chunk.to_vec()).await?;
        }
    }
    for chunk in contents.audit.chunks(BATCH) {
        let events = chunk
            .iter()
            .map(|body| Ok((copy::event_time(body)?, body.clone())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        target.append_audit_many(events).await?;
    }
    let mut report = String::new();
    for (i, table) in Table::ALL.iter().enumerate() {
        let now = Count::from(&copy::table_tally(target, *table).await?);
        check(&now, &contents.tallies[i], &target.describe())?;
        report.push_str(&format!("{:<9} {:>10} record(s)  restored\n", now.name, now.count));
    }
    let now = Count::from(&copy::audit_tally(target).await?);
    check(&now, &contents.tallies[Table::ALL.len()], &target.describe())?;
    report.push_str(&format!("{:<9} {:>10} event(s)   restored\n", now.name, now.count));
    report.push_str(&format!("verified: {} holds what the backup holds", target.describe()));
    Ok(report)
}

fn check(now: &Count, expected: &Count, target: &str) -> Result<(), BackupError> {
    if now == expected {
        return Ok(());
    }
    Err(BackupError::Copy(CopyError::Mismatch {
        target: target.to_string(),
        differences: format!(
            "{}: {} record(s) where the backup has {}",
            now.name, now.count, expected.count
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditEvent;

    async fn a_store_with_records(dir: &std::path::Path) -> Store {
        let store = Store::open(dir).unwrap();
        store
            .backend()
            .put_many(Table::Sessions, vec![(b"k1".to_vec(), b"v1".to_vec())])
            .await
            .unwrap();
        let event = AuditEvent {
            at: 7,
            kind: "backup".into(),
            user_id: None,
            account_id: None,
            client: None,
            detail: String::new(),
        };
        store.audit(&event).await.unwrap();
        store
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_altered_record_or_another_format_is_refused_and_nothing_is_written() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let file = write(&a_store_with_records(a.path()).await, 1).await.unwrap();
        let text = String::from_utf8(file.clone()).unwrap();
        let target = Store::open(b.path()).unwrap();

        let altered = text.replace(&B64.encode(b"v1"), &B64.encode(b"v2"));
        let e = restore(altered.as_bytes(), &target).await.unwrap_err();
        assert!(matches!(e, BackupError::Damaged(_)), "{e}");
        let newer = text.replace("\"version\":1", "\"version\":2");
        let e = restore(newer.as_bytes(), &target).await.unwrap_err();
        assert!(matches!(e, BackupError::NotABackup(_)), "{e}");
        assert!(target
            .backend()
            .scan_page(Table::Sessions, None, 1)
            .await
            .unwrap()
            .is_empty());

        let report = restore(&file, &target).await.unwrap();
        assert!(report.contains("verified"), "{report}");
        assert_eq!(
            target.backend().scan(Table::Sessions).await.unwrap(),
            vec![(b"k1".to_vec(), b"v1".to_vec())]
        );
        assert_eq!(target.backend().audit_page(None, 10).await.unwrap().len(), 1);
    }
}
