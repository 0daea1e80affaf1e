//! Small helpers between Pingora's types and the gateway's: reading request
//! facts out of a Pingora session, and writing a `pages::Reply` to it.

use bytes::Bytes;
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::Session;

use crate::client_addr::TrustedProxies;
use crate::pages::{Reply, Scheme};

/// Headers that describe one connection, not the message; never copied
/// between the browser's connection and the upstream's (RFC 9110 §7.6.1).
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A header name as the gateway writes it upstream: title case
/// (`x-tfa-user` as `X-Tfa-User`), as Pingora writes the names it knows.
pub fn case_name(lower: &str) -> Bytes {
    let mut out = Vec::with_capacity(lower.len());
    let mut start = true;
    for b in lower.bytes() {
        out.push(if start { b.to_ascii_uppercase() } else { b });
        start = b == b'-';
    }
    Bytes::from(out)
}

/// A request header's value, if it is text. Takes a `HeaderName` (or
/// anything the map can look up by) so the hot path names headers by
/// constant instead of parsing a name on every request.
pub fn header(req: &RequestHeader, name: impl http::header::AsHeaderName) -> Option<&str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// All `Cookie` header values of the request that are text.
pub fn cookie_headers(req: &RequestHeader) -> impl Iterator<Item = &str> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// The client's IP address, for logs, audit, limits and `X-Forwarded-For`:
/// the socket's peer, or behind a trusted proxy the client it names.
pub fn client_ip(session: &Session, trusted: &TrustedProxies) -> Option<String> {
    let peer = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip())?;
    if !trusted.trusts_peer(peer) {
        return Some(crate::client_addr::text(peer.to_canonical()));
    }
    let values = session
        .req_header()
        .headers
        .get_all(trusted.header().name())
        .into_iter()
        .filter_map(|v| v.to_str().ok());
    Some(crate::client_addr::text(trusted.client(peer, values)))
}

/// The scheme the browser used: HTTPS on a TLS connection, and on a plain
/// one when the gateway's cookies are `Secure`, which says TLS ends in front
/// of it (a load balancer) and browsers still see an HTTPS site.
pub fn browser_scheme(session: &Session, secure_cookies: bool) -> Scheme {
    let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
    if tls || secure_cookies {
        Scheme::Https
    } else {
        Scheme::Http
    }
}

pub async fn send(session: &mut Session, reply: Reply) -> Result<()> {
    let mut head = ResponseHeader::build(reply.status, Some(reply.headers.len() + 1))?;
    for (name, value) in reply.headers.iter() {
        head.append_header(name.clone(), value.clone())?;
    }
    head.insert_header("content-length", reply.body.len().to_string())?;
    let empty = reply.body.is_empty();
    session.write_response_header(Box::new(head), empty).await?;
    if !empty {
        session.write_response_body(Some(reply.body), true).await?;
    }
    Ok(())
}

/// Reads the whole request body, refusing more than `limit` bytes.
pub async fn read_body(session: &mut Session, limit: usize) -> Result<Option<Bytes>> {
    let mut body = Vec::new();
    while let Some(chunk) = session.read_request_body().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(Bytes::from(body)))
}

/// Removes every spelling of the headers the gateway sets or trusts (the
/// user header, the client address headers): a CGI-style dashboard reads
/// `X_Tfa_User` as `X-Tfa-User` (see `lookalike`).
pub fn strip_reserved(up: &mut RequestHeader, user_header: Option<&str>) {
    // Nearly every request has none: look before allocating.
    let is_reserved = |n: &http::HeaderName| crate::lookalike::reserved_header(n.as_str(), user_header);
    if !up.headers.keys().any(is_reserved) {
        return;
    }
    let names: Vec<http::HeaderName> = up.headers.keys().filter(|n| is_reserved(n)).cloned().collect();
    for name in names {
        up.remove_header(&name);
    }
}

/// A header value from text built for it, without copying it again.
pub fn header_value(text: String) -> Result<HeaderValue> {
    HeaderValue::try_from(text).or_err(ErrorType::InvalidHTTPHeader, "a header value the gateway built")
}

/// For forward authentication: the target of the request the proxy in
/// front asks about, from `X-Forwarded-Uri` (Traefik, Caddy) or
/// `X-Original-URI` (nginx). Every value of both must agree: the proxy sets
/// its own, and a client's of the other name must not be taken instead.
/// `Some("")` when they disagree, a target the policy refuses. An empty
/// value names nothing, as if the header were not sent.
pub fn asked_about(req: &RequestHeader) -> Option<&str> {
    let mut values = req
        .headers
        .get_all("x-forwarded-uri")
        .iter()
        .chain(req.headers.get_all("x-original-uri"))
        .filter(|v| !v.is_empty())
        .map(|v| v.to_str().unwrap_or(""));
    let first = values.next()?;
    Some(if values.all(|v| v == first) { first } else { "" })
}

/// Whether the gateway reads the request target as the upstream will: a
/// path (origin form), or an `http://` or `https://` URL, whose path Pingora
/// parses. Any other form (`foo:/settings/billing`, `*`) Pingora holds as
/// the path `/` but sends upstream as received, where a lenient server reads
/// a path in it that the gateway never checked.
pub fn readable_target(raw: &[u8]) -> bool {
    let starts = |scheme: &[u8]| raw.len() >= scheme.len() && raw[..scheme.len()].eq_ignore_ascii_case(scheme);
    raw.first() == Some(&b'/') || starts(b"http://") || starts(b"https://")
}

pub fn is_websocket(req: &RequestHeader) -> bool {
    header(req, http::header::UPGRADE).is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
}

#[cfg(test)]
mod tests {
    use super::readable_target;

    #[test]
    fn only_a_path_or_an_http_url_is_a_target_the_gateway_reads() {
        for ok in [&b"/"[..], b"/settings/billing", b"http://gw/settings", b"HTTPS://gw/x"] {
            assert!(readable_target(ok), "{}", ok.escape_ascii());
        }
        for odd in [
            &b"foo:/settings/billing"[..],
            b"*",
            b"settings/billing",
            b"ws://gw/settings",
            b"http:/settings",
            b"",
        ] {
            assert!(!readable_target(odd), "{}", odd.escape_ascii());
        }
    }
}
