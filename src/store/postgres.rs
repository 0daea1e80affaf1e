//! The shared backend: one PostgreSQL database that every replica points
//! at. Each table holds `key bytea → body bytea` (the same versioned
//! records sled keeps); the audit trail is an append-only table ordered by
//! id. Every check-and-change is one conditional statement, so two
//! replicas racing with one code cannot both win, and a statement returns
//! once PostgreSQL has committed it.
//!
//! The pool and its connections live on a small runtime of their own: the
//! gateway loads its state before Pingora starts its runtimes, and the
//! connections must outlive whichever runtime asked first.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;

use super::backend::{AuditCursor, Backend, Entry, Table};
use super::changes::{Change, Health, CHANNEL};
use super::StoreError;
use crate::env::UnixSeconds;

/// Connections per replica: enough for sign-ins and admin work in
/// parallel; signed-in requests never use one.
const POOL_SIZE: usize = 16;

/// How long a statement waits for a connection, or a connection to open,
/// before the caller is told the database is unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one step per release that changes it. Applied in order at
/// start-up, each once, under an advisory lock so that replicas starting
/// together do not race. Never edit a step that has shipped; add one.
const MIGRATIONS: &[&str] = &[
    // 1: the tables of the first shared-store release.
    "CREATE TABLE tfa_users (key bytea PRIMARY KEY, body bytea NOT NULL);
     CREATE TABLE tfa_accounts (key bytea PRIMARY KEY, body bytea NOT NULL);
     CREATE TABLE tfa_sessions (key bytea PRIMARY KEY, body bytea NOT NULL);
     CREATE TABLE tfa_factors (key bytea PRIMARY KEY, body bytea NOT NULL);
     CREATE TABLE tfa_throttle (key bytea PRIMARY KEY, body bytea NOT NULL);
     CREATE TABLE tfa_audit (id bigserial PRIMARY KEY, at bigint NOT NULL, body bytea NOT NULL);",
    // 2: failure counters per client address, shared by every replica.
    "CREATE TABLE tfa_client_throttle (key bytea PRIMARY KEY, body bytea NOT NULL);",
    // 3: SMS codes in flight and codes sent, shared by every replica.
    "CREATE TABLE tfa_sms_codes (key bytea PRIMARY KEY, body bytea NOT NULL);
     CREATE TABLE tfa_sms_sends (key bytea PRIMARY KEY, body bytea NOT NULL);",
    // 4: WebAuthn ceremonies in flight: one replica starts, another finishes.
    "CREATE TABLE tfa_ceremonies (key bytea PRIMARY KEY, body bytea NOT NULL);",
    // 5: each user's sessions (user id, 0, token hash), to list them.
    "CREATE TABLE tfa_user_sessions (key bytea PRIMARY KEY, body bytea NOT NULL);",
];

/// The advisory lock that serialises migrations between replicas.
const MIGRATION_LOCK: i64 = 0x7466_615f_6d69_6772; // "tfa_migr"

fn table(t: Table) -> &'static str {
    match t {
        Table::Users => "tfa_users",
        Table::Accounts => "tfa_accounts",
        Table::Sessions => "tfa_sessions",
        Table::Factors => "tfa_factors",
        Table::Throttle => "tfa_throttle",
        Table::ClientThrottle => "tfa_client_throttle",
        Table::SmsCodes => "tfa_sms_codes",
        Table::SmsSends => "tfa_sms_sends",
        Table::Ceremonies => "tfa_ceremonies",
        Table::UserSessions => "tfa_user_sessions",
    }
}

/// The error with its causes: tokio-postgres says only "db error" and
/// keeps the server's reason (no such database, a refused password) in its
/// source, which the operator needs to see.
fn detail(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

/// A statement's failure: the database out of reach (closed connection,
/// shutting down, refusing connections) is `Unavailable`, an outage the
/// listener reports once; anything else is a real error.
fn pg(e: tokio_postgres::Error) -> StoreError {
    let outage_class = |code: &str| ["08", "53", "57"].iter().any(|class| code.starts_with(class));
    match e.code() {
        Some(code) if !outage_class(code.code()) => StoreError::Io(detail(&e)),
        _ => StoreError::Unavailable(detail(&e)),
    }
}

/// No connection from the pool: the database is out of reach.
fn no_connection(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(detail(&e))
}

/// A runtime that is shut down without waiting when the store goes, so a
/// store dropped inside another runtime does not panic.
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Clone)]
pub struct PgBackend {
    pool: Pool,
    runtime: Arc<OwnedRuntime>,
    describe: String,
    changes: tokio::sync::broadcast::Sender<Change>,
    health: Health,
}

/// Changes a subscriber may fall behind by before it is told to resync.
const CHANGES_BUFFER: usize = 4096;

impl PgBackend {
    /// Connects to `url`, creating or migrating the schema, and waits for
    /// it. Fails when the database cannot be reached now; the error never
    /// holds the password.
    pub fn connect(url: &str) -> Result<PgBackend, StoreError> {
        let opening = |detail: String| StoreError::Open {
            what: "the PostgreSQL store".into(),
            detail,
        };
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| opening(format!("the URL is not a PostgreSQL connection string: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("tfa-gateway");
        let describe = describe(&config);
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config().map_err(opening)?);
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tfa-store")
            .enable_all()
            .build()
            .map_err(|e| opening(format!("cannot start its runtime: {e}")))?;
        let pool = {
            let _in = runtime.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| opening(e.to_string()))?
        };
        let backend = PgBackend {
            pool,
            runtime: Arc::new(OwnedRuntime(Some(runtime))),
            describe,
            changes: tokio::sync::broadcast::channel(CHANGES_BUFFER).0,
            health: Health::default(),
        };
        // Waited for on a channel rather than with `block_on`, so that a
        // caller inside another runtime (a test, a command) may connect too.
        let (done, migrated) = std::sync::mpsc::channel();
        let migrating = backend.clone();
        let rt = backend.runtime.0.as_ref().expect("runtime present until drop");
        rt.spawn(async move { done.send(migrating.migrate().await) });
        migrated
            .recv()
            .unwrap_or_else(|_| Err(StoreError::Io("the migration task stopped".into())))
            .map_err(|e| opening(format!("{}: {e}", backend.describe)))?;
        rt.spawn(super::pg_listen::listen(
            config,
            tls,
            backend.changes.clone(),
            backend.health.clone(),
            backend.describe.clone(),
        ));
        Ok(backend)
    }

    /// Runs `work` on the store's runtime and waits for it from any other.
    async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let rt = self.runtime.0.as_ref().expect("runtime present until drop");
        rt.spawn(work)
            .await
            .unwrap_or_else(|e| Err(StoreError::Io(format!("store task failed: {e}"))))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(no_connection)?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS tfa_schema (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(pg)?;
        let row = tx
            .query_one("SELECT coalesce(max(version), 0) FROM tfa_schema", &[])
            .await
            .map_err(pg)?;
        let current: i32 = row.get(0);
        if current as usize > MIGRATIONS.len() {
            return Err(StoreError::Io(format!(
                "the database's schema is version {current}, newer than this gateway knows ({}); upgrade the gateway",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i32 + 1;
            tx.batch_execute(sql).await.map_err(pg)?;
            tx.execute("INSERT INTO tfa_schema (version) VALUES ($1)", &[&version])
                .await
                .map_err(pg)?;
            tracing::info!(version, "store schema migrated");
        }
        tx.commit().await.map_err(pg)
    }

    /// Runs one statement and returns how many rows it touched.
    async fn execute(&self, sql: String, params: Vec<Box<dyn ToSql + Send + Sync>>) -> Result<u64, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(no_connection)?;
            let statement = client.prepare_cached(&sql).await.map_err(pg)?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
            client.execute(&statement, &refs).await.map_err(pg)
        })
        .await
    }

    /// Runs one statement and, if it touched a row, announces `announce`
    /// in the same transaction: PostgreSQL delivers a `NOTIFY` on commit,
    /// so a change is announced exactly when it is made.
    async fn execute_announcing(
        &self,
        sql: String,
        params: Vec<Box<dyn ToSql + Send + Sync>>,
        announce: Vec<Change>,
    ) -> Result<u64, StoreError> {
        if announce.is_empty() {
            return self.execute(sql, params).await;
        }
        let pool = self.pool.clone();
        self.run(async move {
            let mut client = pool.get().await.map_err(no_connection)?;
            let tx = client.transaction().await.map_err(pg)?;
            let statement = tx.prepare_cached(&sql).await.map_err(pg)?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
            let touched = tx.execute(&statement, &refs).await.map_err(pg)?;
            if touched > 0 {
                let payloads: Vec<String> = announce.iter().map(Change::encode).collect();
                let notify = format!("SELECT pg_notify('{CHANNEL}', p) FROM unnest($1::text[]) p");
                tx.execute(&notify, &[&payloads]).await.map_err(pg)?;
            }
            tx.commit().await.map_err(pg)?;
            Ok(touched)
        })
        .await
    }

    /// Runs one query and returns its rows as pairs of byte strings.
    async fn pairs(&self, sql: String, params: Vec<Box<dyn ToSql + Send + Sync>>) -> Result<Vec<Entry>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(no_connection)?;
            let statement = client.prepare_cached(&sql).await.map_err(pg)?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
            let rows = client.query(&statement, &refs).await.map_err(pg)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
        .await
    }
}

/// Host, port, database and user, for logs; never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// TLS to the database with the system's root certificates, used when the
/// URL's `sslmode` asks for it (`prefer`, the default, or `require`).
fn tls_config() -> Result<tokio_rustls::rustls::ClientConfig, String> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    if let Ok(certs) = rustls_native_certs::load_native_certs() {
        roots.add_parsable_certificates(certs);
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn key(k: &[u8]) -> Box<dyn ToSql + Send + Sync> {
    Box::new(k.to_vec())
}

fn body(v: Vec<u8>) -> Box<dyn ToSql + Send + Sync> {
    Box::new(v)
}

#[async_trait]
impl Backend for PgBackend {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    async fn get(&self, t: Table, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = format!("SELECT key, body FROM {} WHERE key = $1", table(t));
        Ok(self.pairs(sql, vec![key(k)]).await?.pop().map(|(_, v)| v))
    }

    async fn put(&self, t: Table, k: &[u8], v: Vec<u8>) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {} (key, body) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body",
            table(t)
        );
        self.execute(sql, vec![key(k), body(v)]).await.map(drop)
    }

    async fn put_many(&self, t: Table, entries: Vec<Entry>) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO {} (key, body) SELECT * FROM unnest($1::bytea[], $2::bytea[])
             ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body",
            table(t)
        );
        let (keys, bodies): (Vec<Vec<u8>>, Vec<Vec<u8>>) = entries.into_iter().unzip();
        self.execute(sql, vec![Box::new(keys), Box::new(bodies)])
            .await
            .map(drop)
    }

    async fn delete(&self, t: Table, keys: Vec<Vec<u8>>, announce: Vec<Change>) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let sql = format!("DELETE FROM {} WHERE key = ANY($1)", table(t));
        self.execute_announcing(sql, vec![Box::new(keys)], announce)
            .await
            .map(drop)
    }

    async fn present(&self, t: Table, keys: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, StoreError> {
        let sql = format!("SELECT key, ''::bytea FROM {} WHERE key = ANY($1)", table(t));
        Ok(self
            .pairs(sql, vec![Box::new(keys)])
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    fn health(&self) -> Health {
        self.health.clone()
    }

    async fn swap(
        &self,
        t: Table,
        k: &[u8],
        old: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        announce: Option<Change>,
    ) -> Result<bool, StoreError> {
        let name = table(t);
        let (sql, params) = match (old, new) {
            (None, Some(new)) => (
                format!("INSERT INTO {name} (key, body) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"),
                vec![key(k), body(new)],
            ),
            (Some(old), Some(new)) => (
                format!("UPDATE {name} SET body = $3 WHERE key = $1 AND body = $2"),
                vec![key(k), body(old), body(new)],
            ),
            (Some(old), None) => (
                format!("DELETE FROM {name} WHERE key = $1 AND body = $2"),
                vec![key(k), body(old)],
            ),
            (None, None) => {
                let sql = format!("SELECT key, body FROM {name} WHERE key = $1");
                return Ok(self.pairs(sql, vec![key(k)]).await?.is_empty());
            }
        };
        let announce = announce.into_iter().collect();
        Ok(self.execute_announcing(sql, params, announce).await? == 1)
    }

    async fn scan(&self, t: Table) -> Result<Vec<Entry>, StoreError> {
        let sql = format!("SELECT key, body FROM {} ORDER BY key", table(t));
        self.pairs(sql, Vec::new()).await
    }

    async fn keys(&self, t: Table) -> Result<Vec<Vec<u8>>, StoreError> {
        let sql = format!("SELECT key, ''::bytea FROM {} ORDER BY key", table(t));
        Ok(self.pairs(sql, Vec::new()).await?.into_iter().map(|(k, _)| k).collect())
    }

    async fn scan_page(&self, t: Table, after: Option<Vec<u8>>, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let limit = Box::new(i64::try_from(limit).unwrap_or(i64::MAX));
        let (sql, params): (_, Vec<Box<dyn ToSql + Send + Sync>>) = match after {
            Some(k) => (
                format!(
                    "SELECT key, body FROM {} WHERE key > $1 ORDER BY key LIMIT $2",
                    table(t)
                ),
                vec![body(k), limit],
            ),
            None => (
                format!("SELECT key, body FROM {} ORDER BY key LIMIT $1", table(t)),
                vec![limit],
            ),
        };
        self.pairs(sql, params).await
    }

    async fn append_audit(&self, at: UnixSeconds, v: Vec<u8>) -> Result<(), StoreError> {
        let sql = "INSERT INTO tfa_audit (at, body) VALUES ($1, $2)".to_string();
        let at = i64::try_from(at).unwrap_or(i64::MAX);
        self.execute(sql, vec![Box::new(at), body(v)]).await.map(drop)
    }

    async fn append_audit_many(&self, events: Vec<(UnixSeconds, Vec<u8>)>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let (ats, bodies): (Vec<i64>, Vec<Vec<u8>>) = events
            .into_iter()
            .map(|(at, v)| (i64::try_from(at).unwrap_or(i64::MAX), v))
            .unzip();
        // The ids are the trail's order: ORDER BY the position in the
        // arrays makes them drawn in the order given.
        let sql = "INSERT INTO tfa_audit (at, body)
                   SELECT at, body FROM unnest($1::bigint[], $2::bytea[]) WITH ORDINALITY AS e(at, body, n)
                   ORDER BY n"
            .to_string();
        self.execute(sql, vec![Box::new(ats), Box::new(bodies)]).await.map(drop)
    }

    async fn audit_page(
        &self,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Vec<(AuditCursor, Vec<u8>)>, StoreError> {
        let before = match before {
            Some(c) => i64::from_be_bytes(
                c.try_into()
                    .map_err(|_| StoreError::Io("an audit cursor from another store".into()))?,
            ),
            None => i64::MAX,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = "SELECT int8send(id), body FROM tfa_audit WHERE id < $1 ORDER BY id DESC LIMIT $2".to_string();
        self.pairs(sql, vec![Box::new(before), Box::new(limit)]).await
    }
}
