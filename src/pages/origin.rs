//! Whether a state-changing request comes from this site. Browsers send
//! `Origin` with every such request (`scheme://host[:port]`, or `null` from
//! a sandboxed or privacy-sensitive context); a few older ones send only
//! `Referer`. Either must name the origin the request itself went to: the
//! scheme the browser used, and the host and port of `Host`. The scheme
//! matters: a page served over plain HTTP can be written by anyone on the
//! network, so it must not act on the HTTPS site, and the other way round.
//! With neither header (scripts, the JSON API from a shell) the CSRF token
//! and the JSON content type remain the check.

use http::header::{HOST, ORIGIN, REFERER};
use http::HeaderMap;

/// How browsers reach the gateway for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Whether the request's `Origin` (or, without one, its `Referer`) is this
/// site's origin for `scheme` and its `Host`. No header passes; one that is
/// not text, `null`, or anything but this origin does not.
pub fn same_origin(headers: &HeaderMap, scheme: Scheme) -> bool {
    let claimed = match (headers.get(ORIGIN), headers.get(REFERER)) {
        (Some(origin), _) => origin.to_str().ok().map(str::to_string),
        (None, Some(referer)) => referer.to_str().ok().and_then(origin_of_url),
        (None, None) => return true,
    };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    match (claimed, host) {
        (Some(origin), Some(host)) => origin_is(&origin, host, scheme),
        _ => false,
    }
}

/// `scheme://authority` of a URL, as a browser would write its origin.
fn origin_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(format!("{scheme}://{}", &rest[..end]))
}

/// Whether `origin` is exactly `scheme://host[:port]` for this `Host`,
/// ports compared as numbers with the scheme's default filled in, names
/// without regard to ASCII case.
fn origin_is(origin: &str, host: &str, scheme: Scheme) -> bool {
    let Some((claimed_scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if !claimed_scheme.eq_ignore_ascii_case(scheme.name()) {
        return false;
    }
    match (
        host_and_port(authority, scheme.default_port()),
        host_and_port(host, scheme.default_port()),
    ) {
        (Some((a, a_port)), Some((b, b_port))) => a.eq_ignore_ascii_case(b) && a_port == b_port,
        _ => false,
    }
}

/// Splits `host[:port]` or `[ipv6][:port]`; `None` for anything else (a
/// path, user information, an empty host, a port that is not a number).
fn host_and_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let end = rest.find(']')?;
            (&authority[..end + 2], &rest[end + 1..])
        }
        // The port part keeps its colon, so `host:` is told from `host`.
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_[]:".contains(&b))
        && (host.starts_with('[') || !host.contains(':'));
    if !valid_host {
        return None;
    }
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => default_port,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok()?,
        _ => return None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Scheme::{Http, Https};

    #[test]
    fn the_origin_must_name_the_scheme_the_browser_used() {
        assert!(origin_is("http://127.0.0.1:8080", "127.0.0.1:8080", Http));
        assert!(!origin_is("https://127.0.0.1:8080", "127.0.0.1:8080", Http));
        assert!(origin_is("https://gw.example", "gw.example", Https));
        assert!(!origin_is("http://gw.example", "gw.example", Https));
        assert!(!origin_is("ws://gw.example", "gw.example", Http));
    }

    #[test]
    fn default_ports_are_the_same_port_written_or_not() {
        assert!(origin_is("http://gw.example", "gw.example:80", Http));
        assert!(origin_is("http://gw.example:80", "gw.example", Http));
        assert!(origin_is("https://gw.example:443", "gw.example", Https));
        assert!(!origin_is("https://gw.example:80", "gw.example", Https));
        assert!(!origin_is("http://gw.example:8080", "gw.example", Http));
        assert!(origin_is("http://gw.example:0080", "gw.example", Http));
    }

    #[test]
    fn names_match_without_regard_to_case_but_otherwise_exactly() {
        assert!(origin_is("HTTP://GW.Example", "gw.example", Http));
        assert!(
            !origin_is("http://gw.example.", "gw.example", Http),
            "a trailing dot is another name"
        );
        assert!(origin_is("http://gw.example.", "gw.example.", Http));
        assert!(!origin_is("http://gw.example.evil.example", "gw.example", Http));
        assert!(!origin_is("http://evil.example", "gw.example", Http));
    }

    #[test]
    fn ipv6_literals_are_compared_with_their_ports() {
        assert!(origin_is("http://[::1]:8080", "[::1]:8080", Http));
        assert!(origin_is("http://[::1]", "[::1]:80", Http));
        assert!(!origin_is("http://[::1]:8081", "[::1]:8080", Http));
        assert!(!origin_is("http://[::2]:8080", "[::1]:8080", Http));
        assert!(!origin_is("http://::1:8080", "::1:8080", Http), "unbracketed");
    }

    #[test]
    fn anything_but_a_serialized_origin_is_refused() {
        for origin in [
            "null",
            "",
            "http://",
            "http://gw.example/",
            "http://gw.example/path",
            "http://user@gw.example",
            "http://gw.example:",
            "http://gw.example:+80",
            "http://gw.example:99999",
            "http://gw.example:80:80",
            "gw.example",
        ] {
            assert!(!origin_is(origin, "gw.example", Http), "{origin:?}");
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_referer_stands_in_for_a_missing_origin() {
        let host = ("host", "gw.example:8080");
        assert!(same_origin(
            &headers(&[host, ("referer", "http://gw.example:8080/_2fa/settings?x=1")]),
            Http
        ));
        assert!(!same_origin(
            &headers(&[host, ("referer", "https://gw.example:8080/_2fa/settings")]),
            Http
        ));
        assert!(!same_origin(
            &headers(&[host, ("referer", "http://evil.example/gw.example:8080")]),
            Http
        ));
        assert!(!same_origin(&headers(&[host, ("referer", "not a url")]), Http));
        assert!(
            !same_origin(
                &headers(&[
                    host,
                    ("origin", "https://evil.example"),
                    ("referer", "http://gw.example:8080/")
                ]),
                Http
            ),
            "the Origin decides when there is one"
        );
    }

    #[test]
    fn without_origin_or_referer_the_csrf_token_decides() {
        assert!(same_origin(&headers(&[("host", "gw.example")]), Http));
        assert!(same_origin(&HeaderMap::new(), Https));
    }

    #[test]
    fn an_origin_needs_a_host_to_match() {
        assert!(!same_origin(&headers(&[("origin", "http://gw.example")]), Http));
        assert!(!same_origin(
            &headers(&[("origin", "null"), ("host", "gw.example")]),
            Http
        ));
    }
}
