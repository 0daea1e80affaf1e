//! Several gateways on one throwaway PostgreSQL (see `pg`), in front of one
//! demo dashboard, and a browser that moves between them as a round-robin
//! load balancer would.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::pg::Postgres;
use super::{Browser, Gateway};

/// Dropped in field order: the gateways stop before their database does.
pub struct Cluster {
    pub replicas: Vec<Gateway>,
    pub pg: Postgres,
    pub dashboard: SocketAddr,
    settings: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

/// The one origin every replica serves, as behind a load balancer: the
/// security keys' relying party is the same whichever replica answers.
pub const ORIGIN: &str = "http://localhost:8443";

/// `n` gateways sharing one database and one key, each with its own data
/// folder (pid file, admin token), in front of one demo dashboard.
pub async fn cluster(n: usize) -> Cluster {
    cluster_with(n, &[]).await
}

/// `cluster`, with `settings` changed in every replica's configuration
/// (see `with_settings`), restarts included.
pub async fn cluster_with(n: usize, settings: &[(&str, &str)]) -> Cluster {
    let settings: Vec<(String, String)> = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let pg = Postgres::start();
    pg.create_database("tfa");
    let dashboard = super::start_dashboard();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("r0").join("data");
    super::write_secrets(&first);
    let mut replicas = Vec::new();
    for i in 0..n {
        let data = dir.path().join(format!("r{i}")).join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        for file in ["secret.key", "admin.token"] {
            if i > 0 {
                std::fs::copy(first.join(file), data.join(file)).unwrap();
            }
        }
        replicas.push(start_replica(&pg, dashboard, &data, &settings).await);
    }
    Cluster {
        replicas,
        pg,
        dashboard,
        settings,
        dir,
    }
}

/// A gateway on `pg`'s database with its data in `data`; its log (info
/// level) goes to `gateway.log` beside `data`, so a test can read it.
async fn start_replica(pg: &Postgres, dashboard: SocketAddr, data: &Path, settings: &[(String, String)]) -> Gateway {
    let addr = super::free_addr();
    let folder = data.parent().unwrap();
    let config = folder.join("gateway.toml");
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let text = super::with_settings(&super::config_text(addr, dashboard, data), &settings).replace(
        &format!("\"http://localhost:{}\"", addr.port()),
        &format!("\"{ORIGIN}\""),
    );
    std::fs::write(&config, format!("{text}\n[store]\nurl = \"{}\"\n", pg.url("tfa"))).unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(folder.join("gateway.log"))
        .unwrap();
    Gateway::start_logging(addr, config, log.into(), &[("RUST_LOG", "info")]).await
}

impl Cluster {
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.replicas[i % self.replicas.len()].addr
    }

    /// Replica `i`'s data folder.
    pub fn data(&self, i: usize) -> std::path::PathBuf {
        self.dir.path().join(format!("r{i}")).join("data")
    }

    /// Stops replica `i` and starts it again on the same folder and port
    /// of the database.
    pub async fn restart(&mut self, i: usize) {
        assert!(self.replicas[i].child.kill().is_ok());
        let _ = self.replicas[i].child.wait();
        self.replicas[i] = start_replica(&self.pg, self.dashboard, &self.data(i), &self.settings).await;
    }

    /// Stops replica `i` as an operator would (SIGTERM: requests finish,
    /// activity is saved) and starts it again.
    pub async fn stop_and_start(&mut self, i: usize) {
        let pid = self.replicas[i].child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = self.replicas[i].child.wait().unwrap();
        assert!(status.success(), "replica {i} stopped with {status}");
        self.replicas[i] = start_replica(&self.pg, self.dashboard, &self.data(i), &self.settings).await;
    }

    /// What replica `i` has logged so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("r{i}")).join("gateway.log")).unwrap_or_default()
    }

    /// The browser, pointed at replica `i` (its cookies go along).
    pub fn at(&self, b: &mut Browser, i: usize) {
        b.addr = self.addr(i);
    }
}

/// The gateway's own view of the browser's session on replica `i`.
pub async fn status_at(c: &Cluster, b: &mut Browser, i: usize) -> StatusCode {
    c.at(b, i);
    b.get_with("/_2fa/api/status", &[("accept", "application/json")])
        .await
        .status
}

/// Waits up to a second for replica `i` to answer the browser with `want`.
pub async fn within_a_second(c: &Cluster, b: &mut Browser, i: usize, want: StatusCode, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let got = status_at(c, b, i).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "replica {i}: {what}: still {got}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
