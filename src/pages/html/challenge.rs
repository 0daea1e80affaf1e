//! The challenge page: the second step of sign-in, worded for the factors
//! the user has, and offering only those.

use maud::{html, Markup};

use super::{code_input_with, csrf, layout, Frame};

/// The two code fields of the challenge page: the app's (or message's)
/// code, and a recovery code behind "Lost your device?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeField {
    App,
    Recovery,
    /// Not a field: the security key's button.
    Key,
}

impl CodeField {
    /// The hidden `factor` value the recovery form posts, so that a refusal
    /// is said beside the field that was used.
    pub const RECOVERY: &'static str = "recovery";

    pub fn of_form(factor: Option<&str>) -> Self {
        match factor {
            Some(Self::RECOVERY) => CodeField::Recovery,
            _ => CodeField::App,
        }
    }
}

/// The second step of sign-in.
pub struct ChallengeView<'a> {
    pub next: &'a str,
    /// Why the last code was refused, and beside which field to say it.
    pub error: Option<(CodeField, &'a str)>,
    /// The user has an authenticator app.
    pub totp: bool,
    /// The user's SMS number, masked, if they use SMS (and it is offered).
    pub sms: Option<&'a str>,
    /// A sign-in code is on its way to that number.
    pub sms_sent: bool,
    /// The user has unused recovery codes: only then is that field offered.
    pub recovery: bool,
    /// The user has a security key (and keys are offered).
    pub keys: bool,
    /// "Remember this device for N days" is offered (0: not).
    pub remember_days: u64,
    /// A signed-in user asked again for a step-up path.
    pub step_up: bool,
}

/// The "remember this device" checkbox of a form that passes the factor.
pub(super) fn remember_box(days: u64, id: &str) -> Markup {
    html! {
        @if days > 0 {
            label.check for=(id) {
                input #(id) type="checkbox" name="remember_device" value="on";
                " Remember this device for " (days) " days"
            }
        }
    }
}

/// The main code field holds a pasted recovery code whole: the server
/// accepts one there too, and a cut one would only be refused.
const MAIN_FIELD_MAXLENGTH: usize = 32;

pub fn challenge(frame: &Frame, v: &ChallengeView) -> Markup {
    let error_at = |field| v.error.filter(|(f, _)| *f == field).map(|(_, e)| e);
    let recovery_error = error_at(CodeField::Recovery);
    // Once a message is on its way, its code is what the person types; an
    // SMS-only user presses "Send" first.
    let (intro, label, send_first) = match (v.sms, v.sms_sent, v.totp) {
        (Some(masked), true, totp) => (
            html! {
                "We sent a code by SMS to " strong { (masked) } ". Enter it below."
                @if totp { " A code from your authenticator app works too." }
            },
            "Code from the message",
            false,
        ),
        (_, _, true) => (
            html! { "Enter the 6-digit code from your authenticator app." },
            "Code from your app",
            false,
        ),
        (Some(masked), false, false) => (
            html! { "We will send a code by SMS to " strong { (masked) } ". Send it, then enter it below." },
            "Code from the message",
            true,
        ),
        (None, _, false) if v.keys => (html! { "Use your security key to continue." }, "Code", false),
        // SMS is this user's factor but is not offered now.
        (None, _, false) if v.recovery => (html! { "Enter one of your recovery codes." }, "Code", false),
        (None, _, false) => (
            html! { "No code can be sent to you right now. Sign out and try again later." },
            "Code",
            false,
        ),
    };
    let main_field = v.totp || v.sms.is_some();
    let send_form = html! {
        @if let Some(masked) = v.sms {
            form method="post" action={ (frame.prefix) "/challenge/sms" } {
                (csrf(frame))
                input type="hidden" name="next" value=(v.next);
                button.secondary[!send_first] type="submit" {
                    @if v.sms_sent { "Send another code to " (masked) }
                    @else { "Send a code by SMS to " (masked) }
                }
            }
        }
    };
    // A step-up renews a session, it does not make a device trusted.
    let remember_days = if v.step_up { 0 } else { v.remember_days };
    let body = html! {
        @if v.step_up {
            p.warning { "The page you opened needs your second factor again." }
        }
        p role=[v.sms_sent.then_some("status")] { (intro) }
        @if v.keys { (super::webauthn::key_form(frame, v.next, error_at(CodeField::Key), remember_days)) }
        @if send_first { (send_form) }
        @if main_field {
            form method="post" action={ (frame.prefix) "/challenge" } {
                (csrf(frame))
                input type="hidden" name="next" value=(v.next);
                @let focus = recovery_error.is_none() && (!send_first || error_at(CodeField::App).is_some());
                (code_input_with(label, error_at(CodeField::App), focus, MAIN_FIELD_MAXLENGTH))
                (remember_box(remember_days, "remember-device"))
                button type="submit" { "Continue" }
            }
        }
        @if !send_first { (send_form) }
        @if v.recovery {
            // Open when its code was refused, or the error would be hidden;
            // open too when it is the only way in.
            details open[recovery_error.is_some() || (!main_field && !v.keys)] {
                summary { "Lost your device? Use a recovery code" }
                form method="post" action={ (frame.prefix) "/challenge" } {
                    (csrf(frame))
                    input type="hidden" name="next" value=(v.next);
                    input type="hidden" name="factor" value=(CodeField::RECOVERY);
                    label for="recovery-code" { "Recovery code" }
                    input.code #recovery-code type="text" name="code" autocomplete="off" autocapitalize="off"
                        spellcheck="false" maxlength="32" placeholder="xxxx-xxxx-xxxx" required
                        autofocus[recovery_error.is_some()]
                        aria-invalid=[recovery_error.map(|_| "true")]
                        aria-describedby=[recovery_error.map(|_| "recovery-code-error")];
                    @if let Some(e) = recovery_error {
                        p.error #recovery-code-error role="alert" { (e) }
                    }
                    button type="submit" { "Use recovery code" }
                }
            }
        }
    };
    layout(frame, "Two-factor authentication", body)
}
