//! Configuration: read a TOML file, refuse unknown keys, and validate every
//! value into a typed form once at start-up. Code past this module never sees
//! a raw string where an address, a method or a cookie name belongs.

mod file;
mod proxies;
mod session;
mod sms;
mod step_up;
mod store;
mod webauthn;

pub use session::{SessionSettings, DEFAULT_MAX_PENDING_PER_USER, DEFAULT_MAX_SESSIONS_PER_USER};
pub use sms::{SmsProviderSettings, SmsSettings};
pub use step_up::StepUp;
pub use store::{StoreLocation, UrlSource};
pub use webauthn::WebauthnSettings;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, Method};

use crate::client_addr::TrustedProxies;
use crate::throttle::Limits;
use file::RawConfig;

/// What went wrong with a configuration file; always names the file, and for
/// a bad value the key, so an operator can fix it without reading code.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: key `{key}`: {problem}")]
    Invalid {
        path: String,
        key: &'static str,
        problem: String,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listeners: Vec<Listener>,
    pub data_dir: PathBuf,
    /// Where the gateway's own pages live, e.g. `/_2fa`; no trailing slash.
    pub prefix: String,
    pub threads: usize,
    pub shutdown_grace: Duration,
    pub user_header: Option<HeaderName>,
    /// Whose forwarding header is believed; nobody's by default.
    pub trusted_proxies: TrustedProxies,
    /// Sign-in attempts per client address per minute.
    pub sign_ins_per_minute: u32,
    pub upstream: Upstream,
    pub cookie: CookieSettings,
    pub session: SessionSettings,
    pub dashboard_name: String,
    pub second_factor: SecondFactorSettings,
    pub accounts: AccountSettings,
    pub admin: Option<AdminSettings>,
    pub sms: SmsSettings,
    pub store: StoreLocation,
    /// `None`: security keys are not offered.
    pub webauthn: Option<WebauthnSettings>,
    /// Longest prefix first, so the most specific rule applies.
    pub step_up: Vec<StepUp>,
}

#[derive(Debug, Clone, Copy)]
pub struct AccountSettings {
    pub activated_by_default: bool,
    pub grace_secs: u64,
    pub identity_refresh_secs: u64,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub listen: SocketAddr,
    pub token_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct SecondFactorSettings {
    pub issuer: String,
    pub key: KeySource,
    pub limits: Limits,
    /// How long a password confirmation allows sensitive changes.
    pub confirm_window_secs: u64,
    /// How long a remembered device skips the challenge; 0: not offered.
    pub remember_device_days: u64,
}

/// Where the key that encrypts secrets at rest comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Env(String),
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub address: SocketAddr,
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone)]
pub struct Tls {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pub address: SocketAddr,
    /// The Host header sent on the gateway's own requests to the upstream.
    pub host: String,
    pub timeout: Duration,
    pub login: Route,
    pub username_field: String,
    pub password_field: String,
    pub logout: Route,
    /// Other routes whose answer may sign someone in (single sign-on
    /// callbacks), handled like the sign-in form's.
    pub sign_in: Vec<Route>,
    /// Where a user without a password signs in again to confirm a change:
    /// the sign-in page, told to come back to the gateway's settings.
    pub sign_in_again: String,
    pub session_cookie: String,
    pub identity: IdentitySpec,
}

/// Where in the identity endpoint's JSON answer each fact is found
/// (RFC 6901 JSON pointers; account fields are relative to one account).
#[derive(Debug, Clone)]
pub struct IdentitySpec {
    pub path: String,
    pub user_id: String,
    pub email: String,
    pub accounts: String,
    pub account_id: String,
    pub account_name: String,
    pub account_role: String,
    pub owner_role: String,
    /// `None`: every user has a password.
    pub has_password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
}

#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub name: String,
    pub secure: bool,
    pub same_site: SameSite,
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::parse(&text, &shown)
    }

    /// Validates TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        validate(raw, origin)
    }
}

fn validate(raw: RawConfig, origin: &str) -> Result<Config, ConfigError> {
    let bad = |key: &'static str, problem: String| ConfigError::Invalid {
        path: origin.to_string(),
        key,
        problem,
    };
    // What a section's validator or `bounded` refused, as this file's error.
    let keyed = |(key, problem): (&'static str, String)| bad(key, problem);

    if raw.gateway.listen.is_empty() {
        return Err(bad("gateway.listen", "at least one listener is needed".into()));
    }
    let mut listeners = Vec::new();
    for l in raw.gateway.listen {
        let address =
            resolve(&l.address).map_err(|p| bad("gateway.listen.address", format!("{:?}: {p}", l.address)))?;
        let tls = match l.tls {
            None => None,
            Some(t) => {
                for (key, file) in [
                    ("gateway.listen.tls.certificate", &t.certificate),
                    ("gateway.listen.tls.key", &t.key),
                ] {
                    if !Path::new(file).is_file() {
                        return Err(bad(key, format!("{file:?} is not a readable file")));
                    }
                }
                Some(Tls {
                    certificate: t.certificate.into(),
                    key: t.key.into(),
                })
            }
        };
        listeners.push(Listener { address, tls });
    }
    if raw.gateway.data_dir.trim().is_empty() {
        return Err(bad("gateway.data_dir", "must not be empty".into()));
    }
    let prefix = raw.gateway.path_prefix.trim_end_matches('/').to_string();
    if !prefix.starts_with('/') || prefix.len() < 2 || !is_plain_path(&prefix) {
        return Err(bad(
            "gateway.path_prefix",
            format!("{:?} must be a path such as \"/_2fa\"", raw.gateway.path_prefix),
        ));
    }
    let threads = bounded("gateway.threads", Some(raw.gateway.threads), 2, 1..=256).map_err(keyed)?;
    let user_header = match raw.gateway.user_header {
        None => None,
        Some(h) => Some(
            HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| bad("gateway.user_header", format!("{h:?} is not a header name")))?,
        ),
    };

    let trusted_proxies = proxies::validate(
        &raw.gateway.trusted_proxies,
        raw.gateway.client_address_header.as_deref(),
    )
    .map_err(keyed)?;
    let sign_ins_per_minute = bounded(
        "gateway.sign_ins_per_minute",
        raw.gateway.sign_ins_per_minute,
        30,
        1..=10_000,
    )
    .map_err(keyed)?;

    let up = raw.upstream;
    let address = resolve(&up.address).map_err(|p| bad("upstream.address", format!("{:?}: {p}", up.address)))?;
    let host = up.host.unwrap_or_else(|| up.address.clone());
    let timeout = bounded("upstream.timeout_seconds", Some(up.timeout_seconds), 10, 1..=300).map_err(keyed)?;
    let login = route(&up.login.method, &up.login.path).map_err(|p| bad("upstream.login", p))?;
    let logout = route(&up.logout.method, &up.logout.path).map_err(|p| bad("upstream.logout", p))?;
    let mut sign_in = Vec::new();
    for r in &up.sign_in {
        let r = route(&r.method, &r.path).map_err(|p| bad("upstream.sign_in", p))?;
        if r.path.starts_with(&prefix) || r == logout {
            return Err(bad(
                "upstream.sign_in",
                format!("{:?} is the gateway's or the sign-out route", r.path),
            ));
        }
        sign_in.push(r);
    }
    for (key, v) in [
        ("upstream.login.username_field", &up.login.username_field),
        ("upstream.login.password_field", &up.login.password_field),
    ] {
        if v.is_empty() {
            return Err(bad(key, "must not be empty".into()));
        }
    }
    let param = &up.login.return_param;
    if !param.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
        return Err(bad(
            "upstream.login.return_param",
            format!("{param:?} is not a query parameter name"),
        ));
    }
    let sign_in_again = match param.as_str() {
        "" => login.path.clone(),
        _ => format!(
            "{}?{param}={}",
            login.path,
            crate::policy::encode_component(&format!("{prefix}/settings"))
        ),
    };
    let session_cookie = up.session_cookie.unwrap_or_else(|| "dash_session".into());
    if !is_cookie_name(&session_cookie) {
        return Err(bad(
            "upstream.session_cookie",
            format!("{session_cookie:?} is not a cookie name"),
        ));
    }
    let id = up.identity;
    if !id.path.starts_with('/') {
        return Err(bad("upstream.identity.path", "must start with /".into()));
    }
    for (key, p) in [
        ("upstream.identity.user_id", &id.user_id),
        ("upstream.identity.email", &id.email),
        ("upstream.identity.accounts", &id.accounts),
        ("upstream.identity.account_id", &id.account_id),
        ("upstream.identity.account_name", &id.account_name),
        ("upstream.identity.account_role", &id.account_role),
    ] {
        if !(p.is_empty() || p.starts_with('/')) {
            return Err(bad(key, format!("{p:?} is not a JSON pointer (it must start with /)")));
        }
    }

    let any_tls = listeners.iter().any(|l| l.tls.is_some());
    let cookie_name = raw.cookie.name.unwrap_or_else(|| "tfa_session".into());
    if !is_cookie_name(&cookie_name) || cookie_name == session_cookie {
        return Err(bad(
            "cookie.name",
            format!("{cookie_name:?} must be a cookie name different from the upstream's"),
        ));
    }
    let secure = match raw.cookie.secure.as_deref().unwrap_or("auto") {
        "auto" => any_tls,
        "always" => true,
        "never" => false,
        other => {
            return Err(bad(
                "cookie.secure",
                format!("{other:?}: expected auto, always or never"),
            ))
        }
    };
    let same_site = match raw.cookie.same_site.as_deref().unwrap_or("lax") {
        "lax" => SameSite::Lax,
        "strict" => SameSite::Strict,
        other => return Err(bad("cookie.same_site", format!("{other:?}: expected lax or strict"))),
    };

    let session = session::validate(&raw.session).map_err(keyed)?;

    let dashboard_name = raw.gateway.dashboard_name.unwrap_or_else(|| "Dashboard".into());
    let sf = raw.second_factor;
    let key = match (sf.key_file, sf.key_env) {
        (Some(f), None) if !f.trim().is_empty() => KeySource::File(f.into()),
        (None, Some(v)) if !v.trim().is_empty() => KeySource::Env(v),
        (Some(_), Some(_)) => {
            return Err(bad(
                "second_factor.key_file",
                "set key_file or key_env, not both".into(),
            ))
        }
        _ => {
            return Err(bad(
                "second_factor.key_file",
                "a key for secrets at rest is required: set key_file or key_env".into(),
            ))
        }
    };
    let per_user = bounded(
        "second_factor.max_failures_per_user",
        sf.max_failures_per_user,
        10,
        1..=100,
    )
    .map_err(keyed)?;
    let per_client = bounded(
        "second_factor.max_failures_per_client",
        sf.max_failures_per_client,
        30,
        1..=1000,
    )
    .map_err(keyed)?;
    let lockout_secs = bounded("second_factor.lockout_seconds", sf.lockout_seconds, 900, 1..=86_400).map_err(keyed)?;
    let confirm_window_secs = bounded(
        "second_factor.password_confirmation_seconds",
        sf.password_confirmation_seconds,
        300,
        30..=3600,
    )
    .map_err(keyed)?;
    let remember_device_days = bounded(
        "second_factor.remember_device_days",
        sf.remember_device_days,
        30,
        0..=365,
    )
    .map_err(keyed)?;
    let second_factor = SecondFactorSettings {
        remember_device_days,
        issuer: sf.issuer.unwrap_or_else(|| dashboard_name.clone()),
        key,
        limits: Limits {
            per_user,
            per_client,
            lockout_secs,
        },
        confirm_window_secs,
    };

    let grace_days = bounded("accounts.grace_days", raw.accounts.grace_days, 0, 0..=365).map_err(keyed)?;
    let identity_refresh_secs = bounded(
        "accounts.identity_refresh_seconds",
        raw.accounts.identity_refresh_seconds,
        300,
        1..=86_400,
    )
    .map_err(keyed)?;
    let accounts = AccountSettings {
        activated_by_default: raw.accounts.activated_by_default.unwrap_or(false),
        grace_secs: u64::from(grace_days) * 86_400,
        identity_refresh_secs,
    };
    let admin = match raw.admin {
        None => None,
        Some(a) => Some(AdminSettings {
            listen: resolve(&a.listen).map_err(|p| bad("admin.listen", format!("{:?}: {p}", a.listen)))?,
            token_file: PathBuf::from(a.token_file),
        }),
    };

    let sms = sms::validate(raw.sms, &raw.gateway.data_dir).map_err(keyed)?;
    let store = store::validate(&raw.store).map_err(keyed)?;
    let webauthn = webauthn::validate(raw.webauthn, &dashboard_name).map_err(keyed)?;
    let step_up = step_up::validate(raw.step_up, &prefix).map_err(keyed)?;

    Ok(Config {
        sms,
        store,
        webauthn,
        step_up,
        accounts,
        admin,
        dashboard_name,
        second_factor,
        listeners,
        data_dir: PathBuf::from(raw.gateway.data_dir),
        prefix,
        threads,
        shutdown_grace: Duration::from_secs(raw.gateway.shutdown_grace_seconds),
        user_header,
        trusted_proxies,
        sign_ins_per_minute,
        upstream: Upstream {
            address,
            host,
            timeout: Duration::from_secs(timeout),
            login,
            username_field: up.login.username_field,
            password_field: up.login.password_field,
            logout,
            sign_in,
            sign_in_again,
            session_cookie,
            identity: IdentitySpec {
                path: id.path,
                user_id: id.user_id,
                email: id.email,
                accounts: id.accounts,
                account_id: id.account_id,
                account_name: id.account_name,
                account_role: id.account_role,
                owner_role: id.owner_role,
                has_password: id.has_password,
            },
        },
        cookie: CookieSettings {
            name: cookie_name,
            secure,
            same_site,
        },
        session,
    })
}

/// A number with a default, refused (naming its key) outside `range`.
fn bounded<T>(
    key: &'static str,
    value: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, (&'static str, String)>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    let v = value.unwrap_or(default);
    if range.contains(&v) {
        Ok(v)
    } else {
        Err((
            key,
            format!("{v}: must be between {} and {}", range.start(), range.end()),
        ))
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    addr.to_socket_addrs()
        .map_err(|e| format!("not a host:port address ({e})"))?
        .next()
        .ok_or_else(|| "resolves to no address".to_string())
}

fn route(method: &str, path: &str) -> Result<Route, String> {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("{method:?} is not an HTTP method"))?;
    if !path.starts_with('/') || !is_plain_path(path) {
        return Err(format!("path {path:?} must start with / and hold no query"));
    }
    Ok(Route {
        method,
        path: path.to_string(),
    })
}

fn is_plain_path(p: &str) -> bool {
    p.bytes().all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
}

/// RFC 6265 cookie-name: an HTTP token.
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests;
