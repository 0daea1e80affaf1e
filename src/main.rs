//! The binary's edge: command line → configuration → store → Pingora server.
//! Errors become one readable line on standard error and a non-zero exit.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use std::path::PathBuf;

use tfa_gateway::admin::client::AdminClient;
use tfa_gateway::cli::{AdminAction, Cli, Command, StoreAction};
use tfa_gateway::config::{Config, UrlSource};
use tfa_gateway::env::Env;
use tfa_gateway::store::Store;
use tfa_gateway::{demo, logging, server};

// mimalloc, not the system's malloc: 13 % fewer instructions a request,
// counts steady from run to run, and as flat as glibc through the soak
// (BENCHMARKS.md, "The allocator").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before any thread starts, and before any file is made.
    tfa_gateway::private::restrict_new_files();
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tfa-gateway: {}", readable(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: our errors often
/// already name their cause.
fn readable(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::CheckConfig { config } => {
            let c = Config::load(&config)?;
            println!(
                "{}: ok ({} listener(s), upstream {})",
                config.display(),
                c.listeners.len(),
                c.upstream.address
            );
            Ok(())
        }
        Command::Run { config, upgrade } => {
            let c = Config::load(&config)?;
            run(c, upgrade)
        }
        Command::DemoDashboard { listen } => {
            ensure_free(listen)?;
            let addr = demo::start_dashboard_at(listen)?;
            println!("dashboard: http://{addr}");
            use std::io::Write as _;
            std::io::stdout().flush().context("cannot write to standard output")?;
            // The dashboard serves on its own thread until the process is stopped.
            loop {
                std::thread::park();
            }
        }
        Command::Demo { listen, data_dir } => {
            let data_dir = data_dir.unwrap_or_else(demo::default_data_dir);
            ensure_free(listen)?;
            let dashboard = demo::start_dashboard()?;
            let admin = free_loopback_port()?;
            let c = demo::config(listen, dashboard, admin, data_dir.clone())?;
            print!("{}", demo::banner(listen, dashboard, admin, &data_dir));
            use std::io::Write as _;
            std::io::stdout().flush().context("cannot write to standard output")?;
            run(c, false)
        }
        Command::RotateKey { config, new_key_file } => rotate_key(&config, &new_key_file),
        Command::Restore { config, file } => restore(&config, &file),
        Command::Store {
            action: StoreAction::Copy { from, to, to_env },
        } => store_copy(&from, to.or(to_env)),
        Command::Admin {
            config,
            admin: address,
            token_file,
            json,
            action,
        } => admin(config, address, token_file, json, action),
    }
}

/// A free loopback address for the demo's admin API.
fn free_loopback_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("cannot find a free port for the admin API")?;
    Ok(l.local_addr()?)
}

/// Sends one operator command to the admin API and prints the answer.
fn admin(
    config: Option<PathBuf>,
    address: Option<SocketAddr>,
    token_file: Option<PathBuf>,
    json: bool,
    action: AdminAction,
) -> Result<()> {
    let (address, token_file) = match (config, address, token_file) {
        (_, Some(a), Some(t)) => (a, t),
        (Some(path), _, _) => {
            let c = Config::load(&path)?;
            let a = c
                .admin
                .with_context(|| format!("{}: no [admin] section", path.display()))?;
            (a.listen, a.token_file)
        }
        _ => anyhow::bail!("give --config FILE, or --admin ADDR with --token-file FILE"),
    };
    let token = tfa_gateway::admin::read_token(&token_file)?;
    let client = AdminClient::new(address, token);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let text = runtime.block_on(tfa_gateway::admin::client::run(&client, action, json))?;
    println!("{}", text.trim_end());
    Ok(())
}

/// Re-encrypts the store's secrets under a new key, offline.
fn rotate_key(config: &std::path::Path, new_key_file: &std::path::Path) -> Result<()> {
    let c = Config::load(config)?;
    let old = server::load_key(&c.second_factor.key)?;
    let text =
        std::fs::read_to_string(new_key_file).with_context(|| format!("cannot read {}", new_key_file.display()))?;
    let new = tfa_gateway::secretbox::SecretKey::parse(&text).with_context(|| format!("{}", new_key_file.display()))?;
    let store = server::open_store(&c, std::time::Duration::ZERO)?;
    let factors = tfa_gateway::factors::Factors {
        store: store.clone(),
        env: Env::real(),
        key: old,
        issuer: c.second_factor.issuer.clone(),
        webauthn: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let changed = runtime.block_on(async {
        let changed = factors.reseal_all(&new).await?;
        let (records, _) = store.sessions().await?;
        for r in tfa_gateway::session::reseal(&factors.env, records, &factors.key, &new) {
            store.put_session(&r).await?;
        }
        anyhow::Ok(changed)
    })?;
    println!(
        "re-encrypted the secrets of {changed} user(s); now point second_factor.key_file (or key_env) at {} and start the gateway",
        new_key_file.display()
    );
    Ok(())
}

/// Copies the embedded store in `from` to PostgreSQL and verifies it,
/// printing one line per table; the source is opened first, so a gateway
/// still running stops the copy before the database is touched.
fn store_copy(from: &std::path::Path, to: Option<UrlSource>) -> Result<()> {
    let url = to
        .context("give --to URL or --to-env VAR")?
        .resolve()
        .map_err(|e| anyhow::anyhow!("the target database: {e}"))?;
    let source = tfa_gateway::store::copy::open_source(from)?;
    let target = Store::connect(&url)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(tfa_gateway::store::copy::copy(&source, &target))?;
    println!("{report}");
    Ok(())
}

/// `restore`: a backup file into the configuration's empty store.
fn restore(config: &std::path::Path, file: &std::path::Path) -> Result<()> {
    let c = Config::load(config)?;
    let backup = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let store = server::open_store(&c, std::time::Duration::ZERO)
        .context("cannot open the store (is the gateway still running? stop it first)")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(tfa_gateway::store::backup::restore(&backup, &store))?;
    println!("{report}");
    Ok(())
}

/// Starts the gateway and returns when a signal has stopped it. With
/// `upgrade`, it takes over the listening sockets of the running gateway.
fn run(config: Config, upgrade: bool) -> Result<()> {
    let start = if upgrade {
        server::Start::Upgrade
    } else {
        for l in &config.listeners {
            ensure_free(l.address)?;
        }
        server::Start::Fresh
    };
    let (server, gw) = server::build(config, Env::real(), start)?;
    tracing::info!("gateway starting");
    server::serve(server, gw);
    Ok(())
}

/// Pingora aborts on a listener it cannot bind; say which address instead.
fn ensure_free(addr: SocketAddr) -> Result<()> {
    TcpListener::bind(addr)
        .map(drop)
        .with_context(|| format!("cannot listen on {addr}"))
}
