//! What a session says about itself: the address and browser it signed in
//! from (the user's list of sessions shows them) and when it last passed a
//! second factor (step-up reads that). Kept with the session in memory and
//! in its stored record, so every replica sees the same.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::env::UnixSeconds;

/// A browser's `User-Agent` is kept to this many characters.
const USER_AGENT_MAX: usize = 200;

#[derive(Debug, Default)]
pub struct About {
    /// The client address the gateway saw at sign-in.
    pub client: Option<Arc<str>>,
    /// The browser's `User-Agent`, printable ASCII only, shortened.
    pub user_agent: Option<Arc<str>>,
    /// When a second factor was last passed in this session; 0: never (no
    /// second factor, or let in by a remembered device).
    factor_at: AtomicU64,
    /// When the user signed in (at the dashboard, password or single
    /// sign-on); kept through the session's renewals.
    pub signed_in_at: UnixSeconds,
    /// The user has no password (single sign-on): changes are confirmed by
    /// a recent sign-in instead.
    pub passwordless: bool,
}

impl About {
    pub fn new(client: Option<&str>, user_agent: Option<&str>, signed_in_at: UnixSeconds, passwordless: bool) -> About {
        About {
            client: client.map(Arc::from),
            user_agent: user_agent.and_then(clean_user_agent).map(Arc::from),
            factor_at: AtomicU64::new(0),
            signed_in_at,
            passwordless,
        }
    }

    /// As stored: the record's fields, already cleaned when they were kept.
    pub fn stored(r: &crate::store::SessionRecord) -> About {
        About {
            client: r.client.as_deref().map(Arc::from),
            user_agent: r.user_agent.as_deref().map(Arc::from),
            factor_at: AtomicU64::new(r.factor_at),
            // Records from before it was kept: their start.
            signed_in_at: if r.signed_in_at == 0 { r.created } else { r.signed_in_at },
            passwordless: r.passwordless,
        }
    }

    pub fn factor_at(&self) -> UnixSeconds {
        self.factor_at.load(Ordering::Relaxed)
    }

    /// A second factor was passed at `now` (never moves back).
    pub fn factor_passed(&self, now: UnixSeconds) {
        self.factor_at.fetch_max(now, Ordering::Relaxed);
    }

    /// The same facts, for a session that follows this one.
    pub fn carried(&self) -> About {
        About {
            client: self.client.clone(),
            user_agent: self.user_agent.clone(),
            factor_at: AtomicU64::new(self.factor_at()),
            signed_in_at: self.signed_in_at,
            passwordless: self.passwordless,
        }
    }
}

/// A `User-Agent` as a person recognises it: "Firefox on Windows". The
/// whole string stays in the JSON API; the pages show this.
pub fn browser_summary(user_agent: &str) -> String {
    let has = |s: &str| user_agent.contains(s);
    let browser = if has("Edg/") {
        "Edge"
    } else if has("OPR/") {
        "Opera"
    } else if has("Firefox/") || has("FxiOS/") {
        "Firefox"
    } else if has("Chrome/") || has("CriOS/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else {
        return user_agent.chars().take(40).collect();
    };
    let system = if has("iPhone") || has("iPad") {
        "iOS"
    } else if has("Android") {
        "Android"
    } else if has("Windows") {
        "Windows"
    } else if has("Mac OS X") || has("Macintosh") {
        "macOS"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Linux") {
        "Linux"
    } else {
        return browser.to_string();
    };
    format!("{browser} on {system}")
}

/// A `User-Agent` as pages and the API may show it: visible ASCII and
/// spaces only (nothing a page or a log line could be fooled by), at most
/// `USER_AGENT_MAX` characters; `None` if nothing is left.
fn clean_user_agent(raw: &str) -> Option<String> {
    let text: String = raw
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(USER_AGENT_MAX)
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_keeps_only_what_is_safe_to_show() {
        assert_eq!(
            clean_user_agent("Mozilla/5.0 (X11)").as_deref(),
            Some("Mozilla/5.0 (X11)")
        );
        assert_eq!(clean_user_agent("a\r\nb\u{7f}c").as_deref(), Some("abc"));
        assert_eq!(
            clean_user_agent(&"x".repeat(500)).map(|s| s.len()),
            Some(USER_AGENT_MAX)
        );
        assert_eq!(clean_user_agent("\u{e9}\t"), None);
    }

    #[test]
    fn a_browser_is_named_as_people_know_it() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";
        assert_eq!(browser_summary(chrome), "Chrome on Linux");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_summary(safari), "Safari on iOS");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0 Safari/537.36 Edg/130.0";
        assert_eq!(browser_summary(edge), "Edge on Windows");
        assert_eq!(browser_summary("curl/8.0"), "curl/8.0");
    }

    #[test]
    fn the_factor_time_is_carried_and_never_moves_back() {
        let a = About::new(Some("10.0.0.1"), Some("UA"), 5, true);
        assert_eq!(a.factor_at(), 0);
        a.factor_passed(100);
        a.factor_passed(50);
        let b = a.carried();
        assert_eq!((b.factor_at(), b.client.as_deref()), (100, Some("10.0.0.1")));
        assert_eq!((b.signed_in_at, b.passwordless), (5, true));
    }
}
