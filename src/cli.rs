//! The command line: parsed by clap into plain values; `main` wires them up.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::UrlSource;

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
    /// One readable line per event.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Run {
        /// The gateway's configuration file (TOML; see config/example.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Take over from the gateway running on the same data folder: start
        /// this, then send the running one SIGQUIT. Its listening sockets
        /// pass over, requests in flight finish, and no connection is refused.
        #[arg(long)]
        upgrade: bool,
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
    /// Run only the demo dashboard (no gateway), so that several gateways
    /// can front one dashboard; prints its address and serves until stopped.
    DemoDashboard {
        /// Where the demo dashboard listens.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
    },
    /// Check a configuration file and exit.
    CheckConfig {
        /// The configuration file to check; a problem is named by file and key.
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
    /// Bring back a backup (from `admin backup`) into the configuration's
    /// store, which must be empty; the gateway must be stopped.
    ///
    /// The whole file is checked before anything is written, and the store
    /// afterwards. The configuration must have the key the backup was
    /// sealed with (its `second_factor` key).
    Restore {
        /// The gateway's configuration: the store to restore into.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The backup file.
        #[arg(value_name = "BACKUP")]
        file: PathBuf,
    },
    /// Work on the store itself; the gateway must be stopped.
    Store {
        #[command(subcommand)]
        action: StoreAction,
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
pub enum StoreAction {
    /// Copy the embedded store into an empty PostgreSQL database and verify
    /// the copy; the gateway must be stopped.
    ///
    /// Every table and the whole audit trail are copied, then both sides are
    /// read again and compared. Afterwards, point the gateways' `[store]` at
    /// the database; they keep the same `second_factor` key.
    Copy {
        /// The gateway's data folder (its `data_dir`), as sled:DIR.
        #[arg(long, value_name = "sled:DIR", value_parser = sled_dir)]
        from: PathBuf,
        /// The database, as postgres://USER@HOST:PORT/DB. A password in it is
        /// never printed, but a command line is visible to other local
        /// users: prefer --to-env.
        #[arg(
            long,
            value_name = "URL",
            value_parser = inline_url,
            required_unless_present = "to_env",
            conflicts_with = "to_env"
        )]
        to: Option<UrlSource>,
        /// The environment variable that holds the database's URL, like
        /// `[store] url_env`.
        #[arg(long, value_name = "VAR", value_parser = url_env)]
        to_env: Option<UrlSource>,
    },
}

/// `sled:DIR` → DIR. The prefix leaves room for other sources later and
/// makes the operator say which kind of store they mean.
fn sled_dir(arg: &str) -> Result<PathBuf, String> {
    match arg.strip_prefix("sled:") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Err("expected sled:DIR, the gateway's data folder".into()),
    }
}

/// Never fails: clap would echo a refused value, and this one may hold a
/// password. `UrlSource::resolve` checks it without echoing.
fn inline_url(arg: &str) -> Result<UrlSource, String> {
    Ok(UrlSource::Inline(arg.to_string()))
}

fn url_env(arg: &str) -> Result<UrlSource, String> {
    Ok(UrlSource::Env(arg.to_string()))
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Turn the 2FA feature on for an account.
    Activate {
        /// The account's id, as the dashboard's identity answer names it (e.g. acme).
        account: String,
    },
    /// Turn the 2FA feature off for an account: its users see no 2FA at all.
    Deactivate {
        /// The account's id, as the dashboard's identity answer names it (e.g. acme).
        account: String,
    },
    /// An account's flags and each known user: id, role, TOTP, SMS, recovery codes left.
    Account {
        /// The account's id, as the dashboard's identity answer names it (e.g. acme).
        account: String,
    },
    /// Remove a user's second factor (lost device and codes): TOTP, SMS,
    /// security keys, recovery codes and remembered devices.
    ///
    /// The user's signed-in sessions stay signed in; if one of their accounts
    /// requires 2FA, their next request is sent to set it up again (or end
    /// them with sign-out-user). Their next sign-in asks for no code.
    ResetUser {
        /// The user's id (e.g. u-bob) or email (e.g. bob@acme.test).
        user: String,
    },
    /// Sign all of a user's sessions out, on every gateway, and their
    /// dashboard sessions with them (a stolen laptop, a departing person).
    SignOutUser {
        /// The user's id (e.g. u-bob) or email (e.g. bob@acme.test).
        user: String,
    },
    /// The audit trail, newest first.
    Audit {
        /// Only events about this user (id or email).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Only events of this account: its requirement and activation
        /// changes, and its members' own events (sign-ins, 2FA enabled,
        /// disabled, forced, failed codes, resets).
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// The Prometheus metrics.
    Metrics,
    /// Write a consistent copy of the running gateway's embedded store to
    /// FILE (readable by its owner only), for `tfa-gateway restore`.
    ///
    /// Secrets in it stay sealed under the gateway's key; keep the key apart
    /// from the backups. For a PostgreSQL store, use pg_dump instead.
    Backup {
        /// Where to write the backup (replaced if it exists).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command, subcommand, flag and argument, with its path, that has
    /// no help text (clap's own --help and --version aside).
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        if cmd.get_about().is_none() {
            out.push(path.to_string());
        }
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() {
                out.push(format!("{path} {}", arg.get_id()));
            }
            let values = if arg.get_action().takes_values() {
                arg.get_possible_values()
            } else {
                Vec::new()
            };
            for value in values {
                if value.get_help().is_none() {
                    out.push(format!("{path} {} {}", arg.get_id(), value.get_name()));
                }
            }
        }
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_command_and_flag_has_help_text() {
        let mut missing = Vec::new();
        undocumented(&super::Cli::command(), "tfa-gateway", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
