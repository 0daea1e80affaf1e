//! `tfa-gateway admin ...`: the operator's commands, sent to the admin API
//! of the running gateway (the store is locked by it), printed for people or
//! as JSON.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use serde_json::Value;

use crate::cli::AdminAction;
use crate::policy::encode_component as enc;
use crate::upstream::{UpstreamClient, UpstreamError};

/// One path segment, percent-encoded whole: `/` and `@` included.
fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the admin API at {0}: {1}")]
    Unreachable(SocketAddr, UpstreamError),
    #[error("the admin API answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the admin API answered something that is not JSON")]
    NotJson,
    #[error("cannot write {0}: {1}")]
    File(std::path::PathBuf, std::io::Error),
}

/// A backup may be the whole of a large store, and take a while.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(600);
const BACKUP_MAX_BYTES: usize = 64 * 1024 * 1024 * 1024;

pub struct AdminClient {
    address: SocketAddr,
    token: String,
    http: UpstreamClient,
}

impl AdminClient {
    pub fn new(address: SocketAddr, token: String) -> Self {
        AdminClient {
            address,
            token,
            http: UpstreamClient::plain(address, Duration::from_secs(10)),
        }
    }

    /// Sends one request; answers the body (JSON, or text for metrics).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Bytes, ClientError> {
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .header("content-length", body.len().to_string())
            .body(body)
            .map_err(|e| ClientError::Unreachable(self.address, UpstreamError::Http(e.to_string())))?;
        let answer = self
            .http
            .send(req)
            .await
            .map_err(|e| ClientError::Unreachable(self.address, e))?;
        if !answer.status.is_success() {
            let message = serde_json::from_slice::<Value>(&answer.body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned());
            return Err(ClientError::Refused {
                status: answer.status.as_u16(),
                message,
            });
        }
        Ok(answer.body)
    }

    pub async fn json(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, ClientError> {
        let bytes = self.call(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|_| ClientError::NotJson)
    }
}

/// Carries out one operator command; returns what to print.
pub async fn run(client: &AdminClient, action: AdminAction, json: bool) -> Result<String, ClientError> {
    use serde_json::json;
    let activation = |account: &str, active: bool| {
        let path = format!("/admin/accounts/{}/activation", segment(account));
        let word = if active { "on" } else { "off" };
        (
            path,
            json!({ "active": active }),
            format!("2FA feature {word} for account {account}"),
        )
    };
    Ok(match action {
        AdminAction::Activate { account } => {
            let (path, body, text) = activation(&account, true);
            let v = client.json(Method::PUT, &path, Some(body)).await?;
            if json {
                v.to_string()
            } else {
                text
            }
        }
        AdminAction::Deactivate { account } => {
            let (path, body, text) = activation(&account, false);
            let v = client.json(Method::PUT, &path, Some(body)).await?;
            if json {
                v.to_string()
            } else {
                text
            }
        }
        AdminAction::Account { account } => {
            let v = client
                .json(Method::GET, &format!("/admin/accounts/{}", segment(&account)), None)
                .await?;
            if json {
                v.to_string()
            } else {
                describe_account(&v)
            }
        }
        AdminAction::ResetUser { user } => {
            let v = client
                .json(Method::DELETE, &format!("/admin/users/{}/2fa", segment(&user)), None)
                .await?;
            let who = format!(
                "{} ({})",
                v["email"].as_str().unwrap_or(&user),
                v["id"].as_str().unwrap_or("?")
            );
            match (json, v["removed"] == true) {
                (true, _) => v.to_string(),
                (false, true) => format!("second factor of {who} removed; their signed-in sessions stay signed in"),
                (false, false) => format!("{who} had no second factor"),
            }
        }
        AdminAction::SignOutUser { user } => {
            let v = client
                .json(
                    Method::DELETE,
                    &format!("/admin/users/{}/sessions", segment(&user)),
                    None,
                )
                .await?;
            let who = v["email"].as_str().unwrap_or(&user).to_string();
            match json {
                true => v.to_string(),
                false => format!("{} session(s) of {who} signed out", v["revoked"].as_u64().unwrap_or(0)),
            }
        }
        AdminAction::Audit { user, account, limit } => {
            let mut path = format!("/admin/audit?limit={limit}");
            for (key, value) in [("user", user), ("account", account)] {
                if let Some(v) = value {
                    path.push_str(&format!("&{key}={}", enc(&v)));
                }
            }
            let v = client.json(Method::GET, &path, None).await?;
            if json {
                v.to_string()
            } else {
                describe_audit(&v)
            }
        }
        AdminAction::Metrics => {
            String::from_utf8_lossy(&client.call(Method::GET, "/metrics", None).await?).into_owned()
        }
        AdminAction::Backup { file } => {
            let patient = AdminClient {
                address: client.address,
                token: client.token.clone(),
                http: UpstreamClient::plain(client.address, BACKUP_TIMEOUT).reading_up_to(BACKUP_MAX_BYTES),
            };
            let backup = patient.call(Method::POST, "/admin/backup", None).await?;
            write_private(&file, &backup).map_err(|e| ClientError::File(file.clone(), e))?;
            format!("backup written to {} ({} bytes)", file.display(), backup.len())
        }
    })
}

/// Writes `bytes` to `path` readable by its owner only, whole or not at
/// all: into a new file beside it, flushed, then renamed over it.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&partial, path)
}

/// A person's view of `GET /admin/accounts/{id}`: the account's flags, then
/// one line per user with their id and each factor.
pub fn describe_account(v: &Value) -> String {
    let on = |b: &Value| if *b == true { "on" } else { "off" };
    let mut out = format!(
        "account {} ({})\n  2FA feature: {}\n  2FA required for all users: {}\n  users with 2FA: {} of {}\n",
        v["id"].as_str().unwrap_or("?"),
        v["name"].as_str().unwrap_or(""),
        on(&v["active"]),
        if v["require_2fa"] == true { "yes" } else { "no" },
        v["users_with_2fa"],
        v["users"].as_array().map_or(0, Vec::len),
    );
    let users = v["users"].as_array().map(Vec::as_slice).unwrap_or_default();
    if users.is_empty() {
        return out;
    }
    let width = |key: &str, title: &str| {
        users
            .iter()
            .map(|u| u[key].as_str().map_or(1, str::len))
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let (email_w, id_w) = (width("email", "email"), width("id", "id"));
    out.push_str(&format!(
        "  {:<email_w$}  {:<id_w$}  {:<6}  {:<3}  {:<4}  {:<3}  recovery codes left\n",
        "email", "id", "role", "2FA", "TOTP", "SMS"
    ));
    for u in users {
        out.push_str(&format!(
            "  {:<email_w$}  {:<id_w$}  {:<6}  {:<3}  {:<4}  {:<3}  {}\n",
            u["email"].as_str().unwrap_or("?"),
            u["id"].as_str().unwrap_or("?"),
            u["role"].as_str().unwrap_or("?"),
            on(&u["has_2fa"]),
            on(&u["totp_enabled"]),
            on(&u["sms_enabled"]),
            u["recovery_codes_left"],
        ));
    }
    out
}

/// A person's view of the audit trail.
pub fn describe_audit(v: &Value) -> String {
    let mut out = String::new();
    for e in v["events"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{} {:<28} user={} account={} {}\n",
            e["at"].as_u64().map_or_else(|| "?".to_string(), utc),
            e["kind"].as_str().unwrap_or("?"),
            e["user_id"].as_str().unwrap_or("-"),
            e["account_id"].as_str().unwrap_or("-"),
            e["detail"].as_str().unwrap_or(""),
        ));
    }
    if out.is_empty() {
        out.push_str("no events\n");
    }
    out
}

/// `2026-11-22 23:25:35Z` for Unix seconds (proleptic Gregorian, UTC).
pub fn utc(unix: u64) -> String {
    crate::env::date_time(unix)
}

#[cfg(test)]
mod tests {
    #[test]
    fn audit_times_read_as_utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(super::utc(1_795_389_963), "2026-11-22 23:26:03Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00Z");
    }
}
