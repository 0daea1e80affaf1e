//! The attacks, as raw bytes, all made with one set of cookies: every path
//! trick under every method, broken framing, and the cookies themselves
//! bent every way.

use std::net::SocketAddr;

use super::detector::Attack;
use super::victims::Cookies;

/// Paths that a careless proxy, or a dashboard behind one, might read as `/`
/// or `/api/me`, or as one of the gateway's own paths.
const TARGETS: &[&[u8]] = &[
    b"/",
    b"/api/me",
    b"/_2fa/../api/me",
    b"/_2fa/%2e%2e/api/me",
    b"/_2fa/..%2fapi/me",
    b"//api/me",
    b"/./api/me",
    b"/API/ME",
    b"/api/me.",
    b"/api/me%00",
    b"/api/me/",
    b"/%2fapi/me",
    b"/_2fa/health/../../api/me",
    b"/logout/../api/me",
    b"/logout;/api/me",
    b"http://evil.example/api/me",
    // Overlong UTF-8 for '.' (C0 AE) and '/' (C0 AF), escaped and raw.
    b"/%c0%ae%c0%ae/api/me",
    b"/_2fa/%c0%ae%c0%ae/api/me",
    b"/_2fa/%c0%ae%c0%ae%c0%afapi/me",
    b"/api%c0%afme",
    b"/%c0%afapi/me",
    b"/_2fa/\xc0\xae\xc0\xae/api/me",
    b"/\xc0\xae/api/me",
    b"/api\xc0\xafme",
    // The single sign-on callback (a sign-in route): a forged ticket, and
    // spellings the dashboard may read as that route.
    b"/sso/callback?ticket=forged&state=demo",
    b"/sso//callback?ticket=forged",
    b"/SSO/callback?ticket=forged",
];

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO",
];

const WEBSOCKET: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// Every attack of the catalogue with `cookies`, sent to the gateway at `to`
/// in front of `dashboard`; `who` names the cookies in the attack's name.
pub fn all(who: &str, to: SocketAddr, dashboard: SocketAddr, cookies: &Cookies) -> Vec<Attack> {
    let host = to.to_string();
    let cookie = cookies.header();
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let own_host = format!("http://{host}/api/me");
    for target in TARGETS.iter().copied().chain([own_host.as_bytes()]) {
        for method in METHODS {
            let head = format!("{method} {}", target.escape_ascii());
            let rest = format!(
                " HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            out.push((
                head,
                [format!("{method} ").as_bytes(), target, rest.as_bytes()].concat(),
            ));
        }
    }
    out.extend(framing(&host, dashboard, &cookie));
    out.extend(bent_cookies(cookies).into_iter().map(|(name, value)| {
        let head = format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nCookie: ");
        (name.to_string(), [head.as_bytes(), &value, b"\r\n\r\n"].concat())
    }));
    out.into_iter()
        .map(|(name, bytes)| Attack {
            name: format!("{who}: {name}"),
            to,
            bytes,
        })
        .collect()
}

/// Requests framed to confuse the gateway about where one ends, who sent
/// it, or what it asks for.
fn framing(host: &str, dashboard: SocketAddr, cookie: &str) -> Vec<(String, Vec<u8>)> {
    let smuggled = format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n");
    let inner = format!("GET /api/me HTTP/1.1\r\nHost: {dashboard}\r\nCookie: {cookie}\r\n\r\n");
    let get = |extra: &str| format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n{extra}\r\n");
    let many_headers: String = (0..300).map(|i| format!("X-Pad-{i}: {i}\r\n")).collect();
    let attacks = [
        ("CL+TE smuggling", format!(
            "POST /_2fa/health HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
            5 + smuggled.len()
        )),
        ("TE+CL smuggling", format!(
            "POST /login HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n{smuggled}"
        )),
        ("duplicate Content-Length", format!(
            "POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}",
            smuggled.len()
        )),
        ("obs-fold cookie", format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: x=1\r\n {cookie}\r\n\r\n")),
        ("HTTP/1.0 without Host", format!("GET /api/me HTTP/1.0\r\nCookie: {cookie}\r\n\r\n")),
        ("HTTP/1.1 without Host", format!("GET /api/me HTTP/1.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")),
        ("HTTP/1.1 with the dashboard as Host", format!(
            "GET /api/me HTTP/1.1\r\nHost: {dashboard}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        )),
        ("CONNECT to the dashboard", format!(
            "CONNECT {dashboard} HTTP/1.1\r\nHost: {dashboard}\r\nCookie: {cookie}\r\n\r\n{inner}"
        )),
        ("CONNECT to the gateway", format!("CONNECT {host} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n{smuggled}")),
        ("OPTIONS *", format!("OPTIONS * HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")),
        ("WebSocket upgrade", format!("GET /ws HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n{WEBSOCKET}\r\n")),
        ("WebSocket upgrade by POST", format!(
            "POST /ws HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nContent-Length: 0\r\n{WEBSOCKET}\r\n"
        )),
        ("h2c upgrade", get("Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n")),
        ("client identity header", get("X-Tfa-User: u-alice\r\n")),
        ("claimed client addresses", get("X-Forwarded-For: 127.0.0.1\r\nForwarded: for=127.0.0.1\r\nX-Real-IP: ::1\r\n")),
        ("oversized header", get(&format!("X-Pad: {}\r\n", "a".repeat(70_000)))),
        ("oversized Referer", get(&format!("Referer: http://{host}/{}\r\n", "a".repeat(20_000)))),
        ("300 headers", get(&many_headers)),
        ("duplicated cookies", get(&format!("Cookie: {cookie}; {cookie}\r\nCookie: dash_session=x\r\n"))),
        ("oversized cookie", get(&format!("Cookie: pad={}\r\n", "a".repeat(70_000)))),
    ];
    let mut out: Vec<(String, Vec<u8>)> = attacks
        .into_iter()
        .map(|(n, r)| (n.to_string(), r.into_bytes()))
        .collect();
    let head = format!("GET /api/me HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nCookie: ");
    let latin1 = [head.as_bytes(), b"\xff\xfe; ", cookie.as_bytes(), b"\r\n\r\n"].concat();
    out.push(("a second Cookie header of non-UTF-8 bytes".into(), latin1));
    out
}

/// `Cookie` header values that bend the syntax around the gateway cookie
/// `t` and the dashboard cookie `d`.
fn bent_cookies(c: &Cookies) -> Vec<(&'static str, Vec<u8>)> {
    let t = c.gateway.as_deref().unwrap_or("");
    let d = c.upstream.as_deref().unwrap_or("");
    let many: String = (0..3000).map(|i| format!("c{i}={i}; ")).collect();
    let texts = [
        (
            "cookies without '='",
            format!("tfa_session; dash_session; tfa_session={t}; dash_session={d}"),
        ),
        (
            "the gateway cookie without '='",
            format!("tfa_session{t}; dash_session={d}"),
        ),
        (
            "empty cookie names",
            format!("={t}; =dash_session={d}; =; tfa_session={t}; dash_session={d}"),
        ),
        ("quoted values", format!("tfa_session=\"{t}\"; dash_session=\"{d}\"")),
        ("quoted names", format!("\"tfa_session\"={t}; \"dash_session\"={d}")),
        ("an unclosed quote", format!("tfa_session=\"{t}; dash_session={d}\"")),
        ("semicolons only", ";;;; ; ;".to_string()),
        (
            "semicolons around the pairs",
            format!(";;;tfa_session={t};;;dash_session={d};;"),
        ),
        (
            "spaces and tabs around names",
            format!(" tfa_session\t= {t} ;\tdash_session ={d}"),
        ),
        (
            "upper-case names",
            format!("TFA_SESSION={t}; DASH_SESSION={d}; Dash_Session={d}"),
        ),
        ("a comma between pairs", format!("tfa_session={t}, dash_session={d}")),
        ("3,000 pairs", format!("{many}tfa_session={t}; dash_session={d}")),
        (
            "the dashboard cookie 500 times",
            format!("tfa_session={t}; {}", format!("dash_session={d}; ").repeat(500)),
        ),
    ];
    let mut out: Vec<(&'static str, Vec<u8>)> = texts.into_iter().map(|(n, v)| (n, v.into_bytes())).collect();
    let (t, d) = (t.as_bytes(), d.as_bytes());
    out.push((
        "non-UTF-8 bytes before the pairs",
        [b"\xff\xfe=\xc0\xae; tfa_session=", t, b"; dash_session=", d].concat(),
    ));
    out.push((
        "non-UTF-8 bytes in a value",
        [b"tfa_session=", t, b"\xc0\xae; dash_session=", d, b"\xff"].concat(),
    ));
    out
}

/// The marks the look-alike attacks carry: no gateway ever sets them, so a
/// header with one of them at the dashboard came from the client.
pub const FORGED_USER: &str = "u-forged";
pub const FORGED_ADDRESS: &str = "203.0.113.66";

/// Spellings of the headers the gateway sets or trusts, and of the session
/// cookies, that a CGI-style dashboard (PHP, WSGI, Rack) reads as the real
/// ones, sent to the dashboard's header echo with `c`'s cookies; `alien` is
/// a dashboard cookie the session does not own.
pub fn lookalikes(who: &str, to: SocketAddr, c: &Cookies, alien: &str) -> Vec<Attack> {
    let host = to.to_string();
    let own = c.header();
    let user = ["X_Tfa_User", "X.Tfa.User", "X-Tfa_User", "x_tfa_user", "X-TFA-USER"];
    let address = [
        "X_Forwarded_For",
        "X.Forwarded.For",
        "X-Forwarded_For",
        "X-Forwarded-For",
        "X-Real-IP",
        "X_Real_IP",
        "x.real.ip",
        "X-Client-IP",
        "Client-IP",
        "Client_IP",
        "True-Client-IP",
        "X-Cluster-Client-IP",
        "CF-Connecting-IP",
        "Fastly-Client-IP",
        "X-Forwarded",
        "Forwarded-For",
    ];
    let mut requests: Vec<(String, String, String)> = Vec::new();
    for name in user {
        requests.push((
            format!("{name} header"),
            own.clone(),
            format!("{name}: {FORGED_USER}\r\n"),
        ));
    }
    for name in address {
        requests.push((
            format!("{name} header"),
            own.clone(),
            format!("{name}: {FORGED_ADDRESS}\r\n"),
        ));
    }
    requests.push((
        "Forwarded header".into(),
        own.clone(),
        format!("Forwarded: for={FORGED_ADDRESS}\r\n"),
    ));
    // A path the dashboard would route by instead of the request's own.
    for name in ["X-Original-URL", "X-Rewrite-URL", "X_Original_URL"] {
        requests.push((
            format!("{name} header"),
            own.clone(),
            format!("{name}: /settings/billing?{FORGED_USER}\r\n"),
        ));
    }
    // A dashboard cookie inside another pair's value, which a server that
    // ends a value at white space reads as a pair of its own.
    for (name, cookie) in [
        (
            "hidden after a space",
            format!("theme=dark dash_session={alien}; {own}"),
        ),
        ("hidden after a tab", format!("{own}; theme=dark\tdash_session={alien}")),
        (
            "hidden, percent-encoded",
            format!("{own}; theme=dark dash%5Fsession={alien}"),
        ),
        (
            "hidden, a space before =",
            format!("{own}; theme=dark dash_session ={alien}"),
        ),
        (
            "hidden, spaces around =",
            format!("theme=dark dash_session = {alien}; {own}"),
        ),
    ] {
        requests.push((format!("a dashboard cookie {name}"), cookie, String::new()));
    }
    for name in [
        "dash.session",
        "DASH_SESSION",
        "Dash-Session",
        "dash session",
        "dash[session",
        "TFA.SESSION",
        // Percent-decoded by older Rack and PHP.
        "dash%5Fsession",
        "dash%2esession",
        // `+` is a space to PHP's decoding, and a space `_` to its names.
        "dash+session",
        // The remembered-device cookie is the gateway's too: never forwarded.
        "tfa_device",
        "TFA.DEVICE",
    ] {
        requests.push((
            format!("a {name} cookie"),
            format!("{name}={alien}; {own}"),
            String::new(),
        ));
        requests.push((
            format!("a {name} cookie after"),
            format!("{own}; {name}={alien}"),
            String::new(),
        ));
    }
    requests
        .into_iter()
        .map(|(name, cookie, extra)| Attack {
            name: format!("{who}: {name}"),
            to,
            bytes: format!(
                "GET /echo/headers HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n{extra}Connection: close\r\n\r\n"
            )
            .into_bytes(),
        })
        .collect()
}
