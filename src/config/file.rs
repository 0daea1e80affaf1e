//! The configuration file exactly as written: serde structs that refuse
//! unknown keys, so a misspelled key is an error rather than a silent default.
//! Nothing outside `config` sees these; `validate` turns them into typed values.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub gateway: RawGateway,
    pub upstream: RawUpstream,
    #[serde(default)]
    pub cookie: RawCookie,
    #[serde(default)]
    pub session: RawSession,
    #[serde(default)]
    pub second_factor: RawSecondFactor,
    #[serde(default)]
    pub accounts: RawAccounts,
    #[serde(default)]
    pub admin: Option<RawAdmin>,
    #[serde(default)]
    pub sms: RawSms,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub webauthn: Option<RawWebauthn>,
    #[serde(default)]
    pub step_up: Vec<RawStepUp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebauthn {
    pub enabled: Option<bool>,
    /// The dashboard's public origin, e.g. "https://dash.example.com".
    pub origin: String,
    pub rp_id: Option<String>,
    pub rp_name: Option<String>,
    pub timeout_seconds: Option<u64>,
    /// "none" (default) or "required".
    pub attestation: Option<String>,
    #[serde(default)]
    pub attestation_roots: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub url: Option<String>,
    pub url_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSms {
    /// false: no SMS at all (NIST SP 800-63B calls it restricted).
    pub enabled: Option<bool>,
    /// false: SMS stays working for those who have it, but no longer counts
    /// as a second factor and cannot be newly enabled: users move to TOTP.
    pub allowed: Option<bool>,
    /// "outbox", "webhook" or "twilio".
    pub provider: Option<String>,
    pub outbox: Option<String>,
    pub code_ttl_seconds: Option<u64>,
    pub max_sends: Option<usize>,
    pub send_window_seconds: Option<u64>,
    pub timeout_seconds: Option<u64>,
    pub disallowed_accounts: Vec<String>,
    pub webhook: Option<RawWebhook>,
    pub twilio: Option<RawTwilio>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: String,
    pub auth_header: Option<String>,
    /// The environment variable holding the auth header's value.
    pub auth_value_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTwilio {
    pub account_sid: String,
    /// The environment variable holding the auth token.
    pub auth_token_env: String,
    pub from: String,
    pub base_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAccounts {
    /// Whether accounts the operator has not activated or deactivated have
    /// the 2FA feature on.
    pub activated_by_default: Option<bool>,
    /// Days users without 2FA may go on after an owner requires it.
    pub grace_days: Option<u32>,
    /// How often a signed-in user's accounts and roles are asked anew.
    pub identity_refresh_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: String,
    pub token_file: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSecondFactor {
    /// Shown in authenticator apps; defaults to `gateway.dashboard_name`.
    pub issuer: Option<String>,
    /// A file holding the 32-byte key that encrypts secrets at rest (base64 or hex).
    pub key_file: Option<String>,
    /// Or an environment variable holding it.
    pub key_env: Option<String>,
    pub max_failures_per_user: Option<u32>,
    pub max_failures_per_client: Option<u32>,
    pub lockout_seconds: Option<u64>,
    pub password_confirmation_seconds: Option<u64>,
    /// How long "remember this device" skips the challenge; 0: not offered.
    pub remember_device_days: Option<u64>,
}

/// `[[step_up]]`: paths that need a recent second factor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStepUp {
    pub path_prefix: String,
    pub max_age_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub listen: Vec<RawListener>,
    pub data_dir: String,
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    #[serde(default = "default_threads")]
    pub threads: usize,
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// A header the gateway sets on forwarded requests with the user's id.
    /// Whatever value a client sends in it is always removed.
    #[serde(default)]
    pub user_header: Option<String>,
    /// The dashboard's name, shown on the gateway's pages.
    #[serde(default)]
    pub dashboard_name: Option<String>,
    /// Proxies (CIDRs or addresses) whose forwarding header names the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// "x-forwarded-for" or "forwarded": the header those proxies write.
    #[serde(default)]
    pub client_address_header: Option<String>,
    /// Sign-in attempts allowed per client address per minute.
    #[serde(default)]
    pub sign_ins_per_minute: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub address: String,
    #[serde(default)]
    pub tls: Option<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub certificate: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub address: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub login: RawLogin,
    #[serde(default)]
    pub logout: RawLogout,
    /// The dashboard's other sign-in routes (single sign-on callbacks).
    #[serde(default)]
    pub sign_in: Vec<RawSignIn>,
    #[serde(default)]
    pub session_cookie: Option<String>,
    #[serde(default)]
    pub identity: RawIdentity,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLogin {
    pub path: String,
    pub method: String,
    pub username_field: String,
    pub password_field: String,
    /// The query parameter the dashboard's sign-in page reads for where to
    /// go afterwards; "" when it reads none.
    pub return_param: String,
}

impl Default for RawLogin {
    fn default() -> Self {
        RawLogin {
            path: "/login".into(),
            method: "POST".into(),
            username_field: "email".into(),
            password_field: "password".into(),
            return_param: "next".into(),
        }
    }
}

/// `[[upstream.sign_in]]`: a callback is a GET unless said otherwise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignIn {
    pub path: String,
    #[serde(default = "default_get")]
    pub method: String,
}

fn default_get() -> String {
    "GET".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLogout {
    pub path: String,
    pub method: String,
}

impl Default for RawLogout {
    fn default() -> Self {
        RawLogout {
            path: "/logout".into(),
            method: "POST".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIdentity {
    pub path: String,
    pub user_id: String,
    pub email: String,
    pub accounts: String,
    pub account_id: String,
    pub account_name: String,
    pub account_role: String,
    pub owner_role: String,
    /// Where the answer says whether the user has a password (`false`: a
    /// single sign-on user, who confirms changes by a recent sign-in).
    pub has_password: Option<String>,
}

impl Default for RawIdentity {
    fn default() -> Self {
        RawIdentity {
            path: "/api/me".into(),
            user_id: "/id".into(),
            email: "/email".into(),
            accounts: "/accounts".into(),
            account_id: "/id".into(),
            account_name: "/name".into(),
            account_role: "/role".into(),
            owner_role: "owner".into(),
            has_password: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCookie {
    pub name: Option<String>,
    /// "auto" (Secure when the listener has TLS), "always" or "never".
    pub secure: Option<String>,
    /// "strict" or "lax".
    pub same_site: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSession {
    pub lifetime_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
    pub pending_timeout_seconds: Option<u64>,
    pub max_per_user: Option<usize>,
    pub max_pending_per_user: Option<usize>,
}

fn default_prefix() -> String {
    "/_2fa".into()
}
fn default_threads() -> usize {
    2
}
fn default_grace() -> u64 {
    5
}
fn default_timeout() -> u64 {
    10
}
