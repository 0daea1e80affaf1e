//! The JSON API for single-page dashboards and automation: the same
//! operations as the settings pages, with `{"error","message"}` on refusal.

use serde::Deserialize;
use serde_json::json;

use super::request::{refusal_json, CodeBody, OwnRequest, Shared};
use super::{json, json_error, Reply};
use crate::actions;
use crate::identity::Role;

pub async fn status(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (user, factors) = match (actions::user(gw, found).await, actions::factors(gw, found).await) {
        (Ok(u), Ok(f)) => (u, f),
        (Err(r), _) | (_, Err(r)) => return refusal_json(&r),
    };
    let accounts: Vec<_> = user
        .accounts
        .iter()
        .map(|m| {
            json!({
                "id": m.account_id,
                "role": match m.role { Role::Owner => "owner", Role::Member => "member" },
                "require_2fa": gw.directory.requirement(&m.account_id).0,
            })
        })
        .collect();
    json(
        200,
        json!({
            "user": user.email,
            "totp_enabled": factors.totp_on(),
            "sms_enabled": factors.sms_on(),
            "recovery_codes_left": factors.recovery_left(),
            "factors": crate::factors::Kind::ALL.iter().filter_map(|k| k.describe(&factors)).collect::<Vec<_>>(),
            "accounts": accounts,
        }),
    )
}

pub async fn totp_enroll(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.with_password(gw).await {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    match actions::begin_totp(gw, found).await {
        Ok(e) => json(
            200,
            json!({ "otpauth_uri": e.otpauth_uri, "secret": e.secret_base32, "qr_svg": e.qr_svg }),
        ),
        Err(r) => refusal_json(&r),
    }
}

pub async fn totp_verify(gw: &Shared, req: &OwnRequest) -> Reply {
    let body: CodeBody = match req.json_body() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    match actions::confirm_totp(gw, found, body.code, req.client()).await {
        Ok(codes) => json(200, json!({ "recovery_codes": codes })),
        Err(r) => refusal_json(&r),
    }
}

pub async fn totp_disable(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.with_password(gw).await {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    match actions::disable_totp(gw, found, req.client()).await {
        Ok(()) => json(200, json!({})),
        Err(r) => refusal_json(&r),
    }
}

pub async fn regenerate(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.with_password(gw).await {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    match actions::regenerate(gw, found, req.client()).await {
        Ok(codes) => json(200, json!({ "recovery_codes": codes })),
        Err(r) => refusal_json(&r),
    }
}

#[derive(Deserialize)]
struct RequireBody {
    require: bool,
}

/// `PUT /api/accounts/{id}/require`.
pub async fn account_require(gw: &Shared, req: &OwnRequest) -> Reply {
    let body: RequireBody = match req.json_body() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    let rest = req.path.strip_prefix(gw.config.prefix.as_str()).unwrap_or("");
    let Some(account) = crate::policy::account_of(rest) else {
        return json_error(404, "not_found", "There is no such account.");
    };
    match actions::set_requirement(gw, found, account, body.require, req.client()).await {
        Ok(()) => json(200, json!({})),
        Err(r) => refusal_json(&r),
    }
}
