//! Names a dashboard's server may read as another. CGI-style servers (WSGI,
//! PHP, Rack) hand a dashboard its headers as `HTTP_X_TFA_USER`, upper-cased
//! and with `-` turned into `_`, so `X_Tfa_User`, `x-tfa_user` and (in some)
//! `X.Tfa.User` all arrive as the header the gateway sets. PHP also reads a
//! cookie called `dash.session`, `dash session` or `dash[session` as
//! `dash_session`. So whenever the gateway strips, sets or trusts a header or
//! a cookie, it treats every name that is equal with case ignored and `-`,
//! `_`, `.`, space and `[` taken as one character as that same name.

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

/// The request headers that say who the client is. The gateway sets
/// `X-Forwarded-For` itself and believes none of these from a client that
/// is not a trusted proxy, so every spelling of each is removed before a
/// request goes upstream: a dashboard reading `X-Real-IP` or `Forwarded`
/// must not see an address the client made up.
pub const CLIENT_ADDRESS_HEADERS: &[&str] = &["x-forwarded-for", "forwarded", "x-real-ip"];

/// Whether a request header called `name` must not reach the upstream as the
/// client sent it: a spelling of the configured user header or of one of the
/// client address headers.
pub fn reserved_header(name: &str, user_header: Option<&str>) -> bool {
    user_header.is_some_and(|u| same(name, u)) || CLIENT_ADDRESS_HEADERS.iter().any(|h| same(name, h))
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
    fn the_user_header_and_every_client_address_header_are_reserved() {
        let user = Some("x-tfa-user");
        for name in [
            "x_tfa_user",
            "X-Forwarded-For",
            "x_forwarded_for",
            "Forwarded",
            "x.real.ip",
        ] {
            assert!(reserved_header(name, user), "{name}");
        }
        assert!(!reserved_header("x_tfa_user", None), "no user header configured");
        assert!(!reserved_header("x-forwarded-host", user));
        assert!(!reserved_header("accept", user));
    }
}
