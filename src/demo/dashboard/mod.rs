//! The "legacy dashboard": a small server-rendered web app that knows nothing
//! about two-factor authentication (its menu links to the gateway's security
//! settings, as a dashboard's owner would add; that is all).
//!
//! The gateway's whole point is that it can add 2FA in front of an application
//! that cannot be changed. This module plays that application in tests and in
//! the demo: it has its own password login, its own `dash_session` cookie, a
//! JSON API and a WebSocket, so the proxy has to cope with all of them without
//! the backend cooperating. `GET /echo/headers` additionally lets tests see
//! exactly what the proxy forwarded.
//!
//! Every answer to a request that carried a valid `dash_session` cookie, on
//! any route and with any method (a 404, a `HEAD`, the WebSocket's `101`, a
//! sign-out), has an `X-Demo-User: <email>` header: which user the dashboard
//! saw. People trying the demo can watch it in the browser's developer tools;
//! the attack suite (tests/attacks.rs) reads it to tell whether a request
//! reached the dashboard as someone, whatever the route answered.

mod pages;
mod sso;
mod ws;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::header::{
    CACHE_CONTROL, CONNECTION, CONTENT_TYPE, COOKIE, LOCATION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SET_COOKIE,
    UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use pages::{billing_page, home_page, login_page, projects_page, team_page};

/// A built-in user of the dashboard; each belongs to exactly one account.
pub struct DemoUser {
    pub id: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub account_id: &'static str,
    pub account_name: &'static str,
    pub role: &'static str,
}

/// The fixed user base. Passwords are public on purpose: this is a demo backend.
#[rustfmt::skip] // reads better as a table than as 40 lines of fields
pub const DEMO_USERS: &[DemoUser] = &[
    DemoUser { id: "u-alice", email: "alice@acme.test", password: "alice-password",
               account_id: "acme", account_name: "Acme Inc.", role: "owner" },
    DemoUser { id: "u-bob", email: "bob@acme.test", password: "bob-password",
               account_id: "acme", account_name: "Acme Inc.", role: "member" },
    DemoUser { id: "u-carol", email: "carol@globex.test", password: "carol-password",
               account_id: "globex", account_name: "Globex Corp.", role: "owner" },
    DemoUser { id: "u-dave", email: "dave@globex.test", password: "dave-password",
               account_id: "globex", account_name: "Globex Corp.", role: "member" },
    // No password: she signs in only through the single sign-on stand-in.
    DemoUser { id: "u-erin", email: "erin@acme.test", password: "",
               account_id: "acme", account_name: "Acme Inc.", role: "member" },
];

/// Why the dashboard stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("dashboard I/O error: {0}")]
    Io(#[from] std::io::Error),
}

const SESSION_COOKIE: &str = "dash_session";
/// Which user the dashboard saw, on every answer to a signed-in request.
const USER_HEADER: &str = "x-demo-user";
const MAX_BODY_BYTES: usize = 64 * 1024;

type Resp = Response<Full<Bytes>>;

/// Shared by every connection so that a login on one connection is visible on
/// the next (browsers and the proxy both open several).
#[derive(Default)]
struct State {
    /// session id -> user id
    sessions: Mutex<HashMap<String, String>>,
    /// user id -> role, where the demo's operator changed it (`POST /demo/role`).
    roles: Mutex<HashMap<&'static str, &'static str>>,
    /// single sign-on ticket -> user id, each spent once (`sso.rs`).
    tickets: Mutex<HashMap<String, (String, String)>>,
}

impl State {
    fn role_of(&self, user: &DemoUser) -> &'static str {
        let roles = self.roles.lock().unwrap_or_else(PoisonError::into_inner);
        roles.get(user.id).copied().unwrap_or(user.role)
    }

    /// Changes a user's role, as an operator of the dashboard would; lets the
    /// demo show a role change reaching the gateway.
    fn set_role(&self, body: &[u8]) -> Resp {
        let form = parse_form(body);
        let email = form.get("email").map_or("", |e| e.trim());
        let user = DEMO_USERS.iter().find(|u| u.email.eq_ignore_ascii_case(email));
        let role = match form.get("role").map(String::as_str) {
            Some("owner") => "owner",
            Some("member") => "member",
            _ => return text(StatusCode::BAD_REQUEST, "role must be owner or member"),
        };
        match user {
            Some(u) => {
                self.roles
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(u.id, role);
                text(StatusCode::OK, "role changed")
            }
            None => text(StatusCode::NOT_FOUND, "no such user"),
        }
    }

    fn tickets(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, String)>> {
        self.tickets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic elsewhere cannot leave a HashMap half-updated in a way that
        // matters here, so a poisoned lock is still safe to use.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves the dashboard on an already-bound listener until the process ends.
pub async fn serve(listener: tokio::net::TcpListener) -> Result<(), DashboardError> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "legacy dashboard listening");
    let state = Arc::new(State::default());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(error) => {
                // Usually transient (aborted handshake, fd exhaustion); giving
                // up would take the whole backend down for one bad accept.
                tracing::warn!(%error, "dashboard accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&state), req));
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
            {
                tracing::debug!(%peer, %error, "dashboard connection error");
            }
        });
    }
}

/// Thin adapter from hyper: answers, then says which user it saw. The user
/// is read first, since a sign-out ends the session the request carried.
async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let user = current_user(&state, req.headers());
    let mut resp = answer(&state, req).await;
    if let Some(email) = user.and_then(|u| HeaderValue::from_str(u.email).ok()) {
        resp.headers_mut().insert(HeaderName::from_static(USER_HEADER), email);
    }
    Ok(resp)
}

/// The WebSocket needs the live request for the upgrade; everything else is
/// routed on a fully collected body so that the routing logic can be
/// unit-tested without sockets.
async fn answer(state: &State, req: Request<Incoming>) -> Resp {
    if req.uri().path() == "/ws" && req.method() == Method::GET {
        return ws::websocket(state, req);
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        Err(error) => {
            tracing::debug!(%error, "failed to read dashboard request body");
            return text(StatusCode::BAD_REQUEST, "could not read request body");
        }
    };
    match (parts.method.as_str(), parts.uri.path()) {
        ("GET", "/sso/start") => return sso::start(state, parts.uri.query()),
        ("GET", "/sso/callback") => return sso::callback(state, parts.uri.query()),
        ("GET", "/login") => {
            let next = local_path(sso::query_param(parts.uri.query(), "next").as_deref());
            return html(StatusCode::OK, login_page(None, "", &next));
        }
        _ => {}
    }
    route(state, &parts.method, parts.uri.path(), &parts.headers, body)
}

fn route(state: &State, method: &Method, path: &str, headers: &HeaderMap, body: Bytes) -> Resp {
    match (method.as_str(), path) {
        ("POST", "/login") => login(state, &body),
        ("GET", "/") => match current_user(state, headers) {
            Some(user) => html(StatusCode::OK, home_page(user, state.role_of(user))),
            None => redirect("/login", None),
        },
        ("GET", "/projects") => match current_user(state, headers) {
            Some(user) => html(StatusCode::OK, projects_page(user)),
            None => redirect("/login", None),
        },
        ("GET", "/team") => match current_user(state, headers) {
            Some(user) => html(StatusCode::OK, team_page(user, |u| state.role_of(u))),
            None => redirect("/login", None),
        },
        ("GET", "/settings/billing") => match current_user(state, headers) {
            Some(user) => html(StatusCode::OK, billing_page(user)),
            None => redirect("/login", None),
        },
        ("GET", "/api/me") => match current_user(state, headers) {
            Some(user) => json(StatusCode::OK, &me_json(user, state.role_of(user))),
            None => json(StatusCode::UNAUTHORIZED, &serde_json::json!({"error": "not signed in"})),
        },
        ("POST", "/logout") => logout(state, headers),
        ("POST", "/demo/role") => state.set_role(&body),
        // Real upgrades never get here (see `handle`); this keeps `route` honest.
        ("GET", "/ws") => text(StatusCode::UNAUTHORIZED, "not signed in"),
        // Any method: tests may want to see what a proxied POST carried, too.
        (_, "/echo/headers") => json(StatusCode::OK, &echo_headers(headers)),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

fn login(state: &State, body: &[u8]) -> Resp {
    let form = parse_form(body);
    let email = form.get("email").map_or("", |e| e.trim());
    let password = form.get("password").map_or("", String::as_str);
    let next = local_path(form.get("next").map(String::as_str));
    let Some(user) = authenticate(email, password) else {
        return html(
            StatusCode::UNAUTHORIZED,
            login_page(Some("The email or password is wrong."), email, &next),
        );
    };
    let session_id = new_session_id();
    state.sessions().insert(session_id.clone(), user.id.to_owned());
    tracing::debug!(user = user.id, "dashboard login");
    let cookie = format!("{SESSION_COOKIE}={session_id}; HttpOnly; Path=/");
    redirect(&next, Some(&cookie))
}

fn logout(state: &State, headers: &HeaderMap) -> Resp {
    {
        // Every id the client presents is its own, so dropping all of them is
        // safe and guarantees the one that was actually valid is gone.
        let mut sessions = state.sessions();
        for id in session_ids(headers) {
            sessions.remove(id);
        }
    }
    let cookie = format!("{SESSION_COOKIE}=; Max-Age=0; HttpOnly; Path=/");
    redirect("/login", Some(&cookie))
}

fn authenticate(email: &str, password: &str) -> Option<&'static DemoUser> {
    let email = email.trim();
    // Constant-time comparison so response timing does not reveal how much of
    // a guessed password matched (lengths still differ, which is acceptable).
    DEMO_USERS
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(email))
        // A user without a password signs in only through single sign-on.
        .filter(|u| !u.password.is_empty())
        .filter(|u| bool::from(u.password.as_bytes().ct_eq(password.as_bytes())))
}

fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// All `dash_session` values, in order, across every `Cookie` header.
fn session_ids(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| name.trim() == SESSION_COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"'))
}

/// Stale cookies for other paths or hosts can shadow the live one, so the
/// first id that is actually a session wins rather than simply the first.
fn current_user(state: &State, headers: &HeaderMap) -> Option<&'static DemoUser> {
    let sessions = state.sessions();
    let user_id = session_ids(headers).find_map(|id| sessions.get(id))?;
    DEMO_USERS.iter().find(|u| u.id == user_id)
}

fn echo_headers(headers: &HeaderMap) -> serde_json::Value {
    let joined = |name: &HeaderName, separator: &str| {
        let values = headers.get_all(name).iter();
        let values: Vec<_> = values.map(|v| String::from_utf8_lossy(v.as_bytes())).collect();
        values.join(separator)
    };
    let cookie = headers.contains_key(COOKIE).then(|| joined(&COOKIE, "; "));
    let all: serde_json::Map<_, _> = headers
        .keys()
        .map(|name| (name.to_string(), joined(name, ", ").into()))
        .collect();
    serde_json::json!({ "cookie": cookie, "headers": all })
}

fn me_json(user: &DemoUser, role: &str) -> serde_json::Value {
    serde_json::json!({
        "id": user.id,
        "email": user.email,
        "accounts": [{ "id": user.account_id, "name": user.account_name, "role": role }],
        "has_password": !user.password.is_empty(),
    })
}

/// Where to go after signing in: a path on this site, never `//host`.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/') && !n.starts_with("//") && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// `application/x-www-form-urlencoded`; the first occurrence of a key wins.
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let mut form = HashMap::new();
    for (key, value) in pairs {
        form.entry(key).or_insert(value);
    }
    form
}

/// Falls back to a bare 500 instead of panicking if a header value is invalid.
fn respond(status: StatusCode, headers: &[(HeaderName, &str)], body: impl Into<Bytes>) -> Resp {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(name, *value);
    }
    builder.body(Full::new(body.into())).unwrap_or_else(|error| {
        tracing::error!(%error, "failed to build dashboard response");
        let mut resp = Response::new(Full::new(Bytes::from_static(b"internal error")));
        *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

fn html(status: StatusCode, body: String) -> Resp {
    // Pages may show who is signed in; shared caches must not keep them.
    let headers = [(CONTENT_TYPE, "text/html; charset=utf-8"), (CACHE_CONTROL, "no-store")];
    respond(status, &headers, body)
}

fn text(status: StatusCode, body: &'static str) -> Resp {
    respond(status, &[(CONTENT_TYPE, "text/plain; charset=utf-8")], body)
}

fn json(status: StatusCode, value: &serde_json::Value) -> Resp {
    let headers = [(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-store")];
    respond(status, &headers, value.to_string())
}

fn redirect(location: &str, set_cookie: Option<&str>) -> Resp {
    let mut headers = vec![(LOCATION, location)];
    headers.extend(set_cookie.map(|c| (SET_COOKIE, c)));
    respond(StatusCode::SEE_OTHER, &headers, Bytes::new())
}

#[cfg(test)]
mod tests;
