//! The security keys' part of the pages: the settings card (the keys by
//! name, each with "Remove", and the form to add one) and the challenge
//! page's button. The two buttons need the gateway's script; everything
//! else is a plain form.

use maud::{html, Markup};

use super::{csrf, off_warning, password_input, Field, Frame};

/// One registered key, as the settings page lists it.
pub struct KeyView {
    pub id: String,
    pub name: String,
    /// When it was added and last used, as dates for people.
    pub added: String,
    pub last_used: Option<String>,
}

/// The security keys card of the settings page.
pub struct WebauthnView {
    pub keys: Vec<KeyView>,
    /// The accounts that would send the user to enroll if they removed
    /// their last key (see `Directory::due_without`).
    pub off_requires: Vec<String>,
    pub can_add: bool,
}

pub const REGISTER: &str = "/settings/webauthn/register";
pub const REMOVE: &str = "/settings/webauthn/remove";

/// The note shown in place of a button the browser cannot run.
fn needs_script() -> Markup {
    html! {
        p.note data-webauthn-hidden { "Security keys need JavaScript and a browser that supports them." }
    }
}

pub fn webauthn_card(frame: &Frame, v: &WebauthnView) -> Markup {
    let add_error = frame.error_for(REGISTER, Field::Password);
    let remove_error = frame.error_for(REMOVE, Field::Password);
    html! {
        section {
            h2 { "Security keys and passkeys" }
            @if v.keys.is_empty() {
                p { "Use a security key (such as a YubiKey) or a passkey on this device instead of typing a code." }
            } @else {
                p.status.on { "On: a security key can be used at sign-in." }
                ul.keys aria-label="Your security keys" {
                    @for k in &v.keys {
                        li {
                            strong.key-name { (k.name) }
                            " · added " (k.added)
                            @if let Some(u) = &k.last_used { " · last used " (u) }
                        }
                    }
                }
                details open[remove_error.is_some()] {
                    summary { "Remove a key" }
                    (off_warning(if v.keys.len() == 1 { &v.off_requires } else { &[] }))
                    form method="post" action={ (frame.prefix) (REMOVE) } {
                        (csrf(frame))
                        label { "Key"
                            select name="id" {
                                @for k in &v.keys { option value=(k.id) { (k.name) } }
                            }
                        }
                        (password_input(frame, remove_error))
                        button.danger type="submit" { "Remove key" }
                    }
                }
            }
            @if v.can_add {
                form #webauthn-add method="post" action={ (frame.prefix) (REGISTER) } {
                    (csrf(frame))
                    input type="hidden" name="credential" value="";
                    label for="webauthn-name" { "Name of the new key" }
                    input #webauthn-name type="text" name="name" maxlength=(crate::factors::MAX_NAME) required
                        placeholder="e.g. YubiKey on my keyring" autocomplete="off";
                    (password_input(frame, add_error))
                    button #webauthn-register type="button" hidden data-webauthn="create"
                        data-start={ (frame.prefix) "/api/webauthn/register/start" } { "Add security key" }
                    (needs_script())
                    p.status data-webauthn-status role="status" {}
                }
            } @else {
                p.note { "You have the most keys allowed. Remove one to add another." }
            }
        }
    }
}

/// The challenge page's "Use security key" form, with why the last answer
/// was refused.
pub fn key_form(frame: &Frame, next: &str, error: Option<&str>, remember_days: u64) -> Markup {
    html! {
        form #webauthn-challenge method="post" action={ (frame.prefix) "/challenge/webauthn" } {
            (csrf(frame))
            input type="hidden" name="next" value=(next);
            input type="hidden" name="credential" value="";
            (super::challenge::remember_box(remember_days, "remember-device-key"))
            button #webauthn-sign-in type="button" hidden data-webauthn="get"
                data-start={ (frame.prefix) "/api/webauthn/challenge/start" } { "Use security key" }
            (needs_script())
            p.status data-webauthn-status role="status" {}
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
        }
    }
}
