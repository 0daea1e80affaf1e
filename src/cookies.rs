//! Reading and rewriting cookies at the edge. The gateway decides which
//! cookies the upstream may see (never the gateway's own, the upstream's
//! session cookie only when the gateway released it) and reads the upstream's
//! Set-Cookie headers to notice sign-in, rotation and sign-out.

use cookie::Cookie;
use smallvec::SmallVec;

use crate::config::{CookieSettings, SameSite};
use crate::lookalike;

/// Every `name=value` pair of one or more `Cookie` header values, in order.
pub fn pairs<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<(&'a str, &'a str)> {
    pairs_iter(headers).collect()
}

/// As `pairs`, without collecting: the per-request path reads cookies
/// without allocating.
///
/// Every request reads its cookies through it (`jar`, and the header sent
/// on when other cookies came), so this splits and trims bytewise: `str`'s
/// `split(';')` and `trim()` cost a pattern searcher and a Unicode decode
/// per call. It reads exactly as they would (a test holds it to them).
pub fn pairs_iter<'a>(headers: impl IntoIterator<Item = &'a str>) -> impl Iterator<Item = (&'a str, &'a str)> {
    headers
        .into_iter()
        .flat_map(|h| split_byte(h, b';'))
        .filter_map(|p| {
            // Trimming the pair first, as `str` readers do, changes neither
            // where its first `=` is nor the trimmed name and value.
            let at = memchr::memchr(b'=', p.as_bytes())?;
            let v = trim(&p[at + 1..]);
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            Some((trim(&p[..at]), v))
        })
        .filter(|(n, _)| !n.is_empty())
}

/// `s.split(sep)` for an ASCII `sep`.
fn split_byte(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(sep, r.as_bytes()) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// `s.trim()`: ASCII white space bytewise, and `str::trim` only when a
/// non-ASCII character is left at either end (it may be white space too).
fn trim(s: &str) -> &str {
    // The ASCII characters `char::is_whitespace` holds (with U+000B, which
    // `u8::is_ascii_whitespace` does not).
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let bytes = s.as_bytes();
    if let (Some(f), Some(l)) = (bytes.first(), bytes.last()) {
        if f.is_ascii_graphic() && l.is_ascii_graphic() {
            return s; // nearly every name and value
        }
    }
    let start = bytes.iter().position(|b| !space(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !space(b)).map_or(start, |i| i + 1);
    let t = &s[start..end];
    match (t.as_bytes().first(), t.as_bytes().last()) {
        (Some(&f), Some(&l)) if f >= 0x80 || l >= 0x80 => t.trim(),
        _ => t,
    }
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
        } else if lookalike::cookie_read_as(n, v, name) {
            return false;
        }
    }
    seen == 1
}

/// The request's cookies as the per-request check reads them, in one pass.
pub struct Jar<'a> {
    /// The first value of the gateway's session cookie.
    pub token: Option<&'a str>,
    /// Every value of the dashboard's session cookie, in order.
    pub upstream: SmallVec<[&'a str; 2]>,
    /// Whether any pair would go on to the dashboard as sent (`upstream_header`
    /// keeps it). Most requests carry only the two session cookies, so the
    /// header sent on is the released cookie alone, built without a parse.
    pub others: bool,
}

/// Reads `token_name`, `upstream_name` and whether any pair survives
/// `upstream_header(.., drop, ..)`, in one pass over the pairs.
pub fn jar<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    token_name: &str,
    upstream_name: &str,
    drop: &[&str],
) -> Jar<'a> {
    let mut jar = Jar {
        token: None,
        upstream: SmallVec::new(),
        others: false,
    };
    for (n, v) in pairs_iter(headers) {
        let named = if n == token_name {
            jar.token = jar.token.or(Some(v));
            true
        } else if n == upstream_name {
            jar.upstream.push(v);
            true
        } else {
            false
        };
        // A name dropped as spelled needs no look at its other spellings.
        jar.others = jar.others || (!(named && drop.contains(&n)) && goes_on(n, v, drop));
    }
    jar
}

/// Whether `upstream_header` keeps the pair as the browser sent it.
fn goes_on(n: &str, v: &str, drop: &[&str]) -> bool {
    !drop.iter().any(|d| lookalike::cookie_read_as(n, v, d)) && !n.contains(',') && !v.contains(',')
}

/// `name=value`, the `Cookie` header of one pair.
pub fn one(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1 + value.len());
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    out
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
    let kept = pairs.into_iter().filter(|(n, v)| goes_on(n, v, drop)).chain(keep);
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

    /// What `pairs_iter` replaced: `str::split` and `str::trim`.
    fn pairs_as_str_reads_them<'a>(headers: &[&'a str]) -> Vec<(&'a str, &'a str)> {
        headers
            .iter()
            .flat_map(|h| h.split(';'))
            .filter_map(|p| {
                let (n, v) = p.trim().split_once('=')?;
                let v = v.trim();
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
                Some((n.trim(), v))
            })
            .filter(|(n, _)| !n.is_empty())
            .collect()
    }

    #[test]
    fn pairs_are_read_as_str_split_and_trim_read_them() {
        // Pieces a cookie header may hold, Unicode white space (U+00A0,
        // U+0085, U+2003, U+3000) and U+000B among them.
        let pieces = [
            "a",
            "dash_session",
            "=",
            ";",
            " ",
            "\t",
            "\x0b",
            "\x0c",
            "\r",
            "\n",
            "\"",
            ",",
            "\u{a0}",
            "\u{85}",
            "\u{2003}",
            "\u{3000}",
            "é",
            "x=1",
            "; ",
            "==",
            "\u{a0}=",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let header: String = (0..next() % 12)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let headers = [header.as_str(), "b=2"];
            assert_eq!(pairs(headers), pairs_as_str_reads_them(&headers), "{header:?}");
        }
    }

    #[test]
    fn the_jar_reads_what_the_pair_by_pair_readers_read() {
        let drop = ["tfa_session", "tfa_device", "dash_session"];
        for header in [
            "",
            "tfa_session=t; dash_session=d",
            "dash_session=d1; theme=dark; tfa_session=t1; dash_session=d2; tfa_session=t2; dash_session=d3",
            "dash.session=forged; tfa_session=t",
            "theme=x, dash_session=forged",
            "a=1,2",
            "TFA_SESSION=t; tfa_device=x",
            "tfa_session=t; lang=en",
        ] {
            let j = jar([header], "tfa_session", "dash_session", &drop);
            let p = pairs([header]);
            assert_eq!(j.token, values(p.iter().copied(), "tfa_session").next(), "{header:?}");
            let upstream: Vec<_> = values(p.iter().copied(), "dash_session").collect();
            assert_eq!(j.upstream.to_vec(), upstream, "{header:?}");
            assert_eq!(
                j.others,
                upstream_header(p.iter().copied(), &drop, None).is_some(),
                "{header:?}"
            );
            let keep = Some(("dash_session", "mine"));
            if !j.others {
                assert_eq!(
                    upstream_header(p.iter().copied(), &drop, keep),
                    Some(one("dash_session", "mine"))
                );
            }
        }
    }

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
