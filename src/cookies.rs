//! Reading and rewriting cookies at the edge. The gateway decides which
//! cookies the upstream may see (never the gateway's own, the upstream's
//! session cookie only when the gateway released it) and reads the upstream's
//! Set-Cookie headers to notice sign-in, rotation and sign-out.

use cookie::Cookie;

use crate::config::{CookieSettings, SameSite};
use crate::lookalike;

/// Every `name=value` pair of one or more `Cookie` header values, in order.
pub fn pairs<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<(&'a str, &'a str)> {
    pairs_iter(headers).collect()
}

/// As `pairs`, without collecting: the per-request path reads cookies
/// without allocating.
pub fn pairs_iter<'a>(headers: impl IntoIterator<Item = &'a str>) -> impl Iterator<Item = (&'a str, &'a str)> {
    headers
        .into_iter()
        .flat_map(|h| h.split(';'))
        .filter_map(|p| {
            let (n, v) = p.trim().split_once('=')?;
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            Some((n.trim(), v))
        })
        .filter(|(n, _)| !n.is_empty())
}

/// The values of every cookie called `name`, in order; a client may send
/// several. Lazy, like `pairs_iter`: the first is often all that is needed.
pub fn values<'a, 'n>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)> + 'n,
    name: &'n str,
) -> impl Iterator<Item = &'a str> + 'n
where
    'a: 'n,
{
    pairs.into_iter().filter_map(move |(n, v)| (n == name).then_some(v))
}

/// Whether the cookie `name` is sent exactly once, in no other spelling a
/// dashboard's server may read as it (see `lookalike`), and with `value`.
/// Forward authentication approves a request only so: a proxy in front
/// passes every cookie on, and a dashboard given two session cookies may
/// serve either.
pub fn sole<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, name: &str, value: &str) -> bool {
    let mut seen = 0;
    for (n, v) in pairs {
        if lookalike::same(n, name) {
            seen += 1;
            if seen > 1 || n != name || v != value {
                return false;
            }
        }
    }
    seen == 1
}

/// The `Cookie` header to send upstream: all pairs except those named in
/// `drop` (in any spelling a dashboard's server may read as one of them, see
/// `lookalike`), plus `keep` (the verified upstream session cookie) if any.
/// `None` means send no Cookie header at all.
///
/// A pair with a comma is dropped too: no valid cookie has one (RFC 6265),
/// and an upstream that still splits on commas (RFC 2109) would read
/// `theme=x, dash_session=forged` as a session cookie the gateway never saw.
pub fn upstream_header<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    drop: &[&str],
    keep: Option<(&'a str, &'a str)>,
) -> Option<String> {
    let mut out = String::new();
    let kept = pairs
        .into_iter()
        .filter(|(n, v)| !drop.iter().any(|d| lookalike::same(n, d)) && !n.contains(',') && !v.contains(','))
        .chain(keep);
    for (n, v) in kept {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    (!out.is_empty()).then_some(out)
}

/// What one upstream `Set-Cookie` does to the cookie called `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetCookieEffect {
    /// Not about this cookie.
    Other,
    /// Sets it to a value.
    Sets(String),
    /// Removes it (empty value, `Max-Age` ≤ 0, or an expiry in the past).
    Clears,
}

pub fn effect(set_cookie: &str, name: &str, now_unix: u64) -> SetCookieEffect {
    let Ok(c) = Cookie::parse(set_cookie) else {
        return SetCookieEffect::Other;
    };
    if c.name() != name {
        return SetCookieEffect::Other;
    }
    let expired_by_age = c.max_age().is_some_and(|a| a.whole_seconds() <= 0);
    let expired_by_date = c
        .expires_datetime()
        .is_some_and(|t| t.unix_timestamp() <= now_unix as i64);
    if c.value().is_empty() || expired_by_age || expired_by_date {
        SetCookieEffect::Clears
    } else {
        SetCookieEffect::Sets(c.value().to_string())
    }
}

/// The values that `set_cookies` (Set-Cookie header values) set for the
/// cookie called `name`, in order.
pub fn values_set<'a>(
    set_cookies: impl IntoIterator<Item = &'a str> + 'a,
    name: &'a str,
    now_unix: u64,
) -> impl Iterator<Item = String> + 'a {
    set_cookies
        .into_iter()
        .filter_map(move |c| match effect(c, name, now_unix) {
            SetCookieEffect::Sets(value) => Some(value),
            _ => None,
        })
}

/// The gateway's own session cookie, with the attributes every one carries.
/// The remembered-device cookie (see `factors::devices`).
pub const DEVICE: &str = "tfa_device";

/// The cookies the dashboard must never see from the browser: the gateway's
/// own two, and the dashboard's session cookie, which the gateway sends
/// only for the session that released it.
pub fn ours(cfg: &crate::config::Config) -> [&str; 3] {
    [cfg.cookie.name.as_str(), DEVICE, cfg.upstream.session_cookie.as_str()]
}

/// `tfa_device=<token>` for `days`: sent with every request to the site,
/// so the sign-in form's answer can see it; HttpOnly like the session's.
pub fn device_cookie(settings: &CookieSettings, token: &str, days: u64) -> String {
    format!("{DEVICE}={token}; Max-Age={}{}", days * 86_400, attributes(settings))
}

pub fn gateway_cookie(settings: &CookieSettings, token: &str) -> String {
    format!("{}={token}{}", settings.name, attributes(settings))
}

/// Removes the gateway's cookie from the browser.
pub fn clear_gateway_cookie(settings: &CookieSettings) -> String {
    format!("{}=; Max-Age=0{}", settings.name, attributes(settings))
}

fn attributes(s: &CookieSettings) -> String {
    let same_site = match s.same_site {
        SameSite::Lax => "Lax",
        SameSite::Strict => "Strict",
    };
    let secure = if s.secure { "; Secure" } else { "" };
    format!("; Path=/; HttpOnly; SameSite={same_site}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_read_across_several_headers() {
        let p = pairs(["a=1; dash_session=x", "b=\"2\""]);
        assert_eq!(p, vec![("a", "1"), ("dash_session", "x"), ("b", "2")]);
    }

    #[test]
    fn a_session_cookie_smuggled_after_a_comma_never_reaches_the_upstream() {
        let p = pairs(["theme=x, dash_session=forged; lang=en", "a,dash_session=f=1"]);
        let h = upstream_header(p.iter().copied(), &["tfa_session", "dash_session"], None);
        assert_eq!(h.as_deref(), Some("lang=en"));
    }

    #[test]
    fn sole_wants_one_cookie_of_that_name_in_any_spelling_with_that_value() {
        let sole_in = |h: &str| sole(pairs([h]), "dash_session", "mine");
        assert!(sole_in("theme=dark; dash_session=mine; tfa_session=t"));
        assert!(!sole_in("dash_session=other; dash_session=mine"), "a second value");
        assert!(!sole_in("dash_session=mine; dash_session=mine"), "the same value twice");
        assert!(!sole_in("dash.session=other; dash_session=mine"), "another spelling");
        assert!(!sole_in("DASH_SESSION=mine"), "only in another spelling");
        assert!(!sole_in("dash_session=other"), "not the session's");
        assert!(!sole_in("theme=dark"), "none");
    }

    #[test]
    fn every_spelling_of_a_dropped_cookie_is_dropped() {
        let p = pairs(["dash.session=forged; Dash-Session=f; dash[session=f; theme=dark; TFA_SESSION=t"]);
        let h = upstream_header(
            p.iter().copied(),
            &["tfa_session", "dash_session"],
            Some(("dash_session", "x")),
        );
        assert_eq!(h.as_deref(), Some("theme=dark; dash_session=x"));
    }

    #[test]
    fn upstream_header_drops_named_cookies_and_adds_the_kept_one() {
        let p = pairs(["theme=dark; tfa_session=t; dash_session=forged; dash_session=x"]);
        let h = upstream_header(
            p.iter().copied(),
            &["tfa_session", "dash_session"],
            Some(("dash_session", "x")),
        );
        assert_eq!(h.as_deref(), Some("theme=dark; dash_session=x"));
        assert_eq!(
            upstream_header(p[1..3].iter().copied(), &["tfa_session", "dash_session"], None),
            None
        );
    }

    #[test]
    fn set_cookie_effects_are_recognised() {
        assert_eq!(
            effect("dash_session=abc; HttpOnly; Path=/", "dash_session", 0),
            SetCookieEffect::Sets("abc".into())
        );
        assert_eq!(
            effect("dash_session=; Max-Age=0; Path=/", "dash_session", 0),
            SetCookieEffect::Clears
        );
        assert_eq!(
            effect(
                "dash_session=abc; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                "dash_session",
                1000
            ),
            SetCookieEffect::Clears
        );
        assert_eq!(effect("other=abc", "dash_session", 0), SetCookieEffect::Other);
    }

    #[test]
    fn values_set_skips_other_cookies_and_clearing() {
        let headers = [
            "a=1",
            "dash_session=; Max-Age=0",
            "dash_session=v1; Path=/",
            "dash_session=v2",
        ];
        let values: Vec<_> = values_set(headers, "dash_session", 0).collect();
        assert_eq!(values, ["v1", "v2"]);
    }

    #[test]
    fn gateway_cookie_is_http_only_and_same_site() {
        let s = CookieSettings {
            name: "tfa_session".into(),
            secure: true,
            same_site: SameSite::Lax,
        };
        let c = gateway_cookie(&s, "tok");
        assert_eq!(c, "tfa_session=tok; Path=/; HttpOnly; SameSite=Lax; Secure");
    }
}
