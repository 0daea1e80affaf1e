//! A throwaway PostgreSQL cluster per test: `initdb` into a temporary folder,
//! a server on a free loopback port, stopped and deleted when dropped. Tests
//! need no database set up beforehand, only the server binaries (Debian
//! package `postgresql`, installed by `.ci/run`).
//!
//! The server refuses to run as root, so when the tests are root (as on CI)
//! `initdb` and `pg_ctl` run as the `postgres` user through `runuser`, and
//! the cluster's folder is theirs. Clients (`psql`) run as the test itself.
//! A test process killed outright (SIGKILL, a harness timeout) never drops
//! its `Postgres`, and leaves that server running.
//!
//! The cluster is tuned for tests, not for keeping data: no fsync, no
//! synchronous commit, no full-page writes (a test never outlives a power
//! cut), and no autovacuum, whose workers' transactions would otherwise be
//! counted in `pg_stat_database` at moments no test chooses. It loads
//! `pg_stat_statements` (Debian's server package has it), whose counts,
//! unlike `pg_stat_database`'s, are up to date the moment a statement ends;
//! a test enables it in its database with `CREATE EXTENSION`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running PostgreSQL server with superuser `postgres`, trusted without a
/// password from loopback; see the module documentation.
pub struct Postgres {
    bin: PathBuf,
    port: u16,
    /// Holds `data/` (the cluster), the server's Unix socket and `server.log`.
    cluster: PathBuf,
    as_postgres: bool,
    _dir: TempDir,
}

impl Postgres {
    /// Creates a new cluster and starts it, panicking with the reason (and
    /// the server log's last lines) if either fails.
    pub fn start() -> Postgres {
        let bin = server_bin();
        let dir = tempfile::Builder::new()
            .prefix("tfa-pg-")
            .tempdir()
            .expect("create a temporary folder");
        let as_postgres = rustix::process::getuid().is_root();
        let cluster = dir.path().join("cluster");
        std::fs::create_dir(&cluster).expect("create the cluster folder");
        if as_postgres {
            // tempfile makes its folder owner-only; the server (user postgres)
            // only needs to pass through it to reach its own folder.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))
                .expect("chmod the temp folder");
            let out = Command::new("chown")
                .arg("postgres:")
                .arg(&cluster)
                .output()
                .expect("run chown");
            assert!(
                out.status.success(),
                "chown postgres {}: {} (is there a `postgres` user? the Debian package makes one)",
                cluster.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut pg = Postgres {
            bin,
            port: 0,
            cluster,
            as_postgres,
            _dir: dir,
        };
        let data = pg.data();
        // --no-locale: the machine's LANG may name a locale that is not
        // generated, and tests should not sort or compare by the machine's.
        let out = pg.server_tool("initdb", |c| {
            c.arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]);
        });
        assert!(
            out.status.success(),
            "initdb failed{}:\n{}",
            if as_postgres {
                " (the postgres user must be able to pass through every folder above it)"
            } else {
                ""
            },
            text(&out)
        );
        // Another process may bind the port between free_addr's check and the
        // server's bind (free_addr only keeps picks apart in this process).
        for attempt in 1.. {
            pg.port = super::free_addr().port();
            pg.write_settings();
            match pg.pg_ctl_start() {
                Ok(()) => return pg,
                Err(why) if attempt < 5 && pg.log_tail(20).contains("could not bind") => {
                    eprintln!("postgres: port {} taken, trying another: {why}", pg.port);
                }
                Err(why) => pg.fail(&format!("the server did not start: {why}")),
            }
        }
        unreachable!()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection URL for database `db`, as the superuser `postgres`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn create_database(&self, name: &str) {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")),
        );
    }

    /// Runs one SQL statement (or several, `;`-separated, in one session) in
    /// database `db` and returns the output, unaligned and without headers
    /// (`psql -At`: one line per row, columns split by `|`), trimmed.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql)
            .unwrap_or_else(|e| self.fail(&format!("psql in {db}: {sql}\n{e}")))
    }

    /// Like `psql`, returning psql's error output instead of panicking, for
    /// tests that expect a statement (or the connection) to fail.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.client_tool("psql"))
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(db))
            .args(["-c", sql])
            // Not a stale variable from the developer's shell, nor waiting
            // long for a server that a test has stopped.
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS")
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .expect("run psql (Debian package postgresql-client)");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(text(&out))
        }
    }

    /// Transactions committed plus rolled back in database `db`, as counted
    /// in `pg_stat_database`. Read from the `postgres` database, so that the
    /// reading is not counted in `db` (and counts of `"postgres"` include
    /// earlier readings).
    ///
    /// Connecting is a transaction too (the catalog look-ups), so a `psql`
    /// call is two; several statements in one `psql` call are one.
    ///
    /// The counts lag (PostgreSQL 15's cumulative statistics; measured
    /// here). Each server process keeps its counts to itself and publishes
    /// them as it goes idle after a transaction, unless it published less
    /// than 1 s before: then they wait for its 10 s idle timer, or for its
    /// next transaction after that second. A session whose transactions
    /// touched no table (a pool's `SELECT 1`) has nothing else to publish,
    /// and then does not publish those counts at all until it touches a
    /// table or ends. A process that ends (each `psql` call, a closed
    /// connection) publishes as it exits, just after its client has gone.
    /// Neither `pg_stat_force_next_flush()` (it forces only the calling
    /// session's) nor `pg_stat_clear_snapshot()` (for a reader that reads
    /// twice in one transaction; each reading here is a session of its own)
    /// helps. So: wait for a count with `transactions_at_least`, and before
    /// asserting that nothing more happened, close the client's connections
    /// (stop the gateway), or wait over 10 s and know that table-less
    /// transactions may still be missing.
    pub fn transactions(&self, db: &str) -> u64 {
        let sql = format!(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{}'",
            db.replace('\'', "''")
        );
        let out = self.psql("postgres", &sql);
        out.parse()
            .unwrap_or_else(|_| panic!("no statistics for database {db:?}: {out:?}"))
    }

    /// Waits until `transactions(db)` reaches `n` and returns it, for up to
    /// 15 s: past the 10 s a busy session may hold its counts back.
    pub fn transactions_at_least(&self, db: &str, n: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let count = self.transactions(db);
            if count >= n {
                return count;
            }
            if Instant::now() > deadline {
                self.fail(&format!("{db} counted {count} transactions, not {n}, within 15 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (ending every connection), as a database outage.
    pub fn stop(&self) {
        let data = self.data();
        let out = self.server_tool("pg_ctl", |c| {
            c.arg("-D").arg(&data).args(["-m", "fast", "-w", "stop"]);
        });
        if !out.status.success() {
            self.fail(&format!("pg_ctl stop failed:\n{}", text(&out)));
        }
    }

    /// Starts the stopped server again, on the same port, with the same data
    /// (and the same transaction counts: a fast stop writes them out).
    pub fn start_again(&self) {
        if let Err(why) = self.pg_ctl_start() {
            self.fail(&format!("the server did not start again on port {}: {why}", self.port));
        }
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "postgres on port {}: {what}\n--- last lines of {} ---\n{}",
            self.port,
            self.log().display(),
            self.log_tail(30)
        )
    }

    fn data(&self) -> PathBuf {
        self.cluster.join("data")
    }

    fn log(&self) -> PathBuf {
        self.cluster.join("server.log")
    }

    /// The settings live in the cluster, not on pg_ctl's command line, so
    /// `start_again` needs nothing but the folder, and no path goes through
    /// the shell pg_ctl starts the server with. `postgresql.auto.conf` is
    /// read last, so these win over initdb's `postgresql.conf`.
    fn write_settings(&self) {
        let quoted = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "''"));
        let settings = format!(
            "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = {}\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nautovacuum = off\n\
             shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = 'all'\n",
            self.port,
            quoted(&self.cluster)
        );
        // Overwriting keeps the file's owner (postgres); the server reads it.
        std::fs::write(self.data().join("postgresql.auto.conf"), settings).expect("write the server settings");
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let (data, log) = (self.data(), self.log());
        let out = self.server_tool("pg_ctl", |c| {
            c.arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "start"]);
        });
        if out.status.success() {
            Ok(())
        } else {
            Err(text(&out))
        }
    }

    /// Runs a server tool, as `postgres` when the tests are root.
    fn server_tool(&self, name: &str, args: impl FnOnce(&mut Command)) -> Output {
        let tool = self.bin.join(name);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&tool);
            c
        } else {
            Command::new(&tool)
        };
        args(&mut c);
        // The tests' own folder may be closed to the postgres user, and
        // initdb and the server fail when they cannot see where they are.
        c.current_dir(&self.cluster)
            .output()
            .unwrap_or_else(|e| panic!("run {} (as postgres: {}): {e}", tool.display(), self.as_postgres))
    }

    /// A client from the same installation as the server, else from PATH
    /// (Debian's /usr/bin/psql picks a version by itself).
    fn client_tool(&self, name: &str) -> PathBuf {
        let tool = self.bin.join(name);
        if tool.exists() {
            tool
        } else {
            PathBuf::from(name)
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Immediate: nothing is worth keeping, and a test that already failed
        // should not wait for a clean shutdown. The TempDir goes next.
        let data = self.data();
        let _ = self.server_tool("pg_ctl", |c| {
            c.arg("-D").arg(&data).args(["-m", "immediate", "-w", "stop"]);
        });
    }
}

/// The folder of the server binaries: where the `initdb` on PATH really is
/// (Debian links none there, but a developer may), else the newest
/// `/usr/lib/postgresql/<version>/bin`, where Debian installs them.
fn server_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("initdb")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.is_file());
    if let Some(initdb) = on_path {
        // A link in /usr/local/bin resolves to the real folder, which also
        // holds pg_ctl and a psql of the same version.
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        return real.parent().expect("initdb is in a folder").to_path_buf();
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: f64 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match newest {
        Some((_, bin)) => bin,
        None => panic!("no initdb on PATH nor in /usr/lib/postgresql/*/bin: apt-get install postgresql"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
