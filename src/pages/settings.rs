//! The security settings pages: status, enable with QR and first code,
//! recovery codes shown once, disable and regenerate behind the password.

// `next`: where a user sent to enroll was going, kept through the setup
// until the recovery codes are shown; `None` when started from the settings.
use super::request::{next_of, OwnRequest, Shared};
use super::{html, html_reply, redirect, Reply};
use crate::actions::{self, Refusal};
use crate::factors::{Action, Kind, Step};
use crate::policy::{encode_component, OwnRoute};
use crate::session::Found;

pub(super) fn settings_url(gw: &Shared, flash: Option<&str>) -> String {
    match flash {
        Some(f) => format!("{}/settings?done={f}", gw.config.prefix),
        None => format!("{}/settings", gw.config.prefix),
    }
}

/// The settings page, with an optional message of what just happened.
pub async fn show(gw: &Shared, req: &OwnRequest, error: Option<&Refusal>) -> Reply {
    let Some(found) = &req.found else {
        return redirect(&gw.config.upstream.login.path);
    };
    let (user, factors) = match (actions::user(gw, found).await, actions::factors(gw, found).await) {
        (Ok(u), Ok(f)) => (u, f),
        (Err(r), _) | (_, Err(r)) => return message(gw, req, &r),
    };
    let flash = match req.query_param("done").as_deref() {
        Some("disabled") => Some("Two-factor authentication is off."),
        Some("saved") => Some("Saved."),
        Some("sms_on") => Some("SMS codes are on."),
        Some("sms_off") => Some("SMS codes are off."),
        Some("key_added") => Some("Security key added."),
        Some("key_removed") => Some("Security key removed."),
        Some("signed_out_elsewhere") => Some("Signed out there, and at the dashboard too."),
        Some("device_forgotten") => Some("Device forgotten: it will be asked for the second step again."),
        _ => None,
    };
    let owned = gw
        .directory
        .memberships(&user.id)
        .into_iter()
        .filter(|m| m.role == crate::identity::Role::Owner && gw.directory.is_active(&m.account_id))
        .map(|m| html::OwnedAccount {
            require: gw.directory.requirement(&m.account_id).0,
            id: m.account_id,
            name: m.account_name,
        })
        .collect();
    let user_id = &found.session.user_id;
    // A refused number form is shown again with what was typed.
    let sms_enable = OwnRoute::Factor(
        Kind::Sms,
        Action {
            step: Step::Begin,
            api: false,
        },
    );
    let typed = (req.route == sms_enable).then(|| {
        let form = req.form();
        let field = |name: &str| form.get(name).cloned().unwrap_or_default();
        (field("country"), field("phone"))
    });
    let view = html::SettingsView {
        email: &user.email,
        enabled: factors.totp_on(),
        has_second_factor: gw.directory.has_second_factor(user_id),
        totp_off_requires: gw.directory.due_without(user_id, Kind::Totp),
        recovery_left: factors.recovery_left(),
        flash,
        error: error.map(|r| r.message.as_str()),
        owned,
        sms: gw.sms.as_ref().map(|_| html::SmsView {
            on: factors.sms_on(),
            masked: factors.get::<crate::store::SmsFactor>().map(|s| s.masked.clone()),
            allowed: gw.directory.sms_allowed(&user.id),
            off_requires: gw.directory.due_without(user_id, Kind::Sms),
            typed,
        }),
        sessions: gw
            .list_sessions(user_id)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|l| html::SessionView {
                current: l.token_hash == found.token_hash,
                id: l.id,
                client: l.client.unwrap_or_else(|| "an unknown address".into()),
                browser: l
                    .user_agent
                    .as_deref()
                    .map_or_else(|| "A browser".into(), crate::session::browser_summary),
                started: crate::env::date_time(l.started),
                last_active: crate::env::date_time(l.last_active),
                pending: l.pending,
            })
            .collect(),
        devices: crate::factors::live_devices(&factors, gw.env.now())
            .into_iter()
            .map(|d| html::DeviceView {
                id: d.id,
                label: crate::session::browser_summary(&d.label),
                added: crate::env::date(d.created),
                last_used: d.last_used.map(crate::env::date),
            })
            .collect(),
        webauthn: gw.factors.webauthn.as_ref().map(|_| {
            let keys = factors.webauthn_keys();
            html::WebauthnView {
                keys: keys
                    .iter()
                    .map(|k| html::KeyView {
                        id: k.id.clone(),
                        name: k.name.clone(),
                        added: crate::env::date(k.created),
                        last_used: k.last_used.map(crate::env::date),
                    })
                    .collect(),
                off_requires: gw.directory.due_without(user_id, Kind::Webauthn),
                can_add: keys.len() < crate::factors::MAX_KEYS,
            }
        }),
    };
    let status = error.map_or(200, |r| r.status);
    let mut frame = req.frame(gw);
    if let Some(r) = error {
        let action = req.path.strip_prefix(gw.config.prefix.as_str()).unwrap_or(&req.path);
        let field = match r.error {
            "invalid_phone" => html::Field::Phone,
            _ => html::Field::Password,
        };
        frame.failed = Some(html::Failed {
            action,
            field,
            message: r.message.as_str(),
        });
    }
    html_reply(status, html::settings(&frame, &view))
}

fn message(gw: &Shared, req: &OwnRequest, r: &Refusal) -> Reply {
    let page = html::message(
        &req.frame(gw),
        "Something went wrong",
        &r.message,
        &settings_url(gw, None),
    );
    html_reply(r.status, page)
}

/// A form whose CSRF token is missing or not this session's.
pub(super) fn expired_form() -> Refusal {
    Refusal::new(403, "csrf", "The form expired. Please try again.")
}

/// Checks the form's CSRF token and the password in it.
pub(super) async fn confirmed<'a>(gw: &Shared, req: &'a OwnRequest) -> Result<&'a Found, Refusal> {
    let form = req.form();
    if !req.csrf_ok(&form) {
        return Err(expired_form());
    }
    let found = req
        .found
        .as_ref()
        .ok_or_else(|| Refusal::new(401, "not_signed_in", "Sign in first."))?;
    let password = form.get("password").map(String::as_str).unwrap_or("");
    actions::confirm_password(gw, found, password, req.client()).await?;
    Ok(found)
}

pub async fn enable(gw: &Shared, req: &OwnRequest) -> Reply {
    let started = match confirmed(gw, req).await {
        Ok(found) => actions::begin_totp(gw, found).await.map(drop),
        Err(r) => Err(r),
    };
    match started {
        Ok(()) => {
            let setup = format!("{}/settings/totp/setup", gw.config.prefix);
            match next_of(req, &req.form()) {
                Some(next) => redirect(&format!("{setup}?next={}", encode_component(&next))),
                None => redirect(&setup),
            }
        }
        // A user sent to enroll stays on that page, which says why.
        Err(r) if req.form().get("from").is_some_and(|f| f == "enroll") => {
            super::enroll::show_with(gw, req, Some(&r.message))
        }
        Err(r) => show(gw, req, Some(&r)).await,
    }
}

pub async fn setup(gw: &Shared, req: &OwnRequest) -> Reply {
    let Some(found) = &req.found else {
        return redirect(&settings_url(gw, None));
    };
    match actions::current_enrollment(gw, found).await {
        Ok(Some(e)) => {
            let next = next_of(req, &Default::default());
            let page = html::totp_setup(&req.frame(gw), &e.qr_svg, &e.secret_base32, None, next.as_deref());
            html_reply(200, page)
        }
        _ => redirect(&settings_url(gw, None)),
    }
}

pub async fn verify(gw: &Shared, req: &OwnRequest) -> Reply {
    let form = req.form();
    let Some(found) = req.found.as_ref().filter(|_| req.csrf_ok(&form)) else {
        return redirect(&settings_url(gw, None));
    };
    let code = form.get("code").cloned().unwrap_or_default();
    let next = next_of(req, &form);
    match actions::confirm_totp(gw, found, code, req.client()).await {
        Ok(codes) => html_reply(200, html::recovery_codes(&req.frame(gw), &codes, true, next.as_deref())),
        Err(r) if r.error == "wrong_code" || r.error == "not_a_code" => match actions::current_enrollment(gw, found)
            .await
        {
            Ok(Some(e)) => {
                let text = match r.error {
                    "wrong_code" => "That code is not right. Check the app and try the current code.",
                    _ => r.message.as_str(),
                };
                let page = html::totp_setup(&req.frame(gw), &e.qr_svg, &e.secret_base32, Some(text), next.as_deref());
                html_reply(400, page)
            }
            _ => redirect(&settings_url(gw, None)),
        },
        Err(r) => show(gw, req, Some(&r)).await,
    }
}

pub async fn disable(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match confirmed(gw, req).await {
        Ok(f) => f,
        Err(r) => return show(gw, req, Some(&r)).await,
    };
    match actions::disable_totp(gw, found, req.client()).await {
        Ok(()) => redirect(&settings_url(gw, Some("disabled"))),
        Err(r) => show(gw, req, Some(&r)).await,
    }
}

pub async fn regenerate(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match confirmed(gw, req).await {
        Ok(f) => f,
        Err(r) => return show(gw, req, Some(&r)).await,
    };
    match actions::regenerate(gw, found, req.client()).await {
        Ok(codes) => html_reply(200, html::recovery_codes(&req.frame(gw), &codes, false, None)),
        Err(r) => show(gw, req, Some(&r)).await,
    }
}

/// The owner's "Require two-factor authentication for all account users".
pub async fn require(gw: &Shared, req: &OwnRequest) -> Reply {
    let form = req.form();
    let Some(found) = req.found.as_ref().filter(|_| req.csrf_ok(&form)) else {
        return show(gw, req, Some(&expired_form())).await;
    };
    let account = form.get("account").cloned().unwrap_or_default();
    let on = form.get("require").is_some_and(|v| v == "on");
    match actions::set_requirement(gw, found, &account, on, req.client()).await {
        Ok(()) => redirect(&settings_url(gw, Some("saved"))),
        Err(r) => show(gw, req, Some(&r)).await,
    }
}
