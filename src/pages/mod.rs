//! What the gateway answers itself, as plain values: the health check, the
//! second-factor pages and JSON API, error pages, redirects. The proxy turns
//! a `Reply` into bytes on the wire; nothing here knows Pingora.

// A `Reply` is answered at once, never stored; boxing it in `Err` buys nothing.
#![allow(clippy::result_large_err)]

mod api;
mod challenge;
mod devices;
mod enroll;
pub mod html;
mod origin;
mod request;
mod sessions;
mod settings;
mod sign_out;
mod sms;
mod verify;
mod webauthn;

pub use origin::{same_origin, Scheme};
pub use request::{is_json, safe_next, CodeBody, OwnRequest, PasswordBody};

use crate::factors::{Action, Kind, Step};
use crate::gateway::Gateway;
use crate::policy::{Allow, OwnRoute};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// The gateway's stylesheet, compiled into the binary.
pub const CSS: &str = include_str!("../../static/gateway.css");
/// The optional script that makes "Copy" buttons work.
pub const COPY_JS: &str = include_str!("../../static/copy.js");
/// Where pages load it from, under the prefix.
pub const COPY_JS_PATH: &str = "/assets/copy.js";
/// The script of the two security-key buttons.
pub const WEBAUTHN_JS: &str = include_str!("../../static/webauthn.js");
pub const WEBAUTHN_JS_PATH: &str = "/assets/webauthn.js";

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn new(status: u16, headers: &[(&'static str, &str)], body: Bytes) -> Self {
        let mut reply = Reply {
            status,
            headers: HeaderMap::new(),
            body,
        };
        for (n, v) in headers {
            reply = reply.with_header(n, v);
        }
        reply
    }

    /// Adds a header. Values are built by the gateway from text it checked,
    /// so one that is still not a valid header value is dropped and logged
    /// rather than sent malformed.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(v) => {
                self.headers.append(HeaderName::from_static(name), v);
            }
            Err(_) => tracing::error!(header = name, "dropping a header value that is not valid"),
        }
        self
    }
}

/// Answers a request to one of the gateway's own endpoints. The policy has
/// already checked that the session may use the route.
pub async fn handle(gw: &Arc<Gateway>, req: OwnRequest) -> Reply {
    use OwnRoute::*;
    match req.route {
        Health => health(gw.store.health().is_up()),
        OpenApi => json(200, crate::openapi::json_api(&gw.config.prefix)),
        CopyScript => script(COPY_JS),
        WebauthnScript => script(WEBAUTHN_JS),
        Verify => verify::answer(&req),
        NotFound => not_found(),
        WrongMethod { allow, .. } => method_not_allowed(allow),
        ChallengeForm => challenge::form(gw, &req).await,
        ChallengeSubmit => challenge::submit(gw, &req).await,
        ApiChallenge => challenge::api(gw, &req).await,
        Settings => settings::show(gw, &req, None).await,
        ApiStatus => api::status(gw, &req).await,
        Enroll => enroll::show(gw, &req),
        EnrollLater => enroll::later(gw, &req),
        AccountRequire => settings::require(gw, &req).await,
        ApiAccountRequire => api::account_require(gw, &req).await,
        ApiDevices => devices::api_list(gw, &req).await,
        ApiForgetDevice => devices::api_forget(gw, &req).await,
        ForgetDevice => devices::forget(gw, &req).await,
        ApiSessions => sessions::api_list(gw, &req).await,
        ApiRevokeSession => sessions::api_revoke(gw, &req).await,
        ApiRevokeOthers => sessions::api_revoke_others(gw, &req).await,
        RevokeSession => sessions::revoke_form(gw, &req, false).await,
        RevokeOthers => sessions::revoke_form(gw, &req, true).await,
        Factor(kind, action) => factor(gw, &req, kind, action).await,
        SignOut | SwitchUser => sign_out::sign_out(gw, &req).await,
    }
}

fn not_found() -> Reply {
    json_error(404, "not_found", "There is no such endpoint.")
}

fn method_not_allowed(allow: Allow) -> Reply {
    json_error(405, "method_not_allowed", "This endpoint does not answer that method.")
        .with_header("allow", &allow.header())
}

/// What a browser sees for a path we do not have, or one of ours asked
/// with a method it does not answer.
pub fn missing_page(frame: &html::Frame, route: OwnRoute) -> Reply {
    match route {
        OwnRoute::WrongMethod { allow, .. } => {
            error_page(frame, 405, "Not allowed", "This page cannot be asked that way.")
                .with_header("allow", &allow.header())
        }
        _ => error_page(frame, 404, "Not found", "There is no such page."),
    }
}

/// The pages and API of each kind of factor, by what the endpoint does:
/// the one place that maps a factor's endpoints to their handlers.
async fn factor(gw: &Arc<Gateway>, req: &OwnRequest, kind: Kind, action: Action) -> Reply {
    use Step::*;
    match (kind, action.step, action.api) {
        (Kind::Totp, Begin, false) => settings::enable(gw, req).await,
        (Kind::Totp, Show, false) => settings::setup(gw, req).await,
        (Kind::Totp, Confirm, false) => settings::verify(gw, req).await,
        (Kind::Totp, Remove, false) => settings::disable(gw, req).await,
        (Kind::Totp, Begin, true) => api::totp_enroll(gw, req).await,
        (Kind::Totp, Confirm, true) => api::totp_verify(gw, req).await,
        (Kind::Totp, Remove, true) => api::totp_disable(gw, req).await,
        (Kind::Sms, Begin, false) => sms::enable(gw, req).await,
        (Kind::Sms, Show, false) => sms::setup(gw, req).await,
        (Kind::Sms, Confirm, false) => sms::verify(gw, req).await,
        (Kind::Sms, Remove, false) => sms::disable(gw, req).await,
        (Kind::Sms, Prompt, false) => challenge::send_sms(gw, req).await,
        (Kind::Sms, Begin, true) => sms::api_enroll(gw, req).await,
        (Kind::Sms, Confirm, true) => sms::api_verify(gw, req).await,
        (Kind::Sms, Remove, true) => sms::api_disable(gw, req).await,
        (Kind::Sms, Prompt, true) => challenge::api_send_sms(gw, req).await,
        (Kind::Recovery, Regenerate, false) => settings::regenerate(gw, req).await,
        (Kind::Recovery, Regenerate, true) => api::regenerate(gw, req).await,
        (Kind::Webauthn, Confirm, false) => webauthn::register(gw, req).await,
        (Kind::Webauthn, Remove, false) => webauthn::remove(gw, req).await,
        (Kind::Webauthn, Answer, false) => webauthn::challenge(gw, req).await,
        (Kind::Webauthn, Begin, true) => webauthn::api_register_start(gw, req).await,
        (Kind::Webauthn, Confirm, true) => webauthn::api_register_finish(gw, req).await,
        (Kind::Webauthn, Prompt, true) => webauthn::api_challenge_start(gw, req).await,
        (Kind::Webauthn, Answer, true) => webauthn::api_challenge_finish(gw, req).await,
        (Kind::Webauthn, Remove, true) => webauthn::api_remove(gw, req).await,
        // A kind's table lists only what is handled above (tested).
        _ => not_found(),
    }
}

/// An HTML page; never cached, never framed by another site.
pub fn html_reply(status: u16, page: maud::Markup) -> Reply {
    Reply::new(
        status,
        &[
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
            ("content-security-policy", csp()),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
        ],
        Bytes::from(page.into_string()),
    )
}

/// The pages' Content-Security-Policy: our one inline stylesheet and our
/// two script files allowed by their hashes (no inline script, nothing else
/// of this origin), requests and forms only to this site, no framing.
pub fn csp() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        format!(
            "default-src 'none'; style-src '{}'; script-src '{}' '{}'; connect-src 'self'; img-src data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            sha256_source(CSS),
            script_hash(),
            webauthn_script_hash()
        )
    })
}

/// `sha256-<base64>` of a text, as CSP and Subresource Integrity write it.
fn sha256_source(text: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
    )
}

/// The copy script's integrity value, which the CSP also allows.
pub fn script_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| sha256_source(COPY_JS))
}

/// The security-key script's integrity value, which the CSP also allows.
pub fn webauthn_script_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| sha256_source(WEBAUTHN_JS))
}

/// One of our scripts: cacheable, since its hash pins its content.
fn script(text: &'static str) -> Reply {
    Reply::new(
        200,
        &[
            ("content-type", "text/javascript; charset=utf-8"),
            ("cache-control", "public, max-age=86400"),
            ("x-content-type-options", "nosniff"),
        ],
        Bytes::from_static(text.as_bytes()),
    )
}

/// `200` while the gateway serves: signed-in users are served from memory
/// even while the store is down, so a load balancer acting on the store's
/// state would end their service too. The store's state is in the body
/// (and in the `tfa_store_up` metric) for the operator.
pub fn health(store_up: bool) -> Reply {
    let store = if store_up { "up" } else { "down" };
    json(200, serde_json::json!({ "status": "ok", "store": store }))
}

/// `{"error": code, "message": text}` with a 4xx/5xx status, as the API promises.
pub fn json_error(status: u16, error: &str, message: &str) -> Reply {
    json(status, serde_json::json!({ "error": error, "message": message }))
}

pub fn json(status: u16, value: serde_json::Value) -> Reply {
    Reply::new(
        status,
        &[("content-type", "application/json"), ("cache-control", "no-store")],
        Bytes::from(value.to_string()),
    )
}

pub fn redirect(location: &str) -> Reply {
    Reply::new(
        303,
        &[("location", location), ("cache-control", "no-store")],
        Bytes::new(),
    )
}

/// A calm HTML error page for a browser, in the layout of every page.
pub fn error_page(frame: &html::Frame, status: u16, title: &str, message: &str) -> Reply {
    html_reply(status, html::error(frame, title, message))
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: html::Frame<'static> = html::Frame {
        dashboard: "Acme Console",
        prefix: "/_2fa",
        csrf: "",
        failed: None,
        dashboard_reachable: true,
        confirm: html::ConfirmBy::Password,
    };

    fn body(r: &Reply) -> String {
        String::from_utf8(r.body.to_vec()).unwrap()
    }

    #[test]
    fn json_errors_have_code_and_message() {
        let r = json_error(401, "second_factor_required", "x");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"], "second_factor_required");
        assert_eq!(r.status, 401);
    }

    #[test]
    fn pages_allow_only_our_stylesheet_and_our_script_file_by_hash() {
        let r = error_page(&FRAME, 404, "x", "y");
        let csp = r.headers.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
        let script_src = csp.split("; ").find(|d| d.starts_with("script-src")).unwrap();
        assert_eq!(
            script_src,
            format!("script-src '{}' '{}'", script_hash(), webauthn_script_hash()),
            "no 'self', no inline"
        );
        assert!(!csp.contains("unsafe-inline") && !csp.contains("'self' "), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"));
        let page = body(&r);
        assert!(
            page.contains(&format!("<style>{CSS}</style>")),
            "the hashed text is exactly the inline style"
        );
        assert!(!page.contains("<script>"), "no inline script");
    }

    #[test]
    fn error_page_escapes_its_text() {
        let page = body(&error_page(&FRAME, 502, "<b>", "a & b"));
        assert!(page.contains("&lt;b&gt;") && page.contains("a &amp; b"));
    }

    #[test]
    fn error_page_names_the_dashboard_in_its_title_and_header_like_every_page() {
        let r = error_page(&FRAME, 404, "Not found", "There is no such page.");
        assert_eq!(r.status, 404);
        let page = body(&r);
        assert!(page.contains("<title>Not found · Acme Console</title>"), "{page}");
        assert!(
            page.contains(r#"<header class="brand">Acme Console · Sign-in security</header>"#),
            "{page}"
        );
        assert!(
            page.contains("<h1>Not found</h1><p>There is no such page.</p>"),
            "{page}"
        );
        assert!(page.contains(r#"<a href="/">Back to Acme Console</a>"#), "{page}");
    }
}

#[cfg(test)]
mod factor_tests {
    use super::*;

    /// Every endpoint a kind's table lists has a handler: none falls
    /// through to "not found".
    #[test]
    fn every_factor_endpoint_is_handled() {
        let source = include_str!("mod.rs");
        for kind in Kind::ALL {
            for e in kind.endpoints() {
                let a = e.action;
                let arm = format!("(Kind::{kind:?}, {:?}, {})", a.step, a.api);
                assert!(source.contains(&arm), "{} has no handler: {arm}", e.path);
            }
        }
    }
}
