//! Security keys, as the JSON API (`/api/webauthn/...`) and as the page
//! forms the two buttons post: the button's script asks the API for the
//! browser's options, asks the browser for a key, and posts the answer
//! through its form, so what follows (recovery codes, the dashboard) is an
//! ordinary page.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::challenge::with_released_cookies;
use super::html::CodeField;
use super::request::{refusal_json, safe_next, with_retry, OwnRequest, Shared};
use super::settings::{confirmed, expired_form, settings_url, show};
use super::{html, html_reply, json, redirect, Reply};
use crate::actions::{self, Refusal};

#[derive(Deserialize)]
struct RegisterStart {
    password: String,
    name: String,
}

/// `POST /api/webauthn/register/start` `{"password","name"}`.
pub async fn api_register_start(gw: &Shared, req: &OwnRequest) -> Reply {
    let body: RegisterStart = match req.json_body() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    // A bad name is refused before the password is tried.
    if let Err(e) = crate::factors::key_name(&body.name) {
        return refusal_json(&Refusal::from(e));
    }
    let found = match req.password_confirmed(gw, &body.password).await {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    match actions::webauthn::begin_registration(gw, found, &body.name).await {
        Ok(options) => json(200, options),
        Err(r) => refusal_json(&r),
    }
}

/// `POST /api/webauthn/register/finish` with the browser's credential.
pub async fn api_register_finish(gw: &Shared, req: &OwnRequest) -> Reply {
    let body: serde_json::Value = match req.json_body() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    match actions::webauthn::finish_registration(gw, found, &body.to_string(), req.client()).await {
        Ok(made) => {
            let mut answer = json!({ "id": made.id, "name": made.name });
            if let Some(codes) = made.recovery_codes {
                answer["recovery_codes"] = json!(codes);
            }
            json(200, answer)
        }
        Err(r) => refusal_json(&r),
    }
}

/// The settings form's "Add security key", once the browser has answered.
pub async fn register(gw: &Shared, req: &OwnRequest) -> Reply {
    let form = req.form();
    let Some(found) = req.found.as_ref().filter(|_| req.csrf_ok(&form)) else {
        return show(gw, req, Some(&expired_form())).await;
    };
    let credential = form.get("credential").map_or("", String::as_str);
    match actions::webauthn::finish_registration(gw, found, credential, req.client()).await {
        Ok(made) => match made.recovery_codes {
            Some(codes) => html_reply(200, html::recovery_codes(&req.frame(gw), &codes, true, None)),
            None => redirect(&settings_url(gw, Some("key_added"))),
        },
        Err(r) => show(gw, req, Some(&r)).await,
    }
}

/// "Remove" beside a key on the settings page (password confirmed).
pub async fn remove(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match confirmed(gw, req).await {
        Ok(f) => f,
        Err(r) => return show(gw, req, Some(&r)).await,
    };
    let id = req.form().get("id").cloned().unwrap_or_default();
    match actions::webauthn::remove(gw, found, &id, req.client()).await {
        Ok(()) => redirect(&settings_url(gw, Some("key_removed"))),
        Err(r) => show(gw, req, Some(&r)).await,
    }
}

/// `DELETE /api/webauthn/{id}` `{"password"}`.
pub async fn api_remove(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.with_password(gw).await {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let id = req.item(gw, "/api/webauthn/");
    match actions::webauthn::remove(gw, found, id, req.client()).await {
        Ok(()) => json(200, json!({})),
        Err(r) => refusal_json(&r),
    }
}

/// `POST /api/webauthn/challenge/start`: the request options for the
/// user's keys.
pub async fn api_challenge_start(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Err(reply) = req.json_only() {
        return reply;
    }
    match actions::webauthn::begin_sign_in(gw, found).await {
        Ok(options) => json(200, options),
        Err(r) => refusal_json(&r),
    }
}

/// `POST /api/webauthn/challenge/finish` with the browser's assertion (or
/// `{"credential", "remember_device"}`): `204` and the released session,
/// like `POST /api/challenge`.
pub async fn api_challenge_finish(gw: &Shared, req: &OwnRequest) -> Reply {
    let mut body: serde_json::Value = match req.json_body() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let remember = body["remember_device"] == true;
    if body.get("credential").is_some() {
        body = body["credential"].take();
    }
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    match actions::webauthn::finish_sign_in(gw, found, &body.to_string(), remember, req.client()).await {
        Ok(released) => with_released_cookies(
            gw,
            Reply::new(204, &[("cache-control", "no-store")], Bytes::new()),
            &released,
        ),
        Err(r) => refusal_json(&r),
    }
}

/// The challenge page's "Use security key", once the browser has answered.
pub async fn challenge(gw: &Shared, req: &OwnRequest) -> Reply {
    let form = req.form();
    let next = safe_next(form.get("next").map(String::as_str));
    let page = |status, message: String| {
        let next = &next;
        async move { super::challenge::page(gw, req, next, status, Some((CodeField::Key, &message))).await }
    };
    let Some(found) = req.found.as_ref().filter(|_| req.csrf_ok(&form)) else {
        return page(403, "The form expired. Please try again.".into()).await;
    };
    let credential = form.get("credential").map_or("", String::as_str);
    let remember = form.get("remember_device").is_some_and(|v| v == "on");
    match actions::webauthn::finish_sign_in(gw, found, credential, remember, req.client()).await {
        Ok(released) => with_released_cookies(gw, redirect(&next), &released),
        Err(r) => with_retry(page(r.status, r.message.clone()).await, &r),
    }
}
