//! The gateway's decision for one request, as a pure function of plain facts:
//! which route it is, what kind of client asks, and what the session check
//! found. No I/O happens here, so every rule is unit-tested without a socket.

mod routes;

use http::Method;

pub use routes::{Access, OwnRoute};

use crate::config::Route;

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

#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub method: &'a Method,
    /// The path without its query.
    pub path: &'a str,
    /// The path and query, kept to return there after a page of ours.
    pub target: &'a str,
    pub client: ClientKind,
    pub session: SessionFacts,
}

/// The routes the decision knows by configuration.
#[derive(Debug, Clone, Copy)]
pub struct Routes<'a> {
    pub prefix: &'a str,
    pub login: &'a Route,
    pub logout: &'a Route,
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
    if let Some(rest) = under_prefix(f.path, r.prefix) {
        return own(OwnRoute::find(f.method, rest), f, r);
    }
    if r.login.matches(f.method, f.path) {
        return Decision::Login;
    }
    match f.session {
        SessionFacts::None => Decision::Forward(ANONYMOUS),
        SessionFacts::Pending => to_challenge(f.client, f.target, r),
        SessionFacts::Authenticated { upstream_cookie } => Decision::Forward(Forward {
            upstream_cookie,
            as_user: upstream_cookie,
            ends_session: upstream_cookie && r.logout.matches(f.method, f.path),
        }),
    }
}

/// Access to the gateway's own endpoints.
fn own(route: OwnRoute, f: &Facts, r: &Routes) -> Decision {
    let client = if route.is_api() { ClientKind::Api } else { f.client };
    let signed_in = matches!(f.session, SessionFacts::Authenticated { upstream_cookie: true });
    match (route.access(), f.session) {
        (Access::Anyone, _) => Decision::Own(route),
        (Access::Pending, SessionFacts::Pending) => Decision::Own(route),
        (Access::SignedIn, _) if signed_in => Decision::Own(route),
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
mod tests {
    use super::*;

    fn routes<'a>(login: &'a Route, logout: &'a Route) -> Routes<'a> {
        Routes {
            prefix: "/_2fa",
            login,
            logout,
        }
    }

    fn login() -> Route {
        Route {
            method: Method::POST,
            path: "/login".into(),
        }
    }

    fn logout() -> Route {
        Route {
            method: Method::POST,
            path: "/logout".into(),
        }
    }

    fn facts<'a>(method: &'a Method, path: &'a str, client: ClientKind, session: SessionFacts) -> Facts<'a> {
        Facts {
            method,
            path,
            target: path,
            client,
            session,
        }
    }

    const SIGNED_IN: SessionFacts = SessionFacts::Authenticated { upstream_cookie: true };

    #[test]
    fn health_is_answered_by_the_gateway_whatever_the_session() {
        let (li, lo) = (login(), logout());
        let d = decide(
            &facts(&Method::GET, "/_2fa/health", ClientKind::Api, SessionFacts::None),
            &routes(&li, &lo),
        );
        assert_eq!(d, Decision::Own(OwnRoute::Health));
    }

    #[test]
    fn sibling_of_the_prefix_is_not_ours() {
        let (li, lo) = (login(), logout());
        let d = decide(
            &facts(&Method::GET, "/_2fa-old/x", ClientKind::Navigation, SIGNED_IN),
            &routes(&li, &lo),
        );
        assert!(matches!(d, Decision::Forward(_)));
    }

    #[test]
    fn login_post_is_intercepted_but_login_page_is_forwarded() {
        let (li, lo) = (login(), logout());
        let r = routes(&li, &lo);
        assert_eq!(
            decide(
                &facts(&Method::POST, "/login", ClientKind::Navigation, SessionFacts::None),
                &r
            ),
            Decision::Login
        );
        assert_eq!(
            decide(
                &facts(&Method::GET, "/login", ClientKind::Navigation, SessionFacts::None),
                &r
            ),
            Decision::Forward(ANONYMOUS)
        );
    }

    #[test]
    fn request_without_session_is_forwarded_signed_out() {
        let (li, lo) = (login(), logout());
        let d = decide(
            &facts(&Method::GET, "/", ClientKind::Navigation, SessionFacts::None),
            &routes(&li, &lo),
        );
        assert_eq!(d, Decision::Forward(ANONYMOUS));
    }

    #[test]
    fn signed_in_session_forwards_its_cookie_and_identity() {
        let (li, lo) = (login(), logout());
        let d = decide(
            &facts(&Method::GET, "/api/me", ClientKind::Api, SIGNED_IN),
            &routes(&li, &lo),
        );
        assert_eq!(
            d,
            Decision::Forward(Forward {
                upstream_cookie: true,
                as_user: true,
                ends_session: false
            })
        );
    }

    #[test]
    fn signed_in_session_without_its_upstream_cookie_is_forwarded_signed_out() {
        let (li, lo) = (login(), logout());
        let s = SessionFacts::Authenticated { upstream_cookie: false };
        let d = decide(&facts(&Method::GET, "/", ClientKind::Navigation, s), &routes(&li, &lo));
        assert_eq!(d, Decision::Forward(ANONYMOUS));
    }

    #[test]
    fn upstream_logout_ends_the_gateway_session() {
        let (li, lo) = (login(), logout());
        let d = decide(
            &facts(&Method::POST, "/logout", ClientKind::Navigation, SIGNED_IN),
            &routes(&li, &lo),
        );
        assert_eq!(
            d,
            Decision::Forward(Forward {
                upstream_cookie: true,
                as_user: true,
                ends_session: true
            })
        );
    }

    #[test]
    fn pending_navigation_is_sent_to_the_challenge_with_its_destination() {
        let (li, lo) = (login(), logout());
        let mut f = facts(&Method::GET, "/reports", ClientKind::Navigation, SessionFacts::Pending);
        f.target = "/reports?q=a b";
        let d = decide(&f, &routes(&li, &lo));
        assert_eq!(
            d,
            Decision::Redirect {
                location: "/_2fa/challenge?next=/reports%3Fq%3Da%20b".into()
            }
        );
    }

    #[test]
    fn pending_api_and_websocket_requests_get_401_never_the_upstream() {
        let (li, lo) = (login(), logout());
        for client in [ClientKind::Api, ClientKind::WebSocket] {
            let d = decide(
                &facts(&Method::GET, "/api/me", client, SessionFacts::Pending),
                &routes(&li, &lo),
            );
            assert!(matches!(d, Decision::Deny { status: 401, .. }), "{client:?}: {d:?}");
        }
    }

    #[test]
    fn settings_send_a_signed_out_browser_to_the_login_and_a_script_a_401() {
        let (li, lo) = (login(), logout());
        let r = routes(&li, &lo);
        let nav = decide(
            &facts(
                &Method::GET,
                "/_2fa/settings",
                ClientKind::Navigation,
                SessionFacts::None,
            ),
            &r,
        );
        assert_eq!(
            nav,
            Decision::Redirect {
                location: "/login".into()
            }
        );
        let api = decide(
            &facts(
                &Method::GET,
                "/_2fa/api/status",
                ClientKind::Navigation,
                SessionFacts::None,
            ),
            &r,
        );
        assert!(
            matches!(
                api,
                Decision::Deny {
                    status: 401,
                    error: "not_signed_in",
                    ..
                }
            ),
            "{api:?}"
        );
    }

    #[test]
    fn settings_of_a_pending_sign_in_go_to_the_challenge_first() {
        let (li, lo) = (login(), logout());
        let r = routes(&li, &lo);
        let d = decide(
            &facts(
                &Method::GET,
                "/_2fa/settings",
                ClientKind::Navigation,
                SessionFacts::Pending,
            ),
            &r,
        );
        assert!(matches!(d, Decision::Redirect { ref location } if location.starts_with("/_2fa/challenge?next=")));
        let d = decide(
            &facts(
                &Method::POST,
                "/_2fa/api/totp/enroll",
                ClientKind::Navigation,
                SessionFacts::Pending,
            ),
            &r,
        );
        assert!(matches!(
            d,
            Decision::Deny {
                status: 401,
                error: "second_factor_required",
                ..
            }
        ));
    }

    #[test]
    fn challenge_is_served_only_to_a_pending_sign_in() {
        let (li, lo) = (login(), logout());
        let r = routes(&li, &lo);
        let pending = decide(
            &facts(
                &Method::POST,
                "/_2fa/api/challenge",
                ClientKind::Api,
                SessionFacts::Pending,
            ),
            &r,
        );
        assert_eq!(pending, Decision::Own(OwnRoute::ApiChallenge));
        let done = decide(
            &facts(&Method::GET, "/_2fa/challenge", ClientKind::Navigation, SIGNED_IN),
            &r,
        );
        assert_eq!(done, Decision::Redirect { location: "/".into() });
        let nobody = decide(
            &facts(
                &Method::GET,
                "/_2fa/challenge",
                ClientKind::Navigation,
                SessionFacts::None,
            ),
            &r,
        );
        assert_eq!(
            nobody,
            Decision::Redirect {
                location: "/login".into()
            }
        );
    }

    #[test]
    fn settings_need_the_released_upstream_cookie_too() {
        let (li, lo) = (login(), logout());
        let s = SessionFacts::Authenticated { upstream_cookie: false };
        let d = decide(
            &facts(&Method::GET, "/_2fa/api/status", ClientKind::Api, s),
            &routes(&li, &lo),
        );
        assert!(matches!(d, Decision::Deny { status: 401, .. }));
    }

    #[test]
    fn clients_are_classified_by_headers() {
        assert_eq!(
            ClientKind::classify(Some("text/html"), false, false),
            ClientKind::Navigation
        );
        assert_eq!(
            ClientKind::classify(Some("application/json"), false, false),
            ClientKind::Api
        );
        assert_eq!(ClientKind::classify(None, true, false), ClientKind::Api);
        assert_eq!(
            ClientKind::classify(Some("text/html"), false, true),
            ClientKind::WebSocket
        );
    }
}
