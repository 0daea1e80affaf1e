//! `tfa-gateway demo`: the demo dashboard and the gateway in front of it, in
//! one process and with no configuration, so a new user can try the product
//! with one command. The gateway's settings come from `config/demo.toml`,
//! compiled in; only the addresses and the data folder are filled in here.

pub mod dashboard;

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::{AdminSettings, Config, ConfigError, KeySource, Listener, SmsProviderSettings};
use crate::env::Env;
use crate::secretbox::SecretKey;

/// The demo's configuration file, shipped in the repository as an example.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the demo dashboard: {0}")]
    Dashboard(std::io::Error),
    #[error("the demo dashboard thread ended before it was ready")]
    DashboardGone,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create the demo's secret file {path}: {source}")]
    Key { path: String, source: std::io::Error },
    #[error(transparent)]
    Folder(#[from] crate::private::PrivateError),
}

/// The default data folder: kept across demo runs, under the temp dir.
pub fn default_data_dir() -> PathBuf {
    std::env::temp_dir().join("tfa-gateway-demo")
}

/// Starts the dashboard on a loopback port on its own thread and runtime
/// (Pingora must own the main thread) and returns its address.
pub fn start_dashboard() -> Result<SocketAddr, DemoError> {
    start_dashboard_at(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// As `start_dashboard`, listening on `addr` (port 0: any free port); for
/// `tfa-gateway demo-dashboard`, which runs it alone so that several
/// gateways can front one dashboard.
pub fn start_dashboard_at(addr: SocketAddr) -> Result<SocketAddr, DemoError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("demo-dashboard".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let _ = tx.send(listener.local_addr());
                if let Err(e) = dashboard::serve(listener).await {
                    tracing::error!(error = %e, "demo dashboard stopped");
                }
            });
        })
        .map_err(DemoError::Dashboard)?;
    rx.recv()
        .map_err(|_| DemoError::DashboardGone)?
        .map_err(DemoError::Dashboard)
}

/// The gateway configuration for the demo.
pub fn config(
    listen: SocketAddr,
    dashboard: SocketAddr,
    admin: SocketAddr,
    data_dir: PathBuf,
) -> Result<Config, DemoError> {
    let mut config = Config::parse(DEMO_CONFIG, "config/demo.toml (built in)")?;
    config.listeners = vec![Listener {
        address: listen,
        tls: None,
    }];
    config.upstream.address = dashboard;
    if let Some(w) = config.webauthn.as_mut() {
        // Browsers refuse WebAuthn on an IP address: the demo's keys work
        // when it is opened at localhost.
        w.origin = format!("http://localhost:{}", listen.port())
            .parse()
            .expect("a localhost URL parses");
    }
    config.upstream.host = dashboard.to_string();
    let env = Env::real();
    config.second_factor.key = KeySource::File(ensure_key(&data_dir, &env)?);
    config.admin = Some(AdminSettings {
        listen: admin,
        token_file: ensure_admin_token(&data_dir, &env)?,
    });
    if config.sms.provider.is_some() {
        config.sms.provider = Some(SmsProviderSettings::Outbox(data_dir.join("sms-outbox.jsonl")));
    }
    config.data_dir = data_dir;
    Ok(config)
}

/// The demo's admin token, made on first start.
pub fn ensure_admin_token(data_dir: &std::path::Path, env: &Env) -> Result<PathBuf, DemoError> {
    write_once(&data_dir.join("admin.token"), &env.token::<24>())
}

/// Writes a secret file readable by its owner only, unless it exists.
fn write_once(path: &std::path::Path, text: &str) -> Result<PathBuf, DemoError> {
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let err = |source| DemoError::Key {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        crate::private::create(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write as _;
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(err)?;
    Ok(path.to_path_buf())
}

/// The demo makes its own key for secrets at rest, kept in its data folder
/// (a real deployment keeps the key away from the data it protects).
pub fn ensure_key(data_dir: &std::path::Path, env: &Env) -> Result<PathBuf, DemoError> {
    let (_, text) = SecretKey::generate(env);
    write_once(&data_dir.join("secret.key"), &text)
}

/// What the demo prints on start: one line per listener, then the users.
pub fn banner(gateway: SocketAddr, dashboard: SocketAddr, admin: SocketAddr, data_dir: &std::path::Path) -> String {
    let mut out = format!(
        "gateway: http://{gateway}\ndashboard: http://{dashboard}\nadmin: http://{admin}\nadmin token: {}\ndata: {}\n",
        data_dir.join("admin.token").display(),
        data_dir.display()
    );
    out.push_str("demo users (email / password / account / role):\n");
    for u in dashboard::DEMO_USERS {
        let password = if u.password.is_empty() {
            "(single sign-on only)"
        } else {
            u.password
        };
        out.push_str(&format!(
            "  {} / {} / {} / {}\n",
            u.email, password, u.account_id, u.role
        ));
    }
    out.push_str(&format!(
        "sms outbox: {}\n",
        data_dir.join("sms-outbox.jsonl").display()
    ));
    out.push_str(&format!("open http://{gateway}/login to sign in through the gateway\n"));
    out.push_str(&format!(
        "security keys and passkeys: open http://localhost:{}/login instead (WebAuthn needs a host name)\n",
        gateway.port()
    ));
    out
}
