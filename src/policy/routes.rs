//! The gateway's own endpoints under its prefix, and who may reach each:
//! anyone, a sign-in waiting for its second factor, or a signed-in user.

use http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnRoute {
    Health,
    ChallengeForm,
    ChallengeSubmit,
    ApiChallenge,
    Settings,
    EnableTotp,
    TotpSetup,
    VerifyTotp,
    DisableTotp,
    RegenerateRecovery,
    ApiStatus,
    ApiTotpEnroll,
    ApiTotpVerify,
    ApiTotpDisable,
    ApiRegenerateRecovery,
    Enroll,
    EnrollLater,
    AccountRequire,
    ApiAccountRequire,
    SmsEnable,
    SmsSetup,
    SmsVerify,
    SmsDisable,
    ChallengeSms,
    ApiSmsEnroll,
    ApiSmsVerify,
    ApiSmsDisable,
    ApiChallengeSms,
    /// "Sign out" on a page with no way into the dashboard yet (the
    /// challenge, enrollment): ends the gateway session and the dashboard
    /// session it holds.
    SignOut,
    /// "Sign in as someone else": the same, then the sign-in form.
    SwitchUser,
    /// The pages' one optional script.
    CopyScript,
    /// Forward authentication (e.g. nginx `auth_request`): 200 for a
    /// signed-in session, 401 otherwise, never a redirect.
    Verify,
    NotFound,
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
    /// The route for `rest`, the path after the prefix.
    pub fn find(method: &Method, rest: &str) -> OwnRoute {
        use OwnRoute::*;
        let get = method == Method::GET || method == Method::HEAD;
        let post = method == Method::POST;
        if method == Method::PUT && account_of(rest).is_some() {
            return ApiAccountRequire;
        }
        match (rest, get, post) {
            ("/enroll", true, _) => Enroll,
            ("/enroll/later", true, _) => EnrollLater,
            ("/settings/accounts/require", _, true) => AccountRequire,
            ("/settings/sms/enable", _, true) => SmsEnable,
            ("/settings/sms/setup", true, _) => SmsSetup,
            ("/settings/sms/verify", _, true) => SmsVerify,
            ("/settings/sms/disable", _, true) => SmsDisable,
            ("/challenge/sms", _, true) => ChallengeSms,
            ("/api/sms/enroll", _, true) => ApiSmsEnroll,
            ("/api/sms/verify", _, true) => ApiSmsVerify,
            ("/api/sms/disable", _, true) => ApiSmsDisable,
            ("/api/challenge/sms", _, true) => ApiChallengeSms,
            ("/sign-out", _, true) => SignOut,
            ("/switch-user", _, true) => SwitchUser,
            ("/health", true, _) => Health,
            ("/verify", true, _) => Verify,
            ("/assets/copy.js", true, _) => CopyScript,
            ("/challenge", true, _) => ChallengeForm,
            ("/challenge", _, true) => ChallengeSubmit,
            ("/api/challenge", _, true) => ApiChallenge,
            ("/settings", true, _) => Settings,
            ("/settings/totp/enable", _, true) => EnableTotp,
            ("/settings/totp/setup", true, _) => TotpSetup,
            ("/settings/totp/verify", _, true) => VerifyTotp,
            ("/settings/totp/disable", _, true) => DisableTotp,
            ("/settings/recovery/regenerate", _, true) => RegenerateRecovery,
            ("/api/status", true, _) => ApiStatus,
            ("/api/totp/enroll", _, true) => ApiTotpEnroll,
            ("/api/totp/verify", _, true) => ApiTotpVerify,
            ("/api/totp/disable", _, true) => ApiTotpDisable,
            ("/api/recovery-codes/regenerate", _, true) => ApiRegenerateRecovery,
            _ => NotFound,
        }
    }

    /// Routes a user without a second factor may use while an account
    /// requires one: every way of enrolling the settings page offers (an
    /// app, or SMS where it counts; the actions refuse SMS elsewhere),
    /// what else that page shows such a user (an SMS number that no longer
    /// counts can be removed, an owner can lift the requirement, which
    /// never needs a second factor), and the ways out. Nothing of the
    /// dashboard.
    pub fn enrollment(self) -> bool {
        use OwnRoute::*;
        matches!(
            self,
            Health
                | NotFound
                | CopyScript
                | Enroll
                | EnrollLater
                | Settings
                | EnableTotp
                | TotpSetup
                | VerifyTotp
                | SmsEnable
                | SmsSetup
                | SmsVerify
                | SmsDisable
                | AccountRequire
                | ApiStatus
                | ApiTotpEnroll
                | ApiTotpVerify
                | ApiSmsEnroll
                | ApiSmsVerify
                | ApiSmsDisable
                | ApiAccountRequire
                | SignOut
                | SwitchUser
        )
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
            Health | NotFound | CopyScript => Access::Anyone,
            ChallengeForm | ChallengeSubmit | ApiChallenge | ChallengeSms | ApiChallengeSms => Access::Pending,
            SignOut | SwitchUser => Access::AnySession,
            _ => Access::SignedIn,
        }
    }

    /// JSON endpoints answer scripts, whatever their Accept header says.
    pub fn is_api(self) -> bool {
        use OwnRoute::*;
        matches!(
            self,
            Health
                | Verify
                | ApiChallenge
                | ApiStatus
                | ApiTotpEnroll
                | ApiTotpVerify
                | ApiTotpDisable
                | ApiRegenerateRecovery
                | ApiAccountRequire
                | ApiSmsEnroll
                | ApiSmsVerify
                | ApiSmsDisable
                | ApiChallengeSms
        )
    }
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
        assert_eq!(OwnRoute::find(&Method::GET, "/api/totp/enroll"), OwnRoute::NotFound);
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
    fn settings_need_a_signed_in_session_and_the_challenge_a_pending_one() {
        assert_eq!(OwnRoute::Settings.access(), Access::SignedIn);
        assert_eq!(OwnRoute::ApiChallenge.access(), Access::Pending);
        assert_eq!(OwnRoute::Health.access(), Access::Anyone);
    }

    #[test]
    fn verify_is_a_get_for_signed_in_sessions_answered_as_api() {
        assert_eq!(OwnRoute::find(&Method::GET, "/verify"), OwnRoute::Verify);
        assert_eq!(OwnRoute::find(&Method::HEAD, "/verify"), OwnRoute::Verify);
        assert_eq!(OwnRoute::find(&Method::POST, "/verify"), OwnRoute::NotFound);
        assert_eq!(OwnRoute::Verify.access(), Access::SignedIn);
        assert!(OwnRoute::Verify.is_api(), "a 401, never a redirect");
        assert!(
            !OwnRoute::Verify.enrollment(),
            "a user who must enroll first is refused"
        );
    }
}
