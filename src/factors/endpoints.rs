//! The endpoints each kind of factor offers under the gateway's prefix, as
//! data: the policy finds a route in these tables and derives who may use
//! it from its step, and the pages dispatch on (kind, step). A new kind
//! brings its table; no route list elsewhere names it.

use super::Kind;

/// What an endpoint does in a factor's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Start adding it (a new secret, a code sent to a number, the
    /// creation options of a key).
    Begin,
    /// Show the enrollment in progress again.
    Show,
    /// Finish adding it with proof of possession.
    Confirm,
    /// Take it away (the password confirms).
    Remove,
    /// New recovery codes in place of the old.
    Regenerate,
    /// At sign-in: ask for a proof (send a message, a key's request options).
    Prompt,
    /// At sign-in: the proof itself, for kinds whose proof is not a typed
    /// code (typed codes go to the challenge form).
    Answer,
}

impl Step {
    /// Steps of a sign-in waiting for its second factor; all others need a
    /// signed-in session.
    pub fn at_sign_in(self) -> bool {
        matches!(self, Step::Prompt | Step::Answer)
    }

    /// Whether a user whose account requires 2FA and who has none yet may
    /// take this step of `kind`: adding a factor, and removing one that may
    /// not count for them (an SMS number where SMS is not allowed); not
    /// removing a factor that always counts (such a user has none), nor new
    /// recovery codes (they need a factor first).
    pub fn while_enrolling(self, kind: Kind) -> bool {
        match self {
            Step::Begin | Step::Show | Step::Confirm => true,
            Step::Remove => !kind.always_counts(),
            Step::Regenerate | Step::Prompt | Step::Answer => false,
        }
    }
}

/// A step, as a page (a form or a link) or as the JSON API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub step: Step,
    pub api: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Delete,
}

/// One endpoint: a method and a path below the prefix. An `item` path is a
/// collection followed by one id (`/api/webauthn/{id}`).
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub verb: Verb,
    pub path: &'static str,
    pub item: bool,
    pub action: Action,
}

const fn page(verb: Verb, path: &'static str, step: Step) -> Endpoint {
    Endpoint {
        verb,
        path,
        item: false,
        action: Action { step, api: false },
    }
}

const fn api(verb: Verb, path: &'static str, step: Step) -> Endpoint {
    Endpoint {
        verb,
        path,
        item: false,
        action: Action { step, api: true },
    }
}

use Step::*;
use Verb::*;

const TOTP: &[Endpoint] = &[
    page(Post, "/settings/totp/enable", Begin),
    page(Get, "/settings/totp/setup", Show),
    page(Post, "/settings/totp/verify", Confirm),
    page(Post, "/settings/totp/disable", Remove),
    api(Post, "/api/totp/enroll", Begin),
    api(Post, "/api/totp/verify", Confirm),
    api(Post, "/api/totp/disable", Remove),
];

const SMS: &[Endpoint] = &[
    page(Post, "/settings/sms/enable", Begin),
    page(Get, "/settings/sms/setup", Show),
    page(Post, "/settings/sms/verify", Confirm),
    page(Post, "/settings/sms/disable", Remove),
    page(Post, "/challenge/sms", Prompt),
    api(Post, "/api/sms/enroll", Begin),
    api(Post, "/api/sms/verify", Confirm),
    api(Post, "/api/sms/disable", Remove),
    api(Post, "/api/challenge/sms", Prompt),
];

const RECOVERY: &[Endpoint] = &[
    page(Post, "/settings/recovery/regenerate", Regenerate),
    api(Post, "/api/recovery-codes/regenerate", Regenerate),
];

// The pages' two buttons ask the API for the browser's options, then post
// the browser's answer through an ordinary form (Confirm, Answer), so the
// page that follows (recovery codes, the dashboard) is a normal navigation.
const WEBAUTHN: &[Endpoint] = &[
    page(Post, "/settings/webauthn/register", Confirm),
    page(Post, "/settings/webauthn/remove", Remove),
    page(Post, "/challenge/webauthn", Answer),
    api(Post, "/api/webauthn/register/start", Begin),
    api(Post, "/api/webauthn/register/finish", Confirm),
    api(Post, "/api/webauthn/challenge/start", Prompt),
    api(Post, "/api/webauthn/challenge/finish", Answer),
    Endpoint {
        item: true,
        ..api(Delete, "/api/webauthn/", Remove)
    },
];

impl Kind {
    /// This kind's endpoints.
    pub fn endpoints(self) -> &'static [Endpoint] {
        match self {
            Kind::Totp => TOTP,
            Kind::Sms => SMS,
            Kind::Recovery => RECOVERY,
            Kind::Webauthn => WEBAUTHN,
        }
    }
}

impl Endpoint {
    /// Whether `verb` and `rest` (the path below the prefix) name it.
    pub fn matches(&self, verb: Verb, rest: &str) -> bool {
        if verb != self.verb {
            return false;
        }
        if !self.item {
            return rest == self.path;
        }
        rest.strip_prefix(self.path)
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
    }
}

/// The factor endpoint `verb` and `rest` name, if any.
pub fn find(verb: Verb, rest: &str) -> Option<(Kind, Action)> {
    Kind::ALL.into_iter().find_map(|kind| {
        kind.endpoints()
            .iter()
            .find(|e| e.matches(verb, rest))
            .map(|e| (kind, e.action))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_and_verb_belongs_to_one_endpoint() {
        let all: Vec<_> = Kind::ALL.iter().flat_map(|k| k.endpoints()).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(!(a.verb == b.verb && a.path == b.path), "{} is listed twice", a.path);
            }
            assert!(a.path.starts_with('/'), "{}", a.path);
        }
    }

    #[test]
    fn an_item_path_needs_exactly_one_id() {
        let remove = (
            Kind::Webauthn,
            Action {
                step: Remove,
                api: true,
            },
        );
        assert_eq!(find(Delete, "/api/webauthn/abc"), Some(remove));
        assert_eq!(find(Delete, "/api/webauthn/"), None);
        assert_eq!(find(Delete, "/api/webauthn/a/b"), None);
        assert_eq!(find(Post, "/api/webauthn/abc"), None);
        assert_eq!(
            find(Post, "/api/webauthn/register/start"),
            Some((Kind::Webauthn, Action { step: Begin, api: true }))
        );
    }

    #[test]
    fn only_prompt_and_answer_belong_to_a_sign_in_and_regenerate_needs_a_factor() {
        assert!(Prompt.at_sign_in() && Answer.at_sign_in());
        assert!(!Begin.at_sign_in() && !Remove.at_sign_in());
        assert!(Begin.while_enrolling(Kind::Webauthn) && Confirm.while_enrolling(Kind::Totp));
        assert!(!Regenerate.while_enrolling(Kind::Recovery));
        assert!(Remove.while_enrolling(Kind::Sms), "SMS may not count for this user");
        assert!(!Remove.while_enrolling(Kind::Totp) && !Remove.while_enrolling(Kind::Webauthn));
    }
}
