//! The `[store]` section: where the durable state lives. Absent, the
//! embedded sled store in the data folder; with `url` or `url_env`, a
//! PostgreSQL database shared by every replica.

use super::file::RawStore;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// sled in `gateway.data_dir`.
    Embedded,
    Postgres(UrlSource),
}

/// Where the PostgreSQL URL comes from. An environment variable keeps the
/// database password out of the file; it is read at start-up.
#[derive(Clone, PartialEq, Eq)]
pub enum UrlSource {
    Inline(String),
    Env(String),
}

/// The URL may hold a password: Debug output (a logged config) never does.
impl std::fmt::Debug for UrlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlSource::Inline(_) => f.write_str("Inline(..)"),
            UrlSource::Env(var) => write!(f, "Env({var:?})"),
        }
    }
}

impl UrlSource {
    /// The URL itself, reading the environment now for `url_env`.
    pub fn resolve(&self) -> Result<String, String> {
        let url = match self {
            UrlSource::Inline(url) => url.clone(),
            UrlSource::Env(var) => std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?,
        };
        check_scheme(&url)?;
        Ok(url)
    }
}

fn check_scheme(url: &str) -> Result<(), String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        Err("expected a postgres:// URL".into())
    }
}

pub(super) fn validate(raw: &RawStore) -> Result<StoreLocation, (&'static str, String)> {
    match (&raw.url, &raw.url_env) {
        (None, None) => Ok(StoreLocation::Embedded),
        (Some(_), Some(_)) => Err(("store.url", "set url or url_env, not both".into())),
        (Some(url), None) => {
            // The value is not echoed: it may carry a password.
            check_scheme(url).map_err(|p| ("store.url", p))?;
            Ok(StoreLocation::Postgres(UrlSource::Inline(url.clone())))
        }
        (None, Some(var)) if var.trim().is_empty() => Err(("store.url_env", "is empty".into())),
        (None, Some(var)) => Ok(StoreLocation::Postgres(UrlSource::Env(var.clone()))),
    }
}
