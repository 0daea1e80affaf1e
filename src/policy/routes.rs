//! The gateway's own endpoints under its prefix, and who may reach each:
//! anyone, a sign-in waiting for its second factor, or a signed-in user.

use http::Method;

use crate::factors::{self, Action, Kind, Verb};

/// Forward authentication's path under the prefix; the proxy reads the
/// request asked about only for it.
pub const VERIFY: &str = "/verify";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnRoute {
    Health,
    /// `GET /api/openapi.json`: the JSON API's OpenAPI document.
    OpenApi,
    ChallengeForm,
    ChallengeSubmit,
    ApiChallenge,
    Settings,
    ApiStatus,
    Enroll,
    EnrollLater,
    AccountRequire,
    ApiAccountRequire,
    /// `GET /api/devices`: the user's remembered devices.
    ApiDevices,
    /// `DELETE /api/devices/{id}`.
    ApiForgetDevice,
    /// "Forget" beside a device on the settings page.
    ForgetDevice,
    /// `GET /api/sessions`: the user's sessions.
    ApiSessions,
    /// `DELETE /api/sessions/{id}`.
    ApiRevokeSession,
    /// `POST /api/sessions/revoke-others`.
    ApiRevokeOthers,
    /// "Sign out" beside a session on the settings page.
    RevokeSession,
    /// "Sign out everywhere else" on the settings page.
    RevokeOthers,
    /// One kind of factor's endpoint, from that kind's table
    /// (`factors::Endpoint`): what it does decides who may use it.
    Factor(Kind, Action),
    /// "Sign out" on a page with no way into the dashboard yet (the
    /// challenge, enrollment): ends the gateway session and the dashboard
    /// session it holds.
    SignOut,
    /// "Sign in as someone else": the same, then the sign-in form.
    SwitchUser,
    /// The pages' optional script for "Copy" buttons.
    CopyScript,
    /// The script of the two security-key buttons.
    WebauthnScript,
    /// Forward authentication (e.g. nginx `auth_request`): 200 for a
    /// signed-in session, 401 otherwise, never a redirect.
    Verify,
    /// A path of ours asked with a method it does not answer: `405` with
    /// the methods it does in `Allow`; JSON when that path is an API one.
    WrongMethod {
        allow: Allow,
        api: bool,
    },
    NotFound,
}

/// The methods one of our paths answers (`GET` implies `HEAD`), for a
/// `405`'s `Allow` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allow(u8);

impl Allow {
    const METHODS: [(Method, &'static str); 4] = [
        (Method::GET, "GET, HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
    ];

    /// The `Allow` header's value.
    pub fn header(self) -> String {
        let names: Vec<&str> = Self::METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, (_, name))| *name)
            .collect();
        names.join(", ")
    }
}

/// Which session an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Anyone,
    /// Password accepted, second factor due.
    Pending,
    SignedIn,
    /// Any session, pending or signed in: the ways out of one.
    AnySession,
}

impl OwnRoute {
    /// The route for `rest`, the path after the prefix; a path we answer
    /// with other methods is `WrongMethod`, not `NotFound`. Only a miss
    /// pays for the second look.
    pub fn find(method: &Method, rest: &str) -> OwnRoute {
        let route = Self::exact(method, rest);
        if route != OwnRoute::NotFound {
            return route;
        }
        let (mut allow, mut api) = (0, false);
        for (i, (other, _)) in Allow::METHODS.iter().enumerate() {
            let found = Self::exact(other, rest);
            if found != OwnRoute::NotFound {
                allow |= 1 << i;
                api |= found.is_api();
            }
        }
        match allow {
            0 => OwnRoute::NotFound,
            allow => OwnRoute::WrongMethod {
                allow: Allow(allow),
                api,
            },
        }
    }

    fn exact(method: &Method, rest: &str) -> OwnRoute {
        use OwnRoute::*;
        let get = method == Method::GET || method == Method::HEAD;
        let post = method == Method::POST;
        if method == Method::PUT && account_of(rest).is_some() {
            return ApiAccountRequire;
        }
        if method == Method::DELETE && item_of(rest, "/api/devices/").is_some() {
            return ApiForgetDevice;
        }
        // `revoke-others` is a path of its own, not a session's id.
        if method == Method::DELETE && item_of(rest, "/api/sessions/").is_some_and(|id| id != "revoke-others") {
            return ApiRevokeSession;
        }
        let verb = match *method {
            Method::GET | Method::HEAD => Some(Verb::Get),
            Method::POST => Some(Verb::Post),
            Method::DELETE => Some(Verb::Delete),
            _ => None,
        };
        if let Some((kind, action)) = verb.and_then(|v| factors::find_endpoint(v, rest)) {
            return Factor(kind, action);
        }
        match (rest, get, post) {
            ("/enroll", true, _) => Enroll,
            ("/enroll/later", true, _) => EnrollLater,
            ("/settings/accounts/require", _, true) => AccountRequire,
            ("/sign-out", _, true) => SignOut,
            ("/switch-user", _, true) => SwitchUser,
            ("/health", true, _) => Health,
            ("/api/openapi.json", true, _) => OpenApi,
            (VERIFY, true, _) => Verify,
            ("/assets/copy.js", true, _) => CopyScript,
            ("/assets/webauthn.js", true, _) => WebauthnScript,
            ("/challenge", true, _) => ChallengeForm,
            ("/challenge", _, true) => ChallengeSubmit,
            ("/api/challenge", _, true) => ApiChallenge,
            ("/settings", true, _) => Settings,
            ("/api/status", true, _) => ApiStatus,
            ("/api/devices", true, _) => ApiDevices,
            ("/settings/devices/forget", _, true) => ForgetDevice,
            ("/api/sessions", true, _) => ApiSessions,
            ("/api/sessions/revoke-others", _, true) => ApiRevokeOthers,
            ("/settings/sessions/revoke", _, true) => RevokeSession,
            ("/settings/sessions/revoke-others", _, true) => RevokeOthers,
            _ => NotFound,
        }
    }

    /// Routes a user without a second factor may use while an account
    /// requires one: every way of enrolling the settings page offers (the
    /// actions refuse a kind that does not count for this user), what else
    /// that page shows such a user (a factor that no longer counts can be
    /// removed, an owner can lift the requirement, which never needs a
    /// second factor), and the ways out. Nothing of the dashboard.
    pub fn enrollment(self) -> bool {
        use OwnRoute::*;
        match self {
            Factor(kind, action) => action.step.while_enrolling(kind),
            Health
            | OpenApi
            | NotFound
            | WrongMethod { .. }
            | CopyScript
            | WebauthnScript
            | Enroll
            | EnrollLater
            | Settings
            | AccountRequire
            | ApiStatus
            | ApiAccountRequire
            | SignOut
            | SwitchUser => true,
            ChallengeForm | ChallengeSubmit | ApiChallenge | Verify | ApiDevices | ApiForgetDevice | ForgetDevice
            | ApiSessions | ApiRevokeSession | ApiRevokeOthers | RevokeSession | RevokeOthers => false,
        }
    }

    /// Where the browser goes once `SignOut` or `SwitchUser` has ended its
    /// session: the dashboard's front page, which shows a signed-out
    /// visitor what the dashboard shows them, or its sign-in form.
    pub fn after_sign_out(self, login_path: &str) -> &str {
        match self {
            OwnRoute::SwitchUser => login_path,
            _ => "/",
        }
    }

    pub fn access(self) -> Access {
        use OwnRoute::*;
        match self {
            Health | OpenApi | NotFound | WrongMethod { .. } | CopyScript | WebauthnScript => Access::Anyone,
            ChallengeForm | ChallengeSubmit | ApiChallenge => Access::Pending,
            Factor(_, action) if action.step.at_sign_in() => Access::Pending,
            SignOut | SwitchUser => Access::AnySession,
            _ => Access::SignedIn,
        }
    }

    /// JSON endpoints answer scripts, whatever their Accept header says.
    pub fn is_api(self) -> bool {
        use OwnRoute::*;
        match self {
            Factor(_, action) => action.api,
            WrongMethod { api, .. } => api,
            Health | OpenApi | Verify | ApiChallenge | ApiStatus | ApiAccountRequire | ApiDevices | ApiForgetDevice
            | ApiSessions | ApiRevokeSession | ApiRevokeOthers => true,
            _ => false,
        }
    }
}

/// The id in `{collection}{id}` (one path segment, not empty).
pub fn item_of<'a>(rest: &'a str, collection: &str) -> Option<&'a str> {
    let id = rest.strip_prefix(collection)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// The account id in `/api/accounts/{id}/require`.
pub fn account_of(rest: &str) -> Option<&str> {
    let id = rest.strip_prefix("/api/accounts/")?.strip_suffix("/require")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_right_method() {
        assert_eq!(OwnRoute::find(&Method::POST, "/challenge"), OwnRoute::ChallengeSubmit);
        assert_eq!(OwnRoute::find(&Method::GET, "/challenge"), OwnRoute::ChallengeForm);
        assert_eq!(OwnRoute::find(&Method::POST, "/settings/"), OwnRoute::NotFound);
        assert_eq!(
            OwnRoute::find(&Method::PUT, "/api/accounts/acme/require"),
            OwnRoute::ApiAccountRequire
        );
        assert_eq!(
            OwnRoute::find(&Method::PUT, "/api/accounts//require"),
            OwnRoute::NotFound
        );
        assert_eq!(account_of("/api/accounts/acme/require"), Some("acme"));
    }

    #[test]
    fn a_known_path_asked_with_another_method_says_which_methods_it_answers() {
        let wrong = |m: &Method, p: &str| match OwnRoute::find(m, p) {
            OwnRoute::WrongMethod { allow, api } => Some((allow.header(), api)),
            _ => None,
        };
        assert_eq!(wrong(&Method::GET, "/api/totp/enroll"), Some(("POST".into(), true)));
        assert_eq!(wrong(&Method::PUT, "/api/totp/enroll"), Some(("POST".into(), true)));
        assert_eq!(wrong(&Method::TRACE, "/health"), Some(("GET, HEAD".into(), true)));
        assert_eq!(
            wrong(&Method::PATCH, "/challenge"),
            Some(("GET, HEAD, POST".into(), false))
        );
        assert_eq!(wrong(&Method::POST, "/api/devices/d1"), Some(("DELETE".into(), true)));
        assert_eq!(
            wrong(&Method::GET, "/api/accounts/acme/require"),
            Some(("PUT".into(), true))
        );
        assert_eq!(wrong(&Method::OPTIONS, "/settings"), Some(("GET, HEAD".into(), false)));
        assert_eq!(OwnRoute::find(&Method::DELETE, "/nowhere"), OwnRoute::NotFound);
        assert_eq!(
            wrong(&Method::DELETE, "/api/sessions/revoke-others"),
            Some(("POST".into(), true)),
            "not a session called revoke-others"
        );
        let route = OwnRoute::find(&Method::TRACE, "/api/status");
        assert_eq!(
            route.access(),
            Access::Anyone,
            "answered before any session is looked at"
        );
        assert!(route.enrollment());
    }

    #[test]
    fn settings_need_a_signed_in_session_and_the_challenge_a_pending_one() {
        assert_eq!(OwnRoute::Settings.access(), Access::SignedIn);
        assert_eq!(OwnRoute::ApiChallenge.access(), Access::Pending);
        assert_eq!(OwnRoute::Health.access(), Access::Anyone);
    }

    #[test]
    fn a_factors_endpoints_take_their_access_from_what_they_do() {
        use crate::factors::Step;
        let route = |m: &Method, p: &str| OwnRoute::find(m, p);
        let enroll = route(&Method::POST, "/api/totp/enroll");
        assert_eq!(
            enroll,
            OwnRoute::Factor(
                Kind::Totp,
                Action {
                    step: Step::Begin,
                    api: true
                }
            )
        );
        assert_eq!(enroll.access(), Access::SignedIn);
        assert!(enroll.is_api() && enroll.enrollment());
        let send = route(&Method::POST, "/challenge/sms");
        assert_eq!(send.access(), Access::Pending);
        assert!(!send.is_api());
        let key = route(&Method::POST, "/api/webauthn/challenge/finish");
        assert_eq!(key.access(), Access::Pending);
        let regenerate = route(&Method::POST, "/settings/recovery/regenerate");
        assert_eq!(regenerate.access(), Access::SignedIn);
        assert!(!regenerate.enrollment(), "new codes need a factor first");
        let remove = route(&Method::DELETE, "/api/webauthn/key-1");
        assert!(remove.is_api() && remove.access() == Access::SignedIn);
    }

    #[test]
    fn verify_is_a_get_for_signed_in_sessions_answered_as_api() {
        assert_eq!(OwnRoute::find(&Method::GET, "/verify"), OwnRoute::Verify);
        assert_eq!(OwnRoute::find(&Method::HEAD, "/verify"), OwnRoute::Verify);
        assert!(matches!(
            OwnRoute::find(&Method::POST, "/verify"),
            OwnRoute::WrongMethod { api: true, .. }
        ));
        assert_eq!(OwnRoute::Verify.access(), Access::SignedIn);
        assert!(OwnRoute::Verify.is_api(), "a 401, never a redirect");
        assert!(
            !OwnRoute::Verify.enrollment(),
            "a user who must enroll first is refused"
        );
    }
}
