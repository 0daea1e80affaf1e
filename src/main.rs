//! The binary's edge: command line → configuration → store → Pingora server.
//! Errors become one readable line on standard error and a non-zero exit.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use tfa_gateway::cli::{Cli, Command};
use tfa_gateway::config::Config;
use tfa_gateway::env::Env;
use tfa_gateway::{demo, logging, server};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tfa-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
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
        Command::Run { config } => {
            let c = Config::load(&config)?;
            run(c)
        }
        Command::Demo { listen, data_dir } => {
            let data_dir = data_dir.unwrap_or_else(demo::default_data_dir);
            ensure_free(listen)?;
            let dashboard = demo::start_dashboard()?;
            let c = demo::config(listen, dashboard, data_dir.clone())?;
            print!("{}", demo::banner(listen, dashboard, &data_dir));
            use std::io::Write as _;
            std::io::stdout().flush().context("cannot write to standard output")?;
            run(c)
        }
    }
}

/// Starts the gateway and never returns while it serves.
fn run(config: Config) -> Result<()> {
    for l in &config.listeners {
        ensure_free(l.address)?;
    }
    let (server, _gw) = server::build(config, Env::real())?;
    tracing::info!("gateway starting");
    server.run_forever();
}

/// Pingora aborts on a listener it cannot bind; say which address instead.
fn ensure_free(addr: SocketAddr) -> Result<()> {
    TcpListener::bind(addr)
        .map(drop)
        .with_context(|| format!("cannot listen on {addr}"))
}
