//! The gateway's decision for one request, as a pure function of plain facts:
//! which route it is, what kind of client asks, and what the session check
//! found. No I/O happens here, so every rule is unit-tested without a socket.

mod paths;
mod routes;
pub mod step_up;

use http::Method;

pub use routes::{account_of, item_of, Access, Allow, OwnRoute, VERIFY};

use crate::config::{Route, StepUp};

/// How the client will read our answer: a browser navigation can follow a
/// redirect to a page; scripts and WebSockets need a status they can handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Navigation,
    Api,
    WebSocket,
}

impl ClientKind {
    pub fn classify(accept: Option<&str>, x_requested_with: bool, websocket_upgrade: bool) -> Self {
        if websocket_upgrade {
            ClientKind::WebSocket
        } else if x_requested_with || accept.is_some_and(|a| a.contains("application/json")) {
            ClientKind::Api
        } else {
            ClientKind::Navigation
        }
    }
}

/// What the session check found, reduced to what the decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFacts {
    /// No gateway session (none sent, unknown, or expired).
    None,
    /// Password accepted upstream, second factor still due.
    Pending,
    /// Signed in; `upstream_cookie` says whether the browser sent the
    /// upstream cookie this session released.
    Authenticated { upstream_cookie: bool },
}

/// What the directory says about the signed-in user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserFacts {
    /// One of the user's accounts has the 2FA feature; otherwise the gateway
    /// is transparent for this user.
    pub activated: bool,
    pub due: DueFacts,
    /// The user has a second factor that counts (step-up can ask for it).
    pub second_factor: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueFacts {
    Nothing,
    /// An account requires 2FA and the user has none: enroll first.
    Required,
    /// Required, but within the grace period; `acknowledged` once the user
    /// has seen the notice in this session.
    Grace {
        acknowledged: bool,
    },
}

impl UserFacts {
    pub const UNKNOWN: UserFacts = UserFacts {
        activated: true,
        due: DueFacts::Nothing,
        second_factor: false,
    };
}

#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub method: &'a Method,
    /// The path without its query.
    pub path: &'a str,
    /// The path and query, kept to return there after a page of ours.
    pub target: &'a str,
    pub client: ClientKind,
    /// An HTTP/1.1 request that names no host, neither in `Host` nor in
    /// an absolute target: malformed (RFC 9112 §3.2), so not forwarded.
    pub host_missing: bool,
    /// A request target that is neither a path nor an `http(s)://` URL
    /// (`foo:/settings/billing`, `*`): the gateway would decide on `/` while
    /// a lenient server reads a path in it, so it is not forwarded.
    pub target_unreadable: bool,
    pub session: SessionFacts,
    /// For forward authentication (`{prefix}/verify`): the target of the
    /// request the proxy in front asks about (`X-Forwarded-Uri` or
    /// `X-Original-URI`), so that its step-up rules hold there too.
    pub asked_about: Option<&'a str>,
    pub user: UserFacts,
    /// Seconds since this session last passed a second factor; `None`:
    /// never (no 2FA at sign-in, or a remembered device).
    pub factor_age: Option<u64>,
}

/// The routes the decision knows by configuration.
#[derive(Debug, Clone, Copy)]
pub struct Routes<'a> {
    pub prefix: &'a str,
    pub login: &'a Route,
    pub logout: &'a Route,
    /// The dashboard's other sign-in routes (`[[upstream.sign_in]]`).
    pub sign_in: &'a [Route],
    /// `[[step_up]]`, longest prefix first.
    pub step_up: &'a [StepUp],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer from the gateway itself; the session has the access it needs.
    Own(OwnRoute),
    /// The upstream's sign-in: the gateway forwards it itself to see the
    /// answer before the browser does.
    Login,
    Forward(Forward),
    Redirect {
        location: String,
    },
    Deny {
        status: u16,
        error: &'static str,
        message: &'static str,
    },
    /// Forward authentication: the request the proxy in front asks about
    /// needs a fresh second factor. A 401 (`step_up_required`) whose
    /// `Location` the proxy sends the browser to.
    StepUpFirst {
        location: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// Send the upstream session cookie the session released; otherwise the
    /// upstream sees the request as signed out.
    pub upstream_cookie: bool,
    /// Tell the upstream who the user is (the configured user header).
    pub as_user: bool,
    /// This is the upstream's sign-out: end the gateway session with it.
    pub ends_session: bool,
}

const ANONYMOUS: Forward = Forward {
    upstream_cookie: false,
    as_user: false,
    ends_session: false,
};

pub fn decide(f: &Facts, r: &Routes) -> Decision {
    if f.host_missing {
        return Decision::Deny {
            status: 400,
            error: "bad_request",
            message: "An HTTP/1.1 request must name its host.",
        };
    }
    if f.target_unreadable {
        return Decision::Deny {
            status: 400,
            error: "bad_request",
            message: "The request target must be a path.",
        };
    }
    if let Some(rest) = under_prefix(f.path, r.prefix) {
        return own(OwnRoute::find(f.method, rest), f, r);
    }
    // The password form, and any other route whose answer may sign
    // someone in (a single sign-on callback): the gateway sees the answer
    // first, and holds the dashboard's cookie back while a factor is due.
    if on_route(r.login, f) || r.sign_in.iter().any(|s| on_route(s, f)) {
        return Decision::Login;
    }
    // The sign-in form stays reachable while a second factor or an
    // enrollment is due, shown as to a signed-out visitor: a person at the
    // challenge may want to sign in as someone else.
    let sign_in_form = f.method == Method::GET && f.path == r.login.path;
    match f.session {
        SessionFacts::None => Decision::Forward(ANONYMOUS),
        SessionFacts::Pending if sign_in_form => Decision::Forward(ANONYMOUS),
        SessionFacts::Pending => to_challenge(f.client, f.target, r),
        SessionFacts::Authenticated { upstream_cookie } => {
            let logout = upstream_cookie && on_route(r.logout, f);
            let enroll_first = matches!(
                (f.user.due, f.client),
                (DueFacts::Required, _) | (DueFacts::Grace { acknowledged: false }, ClientKind::Navigation)
            );
            if upstream_cookie && !logout && enroll_first {
                if sign_in_form {
                    return Decision::Forward(ANONYMOUS);
                }
                return to_enrollment(f.client, f.target, r);
            }
            if upstream_cookie && !logout && f.user.activated && f.user.second_factor {
                if let Some(max) = step_up::max_age(r.step_up, f.path) {
                    // Passing it renews the session (a new token, stored
                    // with the time), so every replica sees the same age.
                    if f.factor_age.is_none_or(|age| age > max) {
                        return step_up::answer(f.client, f.target, r.prefix);
                    }
                }
            }
            Decision::Forward(Forward {
                upstream_cookie,
                as_user: upstream_cookie,
                ends_session: logout,
            })
        }
    }
}

/// Whether the request is for `route` as a lenient server reads it: any
/// spelling of its path (see `paths`), and its method in any case, since
/// some servers (Symfony) upper-case the method before routing.
fn on_route(route: &Route, f: &Facts) -> bool {
    let method = f.method.as_str();
    // Servers run a GET route's handler for HEAD too (Rails, Express, Go).
    let head_as_get = route.method == Method::GET && method == "HEAD";
    (head_as_get || route.method.as_str().eq_ignore_ascii_case(method)) && paths::same(f.path, &route.path)
}

/// Forward authentication (`{prefix}/verify`): whether the request the
/// proxy in front asks about (`Facts::asked_about`) may not pass yet.
///
/// - Its target must be one path as a browser sends it (no fragment: nginx
///   passes one on, where a server may resolve `#/../` in it).
/// - A spelling of the sign-in, single sign-on or sign-out routes never
///   passes: those go through the gateway, which must see them, and a proxy
///   routing only their exact spelling there would hand the rest to the
///   dashboard.
/// - Step-up rules hold for it. The proxy serves the dashboard itself, so
///   unless it names the request, no rule could: with rules set, a user
///   they would ask is refused until the proxy says (fail closed, loudly).
fn verify_refusal(f: &Facts, r: &Routes) -> Option<Decision> {
    let asked = f
        .asked_about
        .map(|target| (target, target.split('?').next().unwrap_or(target)));
    if let Some((target, path)) = asked {
        if !target.starts_with('/') || target.contains('#') {
            // 401, not 400: to the proxy, "not approved"; a 400 would
            // reach the browser as nginx's 500.
            return Some(Decision::Deny {
                status: 401,
                error: "forwarded_uri_unclear",
                message: "X-Forwarded-Uri and X-Original-URI must name one path, without a fragment.",
            });
        }
        let routes = [r.login, r.logout].into_iter().chain(r.sign_in);
        if routes.into_iter().any(|route| paths::same(path, &route.path)) {
            return Some(Decision::Deny {
                status: 401,
                error: "gateway_route",
                message: "The sign-in and sign-out go through the gateway itself.",
            });
        }
    }
    if r.step_up.is_empty() || !f.user.activated || !f.user.second_factor {
        return None;
    }
    let Some((target, path)) = asked else {
        return Some(Decision::Deny {
            status: 500,
            error: "original_uri_missing",
            message: "Step-up rules are set: the proxy must send the request's path and query in X-Forwarded-Uri or X-Original-URI.",
        });
    };
    let max = step_up::max_age(r.step_up, path)?;
    if f.factor_age.is_some_and(|age| age <= max) {
        return None;
    }
    Some(Decision::StepUpFirst {
        location: step_up::challenge(r.prefix, target),
    })
}

fn to_enrollment(client: ClientKind, target: &str, r: &Routes) -> Decision {
    match client {
        ClientKind::Navigation => Decision::Redirect {
            location: format!("{}/enroll?next={}", r.prefix, encode_component(target)),
        },
        ClientKind::Api | ClientKind::WebSocket => Decision::Deny {
            status: 401,
            error: "enrollment_required",
            message: "An account of yours requires two-factor authentication: set it up first.",
        },
    }
}

/// Access to the gateway's own endpoints.
fn own(route: OwnRoute, f: &Facts, r: &Routes) -> Decision {
    let client = if route.is_api() { ClientKind::Api } else { f.client };
    let signed_in = matches!(f.session, SessionFacts::Authenticated { upstream_cookie: true });
    if !f.user.activated && !matches!(route, OwnRoute::Health | OwnRoute::OpenApi | OwnRoute::Verify) {
        // No account of this user has the feature: no 2FA pages at all. The
        // forward-auth check still answers, as the proxy would forward.
        // An API path says so in JSON, whatever the request's Accept.
        if route.is_api() {
            return Decision::Deny {
                status: 404,
                error: "not_found",
                message: "There is no such endpoint.",
            };
        }
        return Decision::Own(OwnRoute::NotFound);
    }
    if signed_in && f.user.due == DueFacts::Required && !route.enrollment() {
        return to_enrollment(client, f.target, r);
    }
    if route == OwnRoute::Verify && signed_in {
        if let Some(refused) = verify_refusal(f, r) {
            return refused;
        }
    }
    match (route.access(), f.session) {
        (Access::Anyone, _) => Decision::Own(route),
        (Access::Pending | Access::AnySession, SessionFacts::Pending) => Decision::Own(route),
        (Access::AnySession, _) if signed_in => Decision::Own(route),
        (Access::SignedIn, _) if signed_in => Decision::Own(route),
        // A signed-in user with a second factor passes it again: step-up.
        (Access::Pending, _) if signed_in && f.user.second_factor => Decision::Own(route),
        (Access::Pending, _) if signed_in => match client {
            ClientKind::Navigation => Decision::Redirect { location: "/".into() },
            _ => Decision::Deny {
                status: 409,
                error: "no_challenge",
                message: "This session is already signed in.",
            },
        },
        (Access::SignedIn, SessionFacts::Pending) => to_challenge(client, f.target, r),
        _ => match client {
            ClientKind::Navigation => Decision::Redirect {
                location: r.login.path.clone(),
            },
            _ => Decision::Deny {
                status: 401,
                error: "not_signed_in",
                message: "Sign in first.",
            },
        },
    }
}

/// Whether a link to the dashboard's front page from a page of ours leads
/// there, rather than back to the challenge or the enrollment notice: if
/// not, the page offers a way out (sign out, sign in as someone else)
/// instead of a link that loops.
pub fn dashboard_reachable(f: &Facts, r: &Routes) -> bool {
    let home = Facts {
        method: &Method::GET,
        path: "/",
        target: "/",
        client: ClientKind::Navigation,
        ..*f
    };
    !matches!(decide(&home, r), Decision::Redirect { .. })
}

fn to_challenge(client: ClientKind, target: &str, r: &Routes) -> Decision {
    match client {
        ClientKind::Navigation => Decision::Redirect {
            location: format!("{}/challenge?next={}", r.prefix, encode_component(target)),
        },
        ClientKind::Api | ClientKind::WebSocket => Decision::Deny {
            status: 401,
            error: "second_factor_required",
            message: "Sign-in needs a second factor before this request can be served.",
        },
    }
}

/// The rest of `path` if it is the prefix itself or below it (`/_2fa`,
/// `/_2fa/x`), but not a sibling such as `/_2fa-old`.
fn under_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
