//! The `[sms]` section: which provider sends SMS codes and the limits on
//! codes, validated like the rest of the configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file;

#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// `None`: SMS is not offered.
    pub provider: Option<SmsProviderSettings>,
    pub code_ttl_secs: u64,
    pub max_sends: usize,
    pub send_window_secs: u64,
    pub timeout: Duration,
    /// Accounts whose users may not use SMS (they are asked to move to TOTP).
    pub disallowed_accounts: Vec<String>,
    /// SMS may be newly enabled and counts as a second factor; when false,
    /// existing SMS users can still sign in but are asked to move to TOTP.
    pub allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsProviderSettings {
    Outbox(PathBuf),
    Webhook {
        url: String,
        /// Header name and the environment variable holding its value.
        auth: Option<(String, String)>,
    },
    Twilio {
        base_url: String,
        account_sid: String,
        auth_token_env: String,
        from: String,
    },
}

pub(super) fn validate(raw: file::RawSms, data_dir: &str) -> Result<SmsSettings, (&'static str, String)> {
    let enabled = raw.enabled.unwrap_or(false);
    let provider = match (enabled, raw.provider.as_deref()) {
        (false, _) => None,
        (true, Some("outbox") | None) => Some(SmsProviderSettings::Outbox(
            raw.outbox
                .map_or_else(|| Path::new(data_dir).join("sms-outbox.jsonl"), PathBuf::from),
        )),
        (true, Some("webhook")) => {
            let w = raw.webhook.ok_or((
                "sms.webhook",
                "provider \"webhook\" needs an [sms.webhook] section".to_string(),
            ))?;
            if !(w.url.starts_with("https://") || w.url.starts_with("http://")) {
                return Err(("sms.webhook.url", format!("{:?} must be an http(s) URL", w.url)));
            }
            let auth = match (w.auth_header, w.auth_value_env) {
                (Some(h), Some(e)) => Some((h, e)),
                (None, None) => None,
                _ => {
                    return Err((
                        "sms.webhook.auth_header",
                        "give auth_header and auth_value_env together".into(),
                    ))
                }
            };
            Some(SmsProviderSettings::Webhook { url: w.url, auth })
        }
        (true, Some("twilio")) => {
            let t = raw.twilio.ok_or((
                "sms.twilio",
                "provider \"twilio\" needs an [sms.twilio] section".to_string(),
            ))?;
            if !t.account_sid.starts_with("AC") {
                return Err(("sms.twilio.account_sid", "a Twilio account SID starts with AC".into()));
            }
            Some(SmsProviderSettings::Twilio {
                base_url: t.base_url.unwrap_or_else(|| "https://api.twilio.com".into()),
                account_sid: t.account_sid,
                auth_token_env: t.auth_token_env,
                from: t.from,
            })
        }
        (true, Some(other)) => return Err(("sms.provider", format!("{other:?}: expected outbox, webhook or twilio"))),
    };
    let code_ttl_secs = super::bounded("sms.code_ttl_seconds", raw.code_ttl_seconds, 300, 1..=3600)?;
    let max_sends = super::bounded("sms.max_sends", raw.max_sends, 3, 1..=100)?;
    let send_window_secs = super::bounded("sms.send_window_seconds", raw.send_window_seconds, 600, 1..=86_400)?;
    let timeout = super::bounded("sms.timeout_seconds", raw.timeout_seconds, 10, 1..=60)?;
    Ok(SmsSettings {
        provider,
        code_ttl_secs,
        max_sends,
        send_window_secs,
        timeout: Duration::from_secs(timeout),
        disallowed_accounts: raw.disallowed_accounts,
        allowed: raw.allowed.unwrap_or(true),
    })
}
