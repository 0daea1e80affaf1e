//! Names a dashboard's server may read as another. CGI-style servers (WSGI,
//! PHP, Rack) hand a dashboard its headers as `HTTP_X_TFA_USER`, upper-cased
//! and with `-` turned into `_`, so `X_Tfa_User`, `x-tfa_user` and (in some)
//! `X.Tfa.User` all arrive as the header the gateway sets. PHP also reads a
//! cookie called `dash.session`, `dash session` or `dash[session` as
//! `dash_session`. So whenever the gateway strips, sets or trusts a header or
//! a cookie, it treats every name that is equal with case ignored and `-`,
//! `_`, `.`, space and `[` taken as one character as that same name. A
//! cookie may hide its name in two more ways (`cookie_read_as`).

/// The characters some server reads as `_` in a header or cookie name.
fn folded(b: u8) -> u8 {
    match b {
        b'-' | b'.' | b' ' | b'[' => b'_',
        b => b.to_ascii_lowercase(),
    }
}

/// Whether a dashboard's server may read `a` as the name `b`.
pub fn same(a: &str, b: &str) -> bool {
    // Folding keeps lengths, so most names are told apart by length alone.
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| folded(x) == folded(y))
}

/// Whether a dashboard's server may read the cookie pair `n=v` as one
/// called `name`: `n` in another spelling (`same`), or decoded as PHP and
/// older Rack decode cookie names (`%5F`, and `+` as a space, which PHP then
/// reads as `_`), or a `name=` after white space inside the value: Python's
/// `SimpleCookie` ends a value there and reads `theme=x dash_session=y`, or
/// `theme=x dash_session = y`, as two cookies.
pub fn cookie_read_as(n: &str, v: &str, name: &str) -> bool {
    let named = |n: &str| same(n, name) || (n.bytes().any(|b| b == b'%' || b == b'+') && same(&decoded_name(n), name));
    named(n) || (memchr::memchr2(b' ', b'\t', v.as_bytes()).is_some() && hidden_names(v).any(named))
}

/// A cookie name as PHP and older Rack decode it.
fn decoded_name(n: &str) -> String {
    percent_encoding::percent_decode_str(&n.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The names a server that ends a value at white space reads in it: each
/// word's part before `=`, or a word followed by one that starts with `=`
/// (white space around `=` is allowed there).
fn hidden_names(v: &str) -> impl Iterator<Item = &str> {
    let mut words = v.split([' ', '\t']).filter(|w| !w.is_empty()).peekable();
    std::iter::from_fn(move || loop {
        let word = words.next()?;
        match word.split_once('=') {
            Some((n, _)) if !n.is_empty() => return Some(n),
            // `=y`: its name was the word before, looked at then.
            Some(_) => continue,
            None if words.peek().is_some_and(|next| next.starts_with('=')) => return Some(word),
            None => continue,
        }
    })
}

/// The request headers that say who the client is. The gateway sets
/// `X-Forwarded-For` itself and believes none of these from a client that
/// is not a trusted proxy, so every spelling of each is removed before a
/// request goes upstream: a dashboard reading `X-Real-IP`, `Forwarded` or
/// `Client-IP` must not see an address the client made up. The list is
/// every header that common client-address readers try (Rails, npm
/// `request-ip`, the usual PHP and Java snippets, CDN headers).
pub const CLIENT_ADDRESS_HEADERS: &[&str] = &[
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
    "cf-connecting-ip",
    "cf-pseudo-ipv4",
    "fastly-client-ip",
    "x-forwarded",
    "forwarded-for",
    "x-originating-ip",
    "appengine-user-ip",
    "x-appengine-user-ip",
    "proxy-client-ip",
    "wl-proxy-client-ip",
    // Java's usual snippet reads the CGI names as headers, literally.
    "http-client-ip",
    "http-x-forwarded-for",
];

/// Request headers that tell a server to route by another path than the
/// request's (IIS rewrites, Zend and older Symfony read them): the gateway
/// decides by the request's own path, so a client's are never passed on.
pub const PATH_OVERRIDE_HEADERS: &[&str] = &["x-original-url", "x-rewrite-url"];

/// Whether a request header called `name` must not reach the upstream as the
/// client sent it: a spelling of the configured user header, of one of the
/// client address headers, or of a path override.
pub fn reserved_header(name: &str, user_header: Option<&str>) -> bool {
    user_header.is_some_and(|u| same(name, u)) || reserved_of_length(name.len()).iter().any(|h| same(name, h))
}

/// `CLIENT_ADDRESS_HEADERS` and `PATH_OVERRIDE_HEADERS` by length, the first
/// thing `same` compares. Every forwarded request's every header is checked,
/// and most names (`host`, `accept`, `cookie`) have no reserved name of
/// their length: one look-up instead of twenty comparisons. Built from the
/// lists once, so it cannot drift from them.
fn reserved_of_length(len: usize) -> &'static [&'static str] {
    static BY_LENGTH: std::sync::OnceLock<Vec<Vec<&'static str>>> = std::sync::OnceLock::new();
    let table = BY_LENGTH.get_or_init(|| {
        let names = CLIENT_ADDRESS_HEADERS.iter().chain(PATH_OVERRIDE_HEADERS);
        let mut table = vec![Vec::new(); names.clone().map(|n| n.len() + 1).max().unwrap_or(0)];
        for name in names {
            table[name.len()].push(*name);
        }
        table
    });
    table.get(len).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_a_cgi_server_merges_are_the_same_name() {
        for name in [
            "X-Tfa-User",
            "x_tfa_user",
            "X_Tfa_User",
            "X.Tfa.User",
            "X-Tfa_User",
            "x-TFA-user",
        ] {
            assert!(same(name, "x-tfa-user"), "{name}");
        }
        for name in ["x-tfa-users", "x-tfa-use", "xx-tfa-user", "x-tfa+user", "x-tfauser"] {
            assert!(!same(name, "x-tfa-user"), "{name}");
        }
    }

    #[test]
    fn cookie_names_php_rewrites_are_the_same_name() {
        for name in [
            "dash_session",
            "dash.session",
            "dash session",
            "dash[session",
            "DASH-SESSION",
        ] {
            assert!(same(name, "dash_session"), "{name}");
        }
        assert!(!same("dash_sessions", "dash_session"));
    }

    #[test]
    fn the_table_by_length_holds_every_reserved_name_and_no_other() {
        let listed: Vec<&str> = CLIENT_ADDRESS_HEADERS
            .iter()
            .chain(PATH_OVERRIDE_HEADERS)
            .copied()
            .collect();
        for name in &listed {
            assert!(reserved_of_length(name.len()).contains(name), "{name}");
        }
        let tabled: usize = (0..64).map(|len| reserved_of_length(len).len()).sum();
        assert_eq!(tabled, listed.len(), "a name in the table that is in no list");
        for len in 0..64 {
            assert!(reserved_of_length(len)
                .iter()
                .all(|n| n.len() == len && listed.contains(n)));
        }
    }

    #[test]
    fn a_cookie_name_percent_encoded_or_hidden_in_a_value_is_read_as_the_name() {
        for (n, v) in [
            ("dash_session", "x"),
            ("DASH.SESSION", "x"),
            ("dash%5Fsession", "x"),
            ("%64ash%2Esession", "x"),
            ("theme", "dark dash_session=stolen"),
            ("theme", "dark\tx=1 Dash-Session=stolen"),
            ("theme", "dark dash%5fsession=stolen"),
            ("theme", "dark dash_session =stolen"),
            ("theme", "dark dash_session = stolen"),
            ("theme", "dark dash_session= stolen"),
            ("dash+session", "x"),
            ("theme", "dark dash+session=stolen"),
        ] {
            assert!(cookie_read_as(n, v, "dash_session"), "{n}={v}");
        }
        for (n, v) in [
            ("theme", "dark"),
            ("theme", "dark blue"),
            ("theme", "dark x=dash_session"),
            ("dash%5Fsessions", "x"),
            ("theme", "dash_session=x"),
            ("theme", "a = b dash_session"),
            ("theme", "dash_session x"),
        ] {
            assert!(!cookie_read_as(n, v, "dash_session"), "{n}={v}");
        }
    }

    #[test]
    fn the_user_header_and_every_client_address_header_are_reserved() {
        let user = Some("x-tfa-user");
        for name in [
            "x_tfa_user",
            "X-Forwarded-For",
            "x_forwarded_for",
            "Forwarded",
            "x.real.ip",
            "Client-IP",
            "True-Client-IP",
            "X_Client_IP",
            "X-Original-URL",
            "x_rewrite_url",
        ] {
            assert!(reserved_header(name, user), "{name}");
        }
        assert!(!reserved_header("x_tfa_user", None), "no user header configured");
        assert!(!reserved_header("x-forwarded-host", user));
        assert!(!reserved_header("accept", user));
    }
}
