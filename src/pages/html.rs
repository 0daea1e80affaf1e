//! The gateway's HTML pages, as maud templates compiled into the binary:
//! no external assets, no JavaScript needed, every form with its CSRF token.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::CSS;

mod challenge;
mod sms;
mod webauthn;

pub use challenge::{challenge, ChallengeView, CodeField};
pub use sms::{sms_card, sms_setup, SmsView};
pub use webauthn::{webauthn_card, KeyView, WebauthnView};

/// What every page needs to know about where it is shown.
pub struct Frame<'a> {
    pub dashboard: &'a str,
    pub prefix: &'a str,
    pub csrf: &'a str,
    /// The form that was just refused, said beside the field it is about.
    pub failed: Option<Failed<'a>>,
    /// A link to the dashboard leads there (see
    /// `policy::dashboard_reachable`); otherwise the page offers "Sign out"
    /// and "Sign in as someone else" instead of a link that loops.
    pub dashboard_reachable: bool,
    /// How this session confirms a change.
    pub confirm: ConfirmBy<'a>,
}

/// What confirms a change: the password, or for a user without one a
/// sign-in within the confirmation window (or, past it, signing in again
/// at this address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmBy<'a> {
    Password,
    RecentSignIn,
    SignInAgain(&'a str),
}

/// A refused form: its action (after the prefix), the field the refusal is
/// about, and why.
#[derive(Debug, Clone, Copy)]
pub struct Failed<'a> {
    pub action: &'a str,
    pub field: Field,
    pub message: &'a str,
}

/// The field of a form a refusal is said beside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Password,
    Phone,
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
            dashboard_reachable: true,
            confirm: ConfirmBy::Password,
        }
    }

    fn error_for(&self, action: &str, field: Field) -> Option<&str> {
        self.failed
            .filter(|f| f.action == action && f.field == field)
            .map(|f| f.message)
    }
}

/// The forms of the settings page that show their own errors.
const FORMS_WITH_ERRORS: [&str; 7] = [
    "/settings/totp/enable",
    "/settings/totp/disable",
    "/settings/recovery/regenerate",
    "/settings/sms/enable",
    "/settings/sms/disable",
    webauthn::REGISTER,
    webauthn::REMOVE,
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
                script src={ (frame.prefix) (super::WEBAUTHN_JS_PATH) } integrity=(super::webauthn_script_hash()) defer {}
            }
            body {
                main.card {
                    header.brand { (frame.dashboard) " · Sign-in security" }
                    h1 { (title) }
                    (body)
                    footer.back {
                        @if frame.dashboard_reachable {
                            a href="/" { "Back to " (frame.dashboard) }
                        } @else {
                            (ways_out(frame))
                        }
                    }
                }
            }
        }
    }
}

/// The ways out of a sign-in that cannot reach the dashboard yet: both
/// end the gateway's session and the dashboard's it holds.
fn ways_out(frame: &Frame) -> Markup {
    html! {
        div.ways-out {
            form method="post" action={ (frame.prefix) "/sign-out" } {
                (csrf(frame))
                button.secondary type="submit" { "Sign out" }
            }
            form method="post" action={ (frame.prefix) "/switch-user" } {
                (csrf(frame))
                button.secondary type="submit" { "Sign in as someone else" }
            }
        }
    }
}

/// A code field for the 6 digits of an app or a message, with its error
/// beside it. Room for a space typed in the middle.
fn code_input(label: &str, error: Option<&str>) -> Markup {
    code_input_with(label, error, true, 7)
}

/// A code field that takes the focus only if `focus`: a page has one
/// autofocus, and it goes where the person has to type next. `maxlength`
/// leaves room for every kind of code the server accepts there.
fn code_input_with(label: &str, error: Option<&str>, focus: bool, maxlength: usize) -> Markup {
    html! {
        label for="code" { (label) }
        input.code #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code"
            autocapitalize="off" spellcheck="false" maxlength=(maxlength) required autofocus[focus]
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
    password_form_with(frame, action, button, danger, &[])
}

/// A password form with `hidden` fields (e.g. `from`, the page to show
/// again on a wrong password, and `next`, where to go once done).
fn password_form_with(frame: &Frame, action: &str, button: &str, danger: bool, hidden: &[(&str, &str)]) -> Markup {
    html! {
        form method="post" action={ (frame.prefix) (action) } {
            (csrf(frame))
            @for (name, value) in hidden {
                input type="hidden" name=(name) value=(value);
            }
            (password_input(frame, frame.error_for(action, Field::Password)))
            button.danger[danger] type="submit" { (button) }
        }
    }
}

/// What turning a factor off will do while an account requires one.
fn off_warning(requiring: &[String]) -> Markup {
    html! {
        @if !requiring.is_empty() {
            p.warning {
                (requiring.join(", "))
                " requires two-factor authentication. If you turn this off, you will be asked to set it up
                  again at your next page, before you can use the dashboard."
            }
        }
    }
}

/// The password confirmation field, with why it was refused beside it; for
/// a user without a password, what confirms instead (a recent sign-in).
fn password_input(frame: &Frame, error: Option<&str>) -> Markup {
    if frame.confirm != ConfirmBy::Password {
        return html! {
            p.note {
                @match frame.confirm {
                    ConfirmBy::SignInAgain(url) => {
                        "To confirm, " a href=(url) { "sign in again" } " (with your single sign-on), then come back."
                    }
                    _ => "You signed in a moment ago, so no password is needed.",
                }
            }
            @if let Some(e) = error { p.error role="alert" { (e) } }
        };
    }
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
    /// An authenticator app is set up.
    pub enabled: bool,
    /// The user has a second factor that counts (see
    /// `Directory::has_second_factor`): an owner may then require one.
    pub has_second_factor: bool,
    /// The accounts that would send the user to enroll if they turned the
    /// app off (see `Directory::due_without`).
    pub totp_off_requires: Vec<String>,
    pub recovery_left: usize,
    pub flash: Option<&'a str>,
    pub error: Option<&'a str>,
    /// Accounts this user owns, where the requirement can be set.
    pub owned: Vec<OwnedAccount>,
    /// `None` when SMS is not offered.
    pub sms: Option<SmsView>,
    /// `None` when security keys are not offered.
    pub webauthn: Option<WebauthnView>,
    /// Browsers that skip the challenge.
    pub devices: Vec<DeviceView>,
    /// The user's sessions, this one first.
    pub sessions: Vec<SessionView>,
}

/// One of the user's sessions, as the settings page lists it.
pub struct SessionView {
    pub id: String,
    pub client: String,
    pub browser: String,
    pub started: String,
    pub last_active: String,
    pub current: bool,
    pub pending: bool,
}

fn sessions_card(frame: &Frame, sessions: &[SessionView]) -> Markup {
    html! {
        section {
            h2 { "Where you are signed in" }
            ul.sessions aria-label="Your sessions" {
                @for s in sessions {
                    li {
                        strong { (s.browser) }
                        br;
                        span.muted { (s.client) " · signed in " (s.started) " · last active " (s.last_active) }
                        @if s.current {
                            " " span.tag { "This session" }
                        } @else {
                            @if s.pending { " " span.tag { "Waiting for the second step" } }
                            form.inline method="post" action={ (frame.prefix) "/settings/sessions/revoke" } {
                                (csrf(frame))
                                input type="hidden" name="id" value=(s.id);
                                button.secondary type="submit" aria-label={ "Sign out " (s.browser) " at " (s.client) } { "Sign out" }
                            }
                        }
                    }
                }
            }
            @if sessions.iter().any(|s| !s.current) {
                form method="post" action={ (frame.prefix) "/settings/sessions/revoke-others" } {
                    (csrf(frame))
                    button.danger type="submit" { "Sign out everywhere else" }
                }
            }
        }
    }
}

/// A remembered browser, as the settings page lists it.
pub struct DeviceView {
    pub id: String,
    pub label: String,
    pub added: String,
    pub last_used: Option<String>,
}

fn devices_card(frame: &Frame, devices: &[DeviceView]) -> Markup {
    html! {
        section {
            h2 { "Remembered devices" }
            p { "These browsers skip the second step at sign-in for a while. Forget any you do not recognise." }
            ul.devices aria-label="Remembered devices" {
                @for d in devices {
                    li {
                        form.inline method="post" action={ (frame.prefix) "/settings/devices/forget" } {
                            (csrf(frame))
                            input type="hidden" name="id" value=(d.id);
                            span.device-label { (d.label) }
                            " · added " (d.added)
                            @if let Some(u) = &d.last_used { " · last used " (u) }
                            " "
                            button.secondary type="submit" aria-label={ "Forget " (d.label) } { "Forget" }
                        }
                    }
                }
            }
        }
    }
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
    /// SMS codes count for this user: the settings page offers them too.
    pub sms: bool,
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
        (password_form_with(frame, "/settings/totp/enable", "Set up two-factor authentication", false,
            &[("from", "enroll"), ("next", v.next)]))
        @if v.sms {
            p { "No smartphone? You can also receive codes by text message: "
                a href={ (frame.prefix) "/settings" } { "SMS codes in your security settings" } "." }
        }
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
        @if !frame.failed.is_some_and(|f| FORMS_WITH_ERRORS.contains(&f.action)) {
            (notice(v.error, "error"))
        }
        section {
            h2 { "Authenticator app" }
            @if v.enabled {
                p.status.on { "On: an authenticator app code is needed at every sign-in." }
                h3 { "Turn off" }
                (off_warning(&v.totp_off_requires))
                (password_form(frame, "/settings/totp/disable", "Disable two-factor authentication", true))
            } @else {
                p.status.off { "Off: no authenticator app is set up." }
                p { "Add a second step to sign-in with an authenticator app such as Google Authenticator or 1Password." }
                (password_form(frame, "/settings/totp/enable", "Enable two-factor authentication", false))
            }
        }
        @if let Some(keys) = &v.webauthn {
            (webauthn_card(frame, keys))
        }
        // Codes back up the app and keys (an SMS-only user has none), so
        // they have a card of their own.
        @if v.recovery_left > 0 || v.enabled || v.webauthn.as_ref().is_some_and(|w| !w.keys.is_empty()) {
            section {
                h2 { "Recovery codes" }
                p { (v.recovery_left) " recovery codes left. Making new ones voids the old set." }
                @if v.recovery_left <= 3 {
                    p.warning { "Few recovery codes are left. Make new ones so you cannot be locked out." }
                }
                (password_form(frame, "/settings/recovery/regenerate", "Make new recovery codes", false))
            }
        }
        @if let Some(sms) = &v.sms {
            (sms_card(frame, sms))
        }
        @if !v.devices.is_empty() {
            (devices_card(frame, &v.devices))
        }
        @if !v.sessions.is_empty() {
            (sessions_card(frame, &v.sessions))
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
                        @if !v.has_second_factor && !a.require {
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

/// The QR code to scan, and the form for the first code. `next`: where a
/// user sent to enroll was going, kept until the recovery codes are shown.
pub fn totp_setup(frame: &Frame, qr_svg: &str, secret: &str, error: Option<&str>, next: Option<&str>) -> Markup {
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
            @if let Some(next) = next {
                input type="hidden" name="next" value=(next);
            }
            (code_input("Code from the app", error))
            button type="submit" { "Verify and turn on" }
        }
        @if let Some(next) = next {
            p { a href={ (frame.prefix) "/enroll?next=" (crate::policy::encode_component(next)) } { "Cancel" } }
        } @else {
            p { a href={ (frame.prefix) "/settings" } { "Cancel" } }
        }
    };
    layout(frame, "Set up your authenticator app", body)
}

/// Recovery codes, shown once. `next`: where a user sent to enroll was
/// going, to continue there rather than to the settings.
pub fn recovery_codes(frame: &Frame, codes: &[String], fresh_enable: bool, next: Option<&str>) -> Markup {
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
             authenticator app, phone or security key. They will not be shown again." }
        ol.codes aria-label="Recovery codes" {
            @for c in codes { li { code { (c) } } }
        }
        p {
            a.button href=(download) download="recovery-codes.txt" { "Download the codes" }
            " or print this page."
        }
        @if let Some(next) = next {
            p { a href=(next) { "I have stored them: continue" } }
        } @else {
            p { a href={ (frame.prefix) "/settings" } { "I have stored them: back to settings" } }
        }
    };
    layout(frame, "Your recovery codes", body)
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
