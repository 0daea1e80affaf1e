//! The SMS factor's pages and JSON endpoints: enable (password, country,
//! number), the code sent to the new number, disable.

use serde::Deserialize;
use serde_json::json;

use super::request::{refusal_json, CodeBody, OwnRequest, Shared};
use super::settings::{confirmed, settings_url, show};
use super::{html, html_reply, json, redirect, Reply};
use crate::actions::{self, Refusal};

pub async fn enable(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match confirmed(gw, req).await {
        Ok(f) => f,
        Err(r) => return show(gw, req, Some(&r)).await,
    };
    let form = req.form();
    let (country, phone) = (
        form.get("country").cloned().unwrap_or_default(),
        form.get("phone").cloned().unwrap_or_default(),
    );
    match actions::sms::enroll(gw, found, &country, &phone, req.client()).await {
        Ok(_) => redirect(&format!("{}/settings/sms/setup", gw.config.prefix)),
        Err(r) => show(gw, req, Some(&r)).await,
    }
}

/// The number an enrollment code went to; none when the store cannot say.
async fn enrolling(
    gw: &Shared,
    sms: &crate::sms::SmsService,
    found: &crate::session::Found,
) -> Option<crate::sms::Phone> {
    let pending = sms.codes.enrolling(&found.session.user_id, gw.env.now()).await;
    pending
        .map_err(|e| e.log("cannot read an SMS enrollment"))
        .ok()
        .flatten()
}

pub async fn setup(gw: &Shared, req: &OwnRequest) -> Reply {
    let pending = match (&req.found, &gw.sms) {
        (Some(found), Some(sms)) => enrolling(gw, sms, found).await,
        _ => None,
    };
    match pending {
        Some(phone) => html_reply(200, html::sms_setup(&req.frame(gw), &phone.masked(), None)),
        None => redirect(&settings_url(gw, None)),
    }
}

pub async fn verify(gw: &Shared, req: &OwnRequest) -> Reply {
    let form = req.form();
    let Some(found) = req.found.as_ref().filter(|_| req.csrf_ok(&form)) else {
        return redirect(&settings_url(gw, None));
    };
    // Read before redeeming: a wrong code leaves the enrollment as it was.
    let masked = match &gw.sms {
        Some(sms) => enrolling(gw, sms, found).await.map(|p| p.masked()),
        None => None,
    };
    let code = form.get("code").cloned().unwrap_or_default();
    match actions::sms::verify(gw, found, &code, req.client()).await {
        Ok(()) => redirect(&settings_url(gw, Some("sms_on"))),
        Err(r) if r.error == "wrong_code" || r.error == "not_a_code" => match masked {
            Some(m) => html_reply(400, html::sms_setup(&req.frame(gw), &m, Some(&r.message))),
            None => show(gw, req, Some(&r)).await,
        },
        Err(r) => show(gw, req, Some(&r)).await,
    }
}

pub async fn disable(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match confirmed(gw, req).await {
        Ok(f) => f,
        Err(r) => return show(gw, req, Some(&r)).await,
    };
    match actions::sms::disable(gw, found, req.client()).await {
        Ok(()) => redirect(&settings_url(gw, Some("sms_off"))),
        Err(r) => show(gw, req, Some(&r)).await,
    }
}

#[derive(Deserialize)]
struct EnrollBody {
    password: String,
    country: String,
    phone: String,
}

async fn api_result(r: Result<(), Refusal>) -> Reply {
    match r {
        Ok(()) => json(200, json!({})),
        Err(r) => refusal_json(&r),
    }
}

pub async fn api_enroll(gw: &Shared, req: &OwnRequest) -> Reply {
    let body: EnrollBody = match req.json_body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let found = match req.password_confirmed(gw, &body.password).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let result = actions::sms::enroll(gw, found, &body.country, &body.phone, req.client()).await;
    api_result(result.map(drop)).await
}

pub async fn api_verify(gw: &Shared, req: &OwnRequest) -> Reply {
    let (body, found) = match (req.json_body::<CodeBody>(), req.signed_in()) {
        (Ok(b), Ok(f)) => (b, f),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    api_result(actions::sms::verify(gw, found, &body.code, req.client()).await).await
}

pub async fn api_disable(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.with_password(gw).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    api_result(actions::sms::disable(gw, found, req.client()).await).await
}
