//! The SMS factor's part of the pages: the settings card (number form, or
//! the number in use and how to turn it off) and the code sent to a new
//! number.

use maud::{html, Markup};

use super::{code_input, csrf, layout, off_warning, password_form, password_input, Field, Frame};

/// The SMS card of the settings page.
pub struct SmsView {
    pub on: bool,
    pub masked: Option<String>,
    /// SMS may be used by this user (offered, and no account disallows it).
    pub allowed: bool,
    /// The accounts that would send the user to enroll if they turned SMS
    /// off (see `Directory::due_without`).
    pub off_requires: Vec<String>,
    /// What was typed into a refused number form, shown again: (country, number).
    pub typed: Option<(String, String)>,
}

const ENABLE: &str = "/settings/sms/enable";

pub fn sms_card(frame: &Frame, v: &SmsView) -> Markup {
    let (country, number) = match &v.typed {
        Some((c, n)) => (Some(c.as_str()), Some(n.as_str())),
        None => (None, None),
    };
    let phone_error = frame.error_for(ENABLE, Field::Phone);
    html! {
        section {
            h2 { "SMS codes" }
            @if v.on {
                p.status.on { "On: codes are sent to " (v.masked.as_deref().unwrap_or("your phone")) "." }
                @if !v.allowed {
                    p.warning { "SMS is no longer allowed for your account. Set up an authenticator app instead, then disable SMS." }
                }
                p.note { "To change the number, disable SMS and enable it again with the new number." }
                (off_warning(&v.off_requires))
                (password_form(frame, "/settings/sms/disable", "Disable SMS codes", true))
            } @else if v.allowed {
                p { "Receive a code by text message at sign-in (less safe than an authenticator app)." }
                form method="post" action={ (frame.prefix) (ENABLE) } {
                    (csrf(frame))
                    label { "Country"
                        select name="country" {
                            @for (code, name) in crate::sms::COUNTRIES {
                                option value=(code) selected[country == Some(*code)] { (name) }
                            }
                        }
                    }
                    label { "Mobile phone number"
                        input type="tel" name="phone" autocomplete="tel-national" required value=[number]
                            aria-invalid=[phone_error.map(|_| "true")]
                            aria-describedby=[phone_error.map(|_| "phone-error")]
                            autofocus[phone_error.is_some()];
                    }
                    @if let Some(e) = phone_error {
                        p.error #phone-error role="alert" { (e) }
                    }
                    (password_input(frame, frame.error_for(ENABLE, Field::Password)))
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
