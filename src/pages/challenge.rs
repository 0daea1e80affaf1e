//! The second step of sign-in, as a page and as `POST /api/challenge`.

use bytes::Bytes;

use super::html::CodeField;
use super::request::{refusal_json, safe_next, with_retry, OwnRequest, Shared};
use super::{html, html_reply, Reply};
use crate::actions;
use crate::cookies;

/// The challenge page, with what the user's factors allow.
pub async fn page(gw: &Shared, req: &OwnRequest, next: &str, status: u16, error: Option<(CodeField, &str)>) -> Reply {
    // Offer only what the user has: an SMS-only user has no recovery codes.
    let (totp, sms, recovery, keys) = match &req.found {
        Some(found) => match actions::factors(gw, found).await {
            Ok(f) => (
                f.totp_on(),
                f.get::<crate::store::SmsFactor>()
                    .map(|s| s.masked.clone())
                    .filter(|_| gw.sms.is_some()),
                f.recovery_left() > 0,
                !f.webauthn_keys().is_empty() && gw.factors.webauthn.is_some(),
            ),
            Err(_) => (true, None, true, false),
        },
        None => (true, None, true, false),
    };
    let sms_sent = match (&req.found, &gw.sms) {
        // Unknown (the store is out of reach): the page offers to send one.
        (Some(found), Some(s)) if sms.is_some() => s
            .codes
            .signing_in(&found.session.user_id, gw.env.now())
            .await
            .unwrap_or(false),
        _ => false,
    };
    let view = html::ChallengeView {
        next,
        error,
        totp,
        sms: sms.as_deref(),
        sms_sent,
        recovery,
        keys,
        remember_days: gw.config.second_factor.remember_device_days,
        step_up: req
            .found
            .as_ref()
            .is_some_and(|f| f.session.stage == crate::session::Stage::Authenticated),
    };
    html_reply(status, html::challenge(&req.frame(gw), &view))
}

pub async fn form(gw: &Shared, req: &OwnRequest) -> Reply {
    let next = safe_next(req.query_param("next").as_deref());
    page(gw, req, &next, 200, None).await
}

/// "Send a code by SMS" on the challenge page.
pub async fn send_sms(gw: &Shared, req: &OwnRequest) -> Reply {
    let form = req.form();
    let next = safe_next(form.get("next").map(String::as_str));
    let Some(found) = req.found.as_ref().filter(|_| req.csrf_ok(&form)) else {
        let expired = (CodeField::App, "The form expired. Please try again.");
        return page(gw, req, &next, 403, Some(expired)).await;
    };
    match actions::sms::send_sign_in_code(gw, found, req.client()).await {
        // The page now asks for the code from the message, and says where it went.
        Ok(_) => page(gw, req, &next, 200, None).await,
        Err(r) => with_retry(
            page(gw, req, &next, r.status, Some((CodeField::App, &r.message))).await,
            &r,
        ),
    }
}

/// `POST /api/challenge/sms`: 204 once the code is on its way.
pub async fn api_send_sms(gw: &Shared, req: &OwnRequest) -> Reply {
    if let Err(reply) = req.json_only() {
        return reply;
    }
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    match actions::sms::send_sign_in_code(gw, found, req.client()).await {
        Ok(_) => Reply::new(204, &[("cache-control", "no-store")], Bytes::new()),
        Err(r) => refusal_json(&r),
    }
}

pub async fn submit(gw: &Shared, req: &OwnRequest) -> Reply {
    let form = req.form();
    let next = safe_next(form.get("next").map(String::as_str));
    // Both forms post here; a refusal is said beside the field that was used.
    let field = CodeField::of_form(form.get("factor").map(String::as_str));
    if !req.csrf_ok(&form) {
        let expired = (field, "The form expired. Please enter the code again.");
        return page(gw, req, &next, 403, Some(expired)).await;
    }
    let (Some(found), Some(code)) = (&req.found, form.get("code")) else {
        return page(gw, req, &next, 400, Some((field, "Enter a code."))).await;
    };
    let remember = form.get("remember_device").is_some_and(|v| v == "on");
    match actions::pass_challenge(gw, found, code.clone(), remember, req.client()).await {
        Ok(released) => with_released_cookies(gw, super::redirect(&next), &released),
        Err(r) => with_retry(page(gw, req, &next, r.status, Some((field, &r.message))).await, &r),
    }
}

/// `{"code", "remember_device"}`, the challenge's JSON body.
#[derive(serde::Deserialize)]
struct ChallengeBody {
    code: String,
    #[serde(default)]
    remember_device: bool,
}

pub async fn api(gw: &Shared, req: &OwnRequest) -> Reply {
    let body: ChallengeBody = match req.json_body() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    match actions::pass_challenge(gw, found, body.code, body.remember_device, req.client()).await {
        Ok(released) => with_released_cookies(
            gw,
            Reply::new(204, &[("cache-control", "no-store")], Bytes::new()),
            &released,
        ),
        Err(r) => refusal_json(&r),
    }
}

/// The upstream's held cookies and the new gateway cookie, on any answer.
pub(super) fn with_released_cookies(gw: &Shared, mut reply: Reply, released: &actions::Released) -> Reply {
    for c in &released.set_cookies {
        reply = reply.with_header("set-cookie", c);
    }
    if let Some(device) = &released.device {
        let days = gw.config.second_factor.remember_device_days;
        reply = reply.with_header("set-cookie", &cookies::device_cookie(&gw.config.cookie, device, days));
    }
    reply.with_header(
        "set-cookie",
        &cookies::gateway_cookie(&gw.config.cookie, &released.token),
    )
}
