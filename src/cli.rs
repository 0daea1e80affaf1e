//! The command line: parsed by clap into plain values; `main` wires them up.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "tfa-gateway",
    version,
    about = "Two-factor authentication in front of an unchanged web dashboard"
)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Run {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the demo dashboard with the gateway in front of it; no configuration needed.
    Demo {
        /// Where the gateway listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where the demo keeps its state (default: a folder under the temp dir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Check a configuration file and exit.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Re-encrypt every stored secret under a new key; the gateway must be stopped.
    RotateKey {
        /// The gateway's configuration (its key source names the current key).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// A file holding the new 32-byte key (base64 or hex).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
    },
    /// Operator commands, sent to the running gateway's admin API.
    Admin {
        /// The gateway's configuration, to find the admin API and its token.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The admin API's address (instead of --config), e.g. 127.0.0.1:9090.
        #[arg(long, value_name = "ADDR", requires = "token_file")]
        admin: Option<SocketAddr>,
        /// The file holding the admin token (instead of --config).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Print the API's JSON answer instead of text.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Turn the 2FA feature on for an account.
    Activate { account: String },
    /// Turn the 2FA feature off for an account.
    Deactivate { account: String },
    /// An account's flags and each known user's 2FA state.
    Account { account: String },
    /// Remove a user's second factor (lost device and codes).
    ResetUser { user: String },
    /// The audit trail, newest first.
    Audit {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        account: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// The Prometheus metrics.
    Metrics,
}
