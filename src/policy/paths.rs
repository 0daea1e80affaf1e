//! Paths as a dashboard's server may read them, not as sent: percent-decoded,
//! `\` as `/`, `;params` dropped, dot segments resolved, repeated slashes
//! merged, any case, a format suffix (`.json`) on the last segment dropped.
//! Wherever the gateway decides by a path (a step-up prefix, the sign-in
//! and sign-out routes), a spelling that some server reads as that path must
//! get the same decision.

/// Whether a lenient server may read `path` as the route path `route`.
pub fn same(path: &str, route: &str) -> bool {
    if path == route {
        return true;
    }
    if is_plain(path) && is_plain(route) {
        // Nothing to decode or resolve (most requests): only a trailing
        // slash may tell them apart.
        return path.trim_end_matches('/') == route.trim_end_matches('/');
    }
    segments(path) == segments(route)
}

/// A path a server reads as written: lowercase letters, digits, `-`, `_`
/// and single slashes, no dot segment.
pub fn is_plain(path: &str) -> bool {
    // One pass, with `//` caught on the way: `str::contains` would set up
    // a substring searcher on every request (200 instructions).
    let mut after_slash = false;
    path.bytes().all(|b| {
        let plain = match b {
            b'/' => !after_slash,
            _ => b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_',
        };
        after_slash = b == b'/';
        plain
    })
}

/// The path's segments as a lenient server resolves them.
pub fn segments(path: &str) -> Vec<String> {
    let mut text = path.to_string();
    // Decoded until it stops changing: a server or a framework in front of
    // it may decode `%252e` twice.
    for _ in 0..3 {
        let decoded = percent_encoding::percent_decode_str(&text)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == text {
            break;
        }
        text = decoded;
    }
    let mut out: Vec<String> = Vec::new();
    for raw in text.split(['/', '\\']) {
        let segment = raw.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            // Windows servers drop trailing dots and spaces.
            s => match s.trim_end_matches(['.', ' ']) {
                "" => {}
                s => out.push(fold(s)),
            },
        }
    }
    // Rails routes `/login(.:format)`: `/login.json` is the sign-in, and
    // `/settings/billing.html` the billing page. The last segment is read
    // without such a suffix (reading too much only asks once more).
    if let Some(last) = out.last_mut() {
        if let Some((stem, format)) = last.rsplit_once('.') {
            let format_like = (1..=10).contains(&format.len()) && format.bytes().all(|b| b.is_ascii_alphanumeric());
            if !stem.is_empty() && format_like {
                last.truncate(stem.len());
            }
        }
    }
    out
}

/// A segment with letters compared as Java's `equalsIgnoreCase` and .NET's
/// `OrdinalIgnoreCase` compare them: each upper-cased, then lower-cased, one
/// character to one (`ı` and `ſ` upper-case to `I` and `S`, and `İ`
/// lower-cases to `i`, which a lower-casing alone does not see).
fn fold(segment: &str) -> String {
    segment
        .chars()
        .map(|c| {
            let upper = c.to_uppercase().next().unwrap_or(c);
            upper.to_lowercase().next().unwrap_or(upper)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn every_spelling_a_server_may_read_as_the_route_is_the_route() {
        for spelling in [
            "/login",
            "/login/",
            "/LOGIN",
            "/Login",
            "//login",
            "/./login",
            "/x/../login",
            "/%6cogin",
            "/login;jsessionid=1",
            "/login.",
            "\\login",
            "/log%C4%B1n",
            "/LOG%C4%B0N",
            "/login.json",
            "/Login.HTML",
        ] {
            assert!(same(spelling, "/login"), "{spelling}");
        }
        assert!(
            same("/account/login", "/Account/Login"),
            "a route configured in capitals"
        );
        for other in [
            "/logins",
            "/login/x",
            "/",
            "/log/in",
            "/x/login",
            "/login.json/x",
            "/.login",
        ] {
            assert!(!same(other, "/login"), "{other}");
        }
    }
}
