//! One request to the gateway's own endpoints, as the handlers see it: the
//! route the policy allowed, the body already read, the session found.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::html::Frame;
use super::{json_error, Reply};
use crate::actions::Refusal;
use crate::gateway::Gateway;
use crate::policy::OwnRoute;
use crate::session::Found;

pub struct OwnRequest {
    pub route: OwnRoute,
    pub path: String,
    pub query: Option<String>,
    /// The request said `Content-Type: application/json`.
    pub json: bool,
    pub body: Bytes,
    pub client: Option<String>,
    pub found: Option<Found>,
    /// A link to the dashboard's front page leads there (the policy's
    /// `dashboard_reachable`); otherwise pages offer the ways out instead.
    pub dashboard_reachable: bool,
}

impl OwnRequest {
    /// The form fields of a URL-encoded body.
    pub fn form(&self) -> HashMap<String, String> {
        serde_urlencoded::from_bytes(&self.body).unwrap_or_default()
    }

    /// One query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query.as_deref()?;
        let pairs: HashMap<String, String> = serde_urlencoded::from_str(q).ok()?;
        pairs.get(name).cloned()
    }

    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// Whether the form carries this session's CSRF token.
    pub fn csrf_ok(&self, form: &HashMap<String, String>) -> bool {
        match (&self.found, form.get("csrf_token")) {
            (Some(f), Some(t)) => f.session.csrf_matches(t),
            _ => false,
        }
    }

    pub fn frame<'a>(&'a self, gw: &'a Gateway) -> Frame<'a> {
        let confirm = match &self.found {
            Some(f) if f.session.about.passwordless && gw.signed_in_recently(f) => super::html::ConfirmBy::RecentSignIn,
            Some(f) if f.session.about.passwordless => {
                super::html::ConfirmBy::SignInAgain(&gw.config.upstream.sign_in_again)
            }
            _ => super::html::ConfirmBy::Password,
        };
        Frame {
            csrf: self.found.as_ref().map_or("", |f| f.session.csrf.as_str()),
            dashboard_reachable: self.dashboard_reachable || self.found.is_none(),
            confirm,
            ..Frame::plain(&gw.config)
        }
    }

    /// Refuses a request not sent as JSON. A cross-site form cannot send
    /// that content type without a CORS preflight, which the gateway never
    /// grants: this is the JSON API's CSRF defence.
    pub fn json_only(&self) -> Result<(), Reply> {
        if self.json {
            return Ok(());
        }
        Err(json_error(
            415,
            "unsupported_media_type",
            "Send the request with Content-Type: application/json.",
        ))
    }

    /// The `{id}` of a `{collection}{id}` path under the prefix (one
    /// segment); empty when there is none, which names nothing.
    pub fn item<'a>(&'a self, gw: &Gateway, collection: &str) -> &'a str {
        let rest = self.path.strip_prefix(gw.config.prefix.as_str()).unwrap_or("");
        crate::policy::item_of(rest, collection).unwrap_or("")
    }

    /// The JSON body, or a refusal saying why it is not one.
    pub fn json_body<T: serde::de::DeserializeOwned>(&self) -> Result<T, Reply> {
        self.json_only()?;
        serde_json::from_slice(&self.body)
            .map_err(|e| json_error(400, "bad_request", &format!("Invalid JSON body: {e}")))
    }
}

/// Whether a `Content-Type` value says JSON: its media type, before any
/// parameter, is `application/json` in any case (RFC 9110, 8.3.1).
pub fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Same-origin destinations only: a path on this site, never `//host`.
/// Only visible ASCII is kept: browsers drop tab and newline from a URL
/// before resolving it (`/\t/host` is `//host`), and a `Location` header
/// cannot carry other text.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// A same-site `next` from the form, or from the query, if there is one.
pub fn next_of(req: &OwnRequest, form: &HashMap<String, String>) -> Option<String> {
    form.get("next")
        .cloned()
        .or_else(|| req.query_param("next"))
        .map(|n| safe_next(Some(&n)))
}

/// A refusal as a JSON error.
pub fn refusal_json(r: &Refusal) -> Reply {
    let reply = match &r.sign_in {
        Some(url) => super::json(
            r.status,
            serde_json::json!({ "error": r.error, "message": r.message, "sign_in": url }),
        ),
        None => json_error(r.status, r.error, &r.message),
    };
    with_retry(reply, r)
}

/// Adds `Retry-After` to any answer of a refusal that has one.
pub fn with_retry(reply: Reply, r: &Refusal) -> Reply {
    match r.retry_after {
        Some(s) => reply.with_header("retry-after", &s.to_string()),
        None => reply,
    }
}

/// `{"password"}`, the body of the API's password-guarded operations.
#[derive(serde::Deserialize)]
pub struct PasswordBody {
    pub password: String,
}

/// `{"code"}`, the body of the API's code checks.
#[derive(serde::Deserialize)]
pub struct CodeBody {
    pub code: String,
}

impl OwnRequest {
    /// The session, or the API's 401.
    pub fn signed_in(&self) -> Result<&Found, Reply> {
        self.found
            .as_ref()
            .ok_or_else(|| json_error(401, "not_signed_in", "Sign in first."))
    }

    /// The session, once `password` is confirmed against the upstream.
    pub async fn password_confirmed(&self, gw: &Shared, password: &str) -> Result<&Found, Reply> {
        let found = self.signed_in()?;
        crate::actions::confirm_password(gw, found, password, self.client())
            .await
            .map_err(|r| refusal_json(&r))?;
        Ok(found)
    }

    /// The session, for a `{"password"}` body whose password is confirmed.
    pub async fn with_password(&self, gw: &Shared) -> Result<&Found, Reply> {
        let body: PasswordBody = self.json_body()?;
        self.password_confirmed(gw, &body.password).await
    }
}

pub type Shared = Arc<Gateway>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_the_media_type_in_any_case_with_any_parameters_and_nothing_longer() {
        for yes in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " application/json ;x=1",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "application/jsonx",
            "application/json-seq",
            "text/plain; application/json",
            "",
            "text/json",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }

    #[test]
    fn next_is_kept_only_when_it_stays_on_this_site() {
        assert_eq!(safe_next(Some("/reports?x=1")), "/reports?x=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(None), "/");
    }

    // Found by fuzz/ (next_param): a tab passed, and browsers drop it, so
    // `/<tab>/host` redirected to another site; non-ASCII text passed too,
    // and its Location header was dropped, leaving a redirect to nowhere.
    #[test]
    fn next_with_a_tab_or_other_invisible_text_is_refused() {
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\x0b/evil.example")), "/");
        assert_eq!(safe_next(Some("/\r\nSet-Cookie: x=1")), "/");
        assert_eq!(safe_next(Some("/a b")), "/");
        assert_eq!(safe_next(Some("/caf\u{e9}")), "/");
        assert_eq!(safe_next(Some("/caf%C3%A9?q=%20")), "/caf%C3%A9?q=%20");
    }
}
