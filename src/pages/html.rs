//! The gateway's HTML pages, as maud templates compiled into the binary:
//! no external assets, no JavaScript needed, every form with its CSRF token.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::CSS;

/// What every page needs to know about where it is shown.
pub struct Frame<'a> {
    pub dashboard: &'a str,
    pub prefix: &'a str,
    pub csrf: &'a str,
    /// The form that was just refused (its action after the prefix) and
    /// why, said next to its password field.
    pub failed: Option<(&'a str, &'a str)>,
}

impl<'a> Frame<'a> {
    /// The frame of a page shown outside any form flow (an error page, a
    /// request without a session): no CSRF token, nothing refused.
    pub fn plain(config: &'a crate::config::Config) -> Self {
        Frame {
            dashboard: &config.dashboard_name,
            prefix: &config.prefix,
            csrf: "",
            failed: None,
        }
    }

    fn error_for(&self, action: &str) -> Option<&str> {
        self.failed.filter(|(a, _)| *a == action).map(|(_, m)| m)
    }
}

/// The forms of the settings page that show their own errors.
const FORMS_WITH_ERRORS: [&str; 5] = [
    "/settings/totp/enable",
    "/settings/totp/disable",
    "/settings/recovery/regenerate",
    "/settings/sms/enable",
    "/settings/sms/disable",
];

fn layout(frame: &Frame, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (frame.dashboard) }
                style { (PreEscaped(CSS)) }
                script src={ (frame.prefix) (super::COPY_JS_PATH) } integrity=(super::script_hash()) defer {}
            }
            body {
                main.card {
                    header.brand { (frame.dashboard) " · Sign-in security" }
                    h1 { (title) }
                    (body)
                    footer.back { a href="/" { "Back to " (frame.dashboard) } }
                }
            }
        }
    }
}

/// A code field: digits from an app or a message, with its error beside it.
fn code_input(label: &str, error: Option<&str>) -> Markup {
    code_input_focused(label, error, true)
}

/// A code field that takes the focus only if `focus`: a page has one
/// autofocus, and it goes where the person has to type next.
fn code_input_focused(label: &str, error: Option<&str>, focus: bool) -> Markup {
    html! {
        label for="code" { (label) }
        input.code #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code"
            autocapitalize="off" spellcheck="false" maxlength="7" required autofocus[focus]
            aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "code-error")];
        @if let Some(e) = error {
            p.error #code-error role="alert" { (e) }
        }
    }
}

/// The secret in groups of four, as authenticator apps ask for it.
fn grouped(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

fn csrf(frame: &Frame) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(frame.csrf); }
}

fn notice(message: Option<&str>, class: &str) -> Markup {
    html! {
        @if let Some(m) = message {
            p class=(class) role="alert" { (m) }
        }
    }
}

fn password_form(frame: &Frame, action: &str, button: &str, danger: bool) -> Markup {
    password_form_from(frame, action, button, danger, None)
}

/// A password form; `from` names the page to show again on a wrong password.
fn password_form_from(frame: &Frame, action: &str, button: &str, danger: bool, from: Option<&str>) -> Markup {
    html! {
        form method="post" action={ (frame.prefix) (action) } {
            (csrf(frame))
            @if let Some(from) = from {
                input type="hidden" name="from" value=(from);
            }
            (password_input(frame.error_for(action)))
            button.danger[danger] type="submit" { (button) }
        }
    }
}

/// The password confirmation field, with why it was refused beside it.
fn password_input(error: Option<&str>) -> Markup {
    html! {
        label { "Confirm your password"
            input type="password" name="password" autocomplete="current-password" required
                aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "password-error")]
                autofocus[error.is_some()];
        }
        @if let Some(e) = error {
            p.error #password-error role="alert" { (e) }
        }
    }
}

/// The user's security settings.
pub struct SettingsView<'a> {
    pub email: &'a str,
    pub enabled: bool,
    pub recovery_left: usize,
    pub flash: Option<&'a str>,
    pub error: Option<&'a str>,
    /// Accounts this user owns, where the requirement can be set.
    pub owned: Vec<OwnedAccount>,
    /// `None` when SMS is not offered.
    pub sms: Option<SmsView>,
}

pub struct OwnedAccount {
    pub id: String,
    pub name: String,
    pub require: bool,
}

/// Why the user is asked to enroll, and until when they may wait.
pub struct EnrollView<'a> {
    pub accounts: &'a [String],
    pub deadline: Option<&'a str>,
    pub next: &'a str,
}

pub fn enroll(frame: &Frame, v: &EnrollView) -> Markup {
    let body = html! {
        p {
            @for (i, a) in v.accounts.iter().enumerate() {
                @if i > 0 { ", " }
                strong { (a) }
            }
            " requires two-factor authentication for all of its users."
        }
        @if let Some(d) = v.deadline {
            p.warning { "You can continue without it for " (d) " more. After that, you will need it to use the dashboard." }
        } @else {
            p { "Set it up now to continue to the dashboard. It takes a minute with an authenticator app." }
        }
        (password_form_from(frame, "/settings/totp/enable", "Set up two-factor authentication", false, Some("enroll")))
        @if v.deadline.is_some() {
            p { a href={ (frame.prefix) "/enroll/later?next=" (crate::policy::encode_component(v.next)) } { "Not now: continue to the dashboard" } }
        }
    };
    layout(frame, "Two-factor authentication required", body)
}

pub fn settings(frame: &Frame, v: &SettingsView) -> Markup {
    let body = html! {
        p { "Signed in as " strong { (v.email) } }
        (notice(v.flash, "flash"))
        @if !frame.failed.is_some_and(|(action, _)| FORMS_WITH_ERRORS.contains(&action)) {
            (notice(v.error, "error"))
        }
        section {
            h2 { "Two-factor authentication" }
            @if v.enabled {
                p.status.on { "On: an authenticator app code is needed at every sign-in." }
                h3 { "Recovery codes" }
                p { (v.recovery_left) " recovery codes left. Making new ones voids the old set." }
                @if v.recovery_left <= 3 {
                    p.warning { "Few recovery codes are left. Make new ones so you cannot be locked out." }
                }
                (password_form(frame, "/settings/recovery/regenerate", "Make new recovery codes", false))
                h3 { "Turn off" }
                (password_form(frame, "/settings/totp/disable", "Disable two-factor authentication", true))
            } @else {
                p.status.off { "Off: no authenticator app is set up." }
                p { "Add a second step to sign-in with an authenticator app such as Google Authenticator or 1Password." }
                (password_form(frame, "/settings/totp/enable", "Enable two-factor authentication", false))
            }
        }
        @if let Some(sms) = &v.sms {
            (sms_card(frame, sms))
        }
        @if !v.owned.is_empty() {
            section {
                h2 { "Account security" }
                @for a in &v.owned {
                    form method="post" action={ (frame.prefix) "/settings/accounts/require" } {
                        (csrf(frame))
                        input type="hidden" name="account" value=(a.id);
                        h3 { (a.name) }
                        label.check {
                            input type="checkbox" name="require" value="on" checked[a.require];
                            " Require two-factor authentication for all account users"
                        }
                        @if !v.enabled && !a.require {
                            p.note { "You need two-factor authentication yourself before you can require it: enable it above." }
                        }
                        button type="submit" { "Save" }
                    }
                }
            }
        }
    };
    layout(frame, "Security settings", body)
}

/// The QR code to scan, and the form for the first code.
pub fn totp_setup(frame: &Frame, qr_svg: &str, secret: &str, error: Option<&str>) -> Markup {
    let body = html! {
        ol {
            li { "Scan this QR code with your authenticator app." }
            li { "Enter the 6-digit code the app shows." }
        }
        figure.qr aria-label="QR code to scan with your authenticator app" { (PreEscaped(qr_svg)) }
        p #secret-label { "Can't scan it? Enter this key in the app instead:" }
        p.secret-row {
            code.secret #secret aria-labelledby="secret-label" { (grouped(secret)) }
            button.secondary type="button" data-copy="secret" hidden { "Copy key" }
        }
        form method="post" action={ (frame.prefix) "/settings/totp/verify" } {
            (csrf(frame))
            (code_input("Code from the app", error))
            button type="submit" { "Verify and turn on" }
        }
        p { a href={ (frame.prefix) "/settings" } { "Cancel" } }
    };
    layout(frame, "Set up your authenticator app", body)
}

/// Recovery codes, shown once.
pub fn recovery_codes(frame: &Frame, codes: &[String], fresh_enable: bool) -> Markup {
    let text = codes.join("\n") + "\n";
    let download = format!(
        "data:text/plain;charset=utf-8,{}",
        crate::policy::encode_component(&text)
    );
    let body = html! {
        @if fresh_enable {
            p.flash { "Two-factor authentication is on." }
        }
        p { "Store these recovery codes in a safe place. Each one signs you in once if you lose your
             authenticator app. They will not be shown again." }
        ol.codes aria-label="Recovery codes" {
            @for c in codes { li { code { (c) } } }
        }
        p {
            a.button href=(download) download="recovery-codes.txt" { "Download the codes" }
            " or print this page."
        }
        p { a href={ (frame.prefix) "/settings" } { "I have stored them: back to settings" } }
    };
    layout(frame, "Your recovery codes", body)
}

/// The two code fields of the challenge page: the app's (or message's)
/// code, and a recovery code behind "Lost your device?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeField {
    App,
    Recovery,
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
    pub flash: Option<&'a str>,
    /// The user has an authenticator app.
    pub totp: bool,
    /// The user's SMS number, masked, if they use SMS.
    pub sms: Option<&'a str>,
}

pub fn challenge(frame: &Frame, v: &ChallengeView) -> Markup {
    let (intro, label) = if v.totp {
        (
            "Enter the 6-digit code from your authenticator app.",
            "Code from your app",
        )
    } else {
        ("Enter the code we send you by SMS.", "Code from the message")
    };
    let error_at = |field| v.error.filter(|(f, _)| *f == field).map(|(_, e)| e);
    let recovery_error = error_at(CodeField::Recovery);
    let body = html! {
        p { (intro) }
        (notice(v.flash, "flash"))
        form method="post" action={ (frame.prefix) "/challenge" } {
            (csrf(frame))
            input type="hidden" name="next" value=(v.next);
            (code_input_focused(label, error_at(CodeField::App), recovery_error.is_none()))
            button type="submit" { "Continue" }
        }
        @if let Some(masked) = v.sms {
            form method="post" action={ (frame.prefix) "/challenge/sms" } {
                (csrf(frame))
                input type="hidden" name="next" value=(v.next);
                button.secondary type="submit" { "Send a code by SMS to " (masked) }
            }
        }
        // Open when its code was refused, or the error would be hidden.
        details open[recovery_error.is_some()] {
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
    };
    layout(frame, "Two-factor authentication", body)
}

/// The SMS card of the settings page.
pub struct SmsView {
    pub on: bool,
    pub masked: Option<String>,
    /// SMS may be used by this user (offered, and no account disallows it).
    pub allowed: bool,
}

pub fn sms_card(frame: &Frame, v: &SmsView) -> Markup {
    html! {
        section {
            h2 { "SMS codes" }
            @if v.on {
                p.status.on { "On: codes are sent to " (v.masked.as_deref().unwrap_or("your phone")) "." }
                @if !v.allowed {
                    p.warning { "SMS is no longer allowed for your account. Set up an authenticator app instead, then disable SMS." }
                }
                p.note { "To change the number, disable SMS and enable it again with the new number." }
                (password_form(frame, "/settings/sms/disable", "Disable SMS codes", true))
            } @else if v.allowed {
                p { "Receive a code by text message at sign-in (less safe than an authenticator app)." }
                form method="post" action={ (frame.prefix) "/settings/sms/enable" } {
                    (csrf(frame))
                    label { "Country"
                        select name="country" {
                            @for (code, name) in crate::sms::COUNTRIES {
                                option value=(code) { (name) }
                            }
                        }
                    }
                    label { "Phone number"
                        input type="tel" name="phone" autocomplete="tel-national" required;
                    }
                    (password_input(frame.error_for("/settings/sms/enable")))
                    button type="submit" { "Send a code" }
                }
            }
        }
    }
}

/// The code sent to a new SMS number.
pub fn sms_setup(frame: &Frame, masked: &str, error: Option<&str>) -> Markup {
    let body = html! {
        p { "We sent a code by SMS to " strong { (masked) } ". Enter it to turn on SMS codes." }
        form method="post" action={ (frame.prefix) "/settings/sms/verify" } {
            (csrf(frame))
            (code_input("Code from the message", error))
            button type="submit" { "Verify and turn on" }
        }
        p { a href={ (frame.prefix) "/settings" } { "Cancel" } }
    };
    layout(frame, "Confirm your phone number", body)
}

/// An error (not found, the dashboard unreachable, a sign-in that could not
/// finish): the same header and title as every other page, so a person
/// still sees whose dashboard they are on; the footer leads back to it.
pub fn error(frame: &Frame, title: &str, text: &str) -> Markup {
    layout(frame, title, html! { p { (text) } })
}

/// A short message with a way back.
pub fn message(frame: &Frame, title: &str, text: &str, back: &str) -> Markup {
    let body = html! {
        p { (text) }
        p { a href=(back) { "Back" } }
    };
    layout(frame, title, body)
}

#[cfg(test)]
mod tests;
