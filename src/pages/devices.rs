//! Remembered devices: the list (JSON and on the settings page) and
//! forgetting one. Forgetting needs no password: it only takes access away.

use serde_json::json;

use super::request::{refusal_json, OwnRequest, Shared};
use super::settings::{expired_form, settings_url, show};
use super::{json, redirect, Reply};
use crate::actions;

/// `GET /api/devices` → `[{"id","label","created","last_used"}]`.
pub async fn api_list(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    match actions::factors(gw, found).await {
        Ok(f) => {
            let list: Vec<_> = crate::factors::live_devices(&f, gw.env.now())
                .into_iter()
                .map(|d| json!({ "id": d.id, "label": d.label, "created": d.created, "last_used": d.last_used }))
                .collect();
            json(200, json!(list))
        }
        Err(r) => refusal_json(&r),
    }
}

/// `DELETE /api/devices/{id}`.
pub async fn api_forget(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    // A cross-site form cannot send DELETE; no body is needed.
    let id = req.item(gw, "/api/devices/");
    match actions::forget_device(gw, found, id, req.client()).await {
        Ok(()) => json(200, json!({})),
        Err(r) => refusal_json(&r),
    }
}

/// "Forget" beside a device on the settings page.
pub async fn forget(gw: &Shared, req: &OwnRequest) -> Reply {
    let form = req.form();
    let Some(found) = req.found.as_ref().filter(|_| req.csrf_ok(&form)) else {
        return show(gw, req, Some(&expired_form())).await;
    };
    let id = form.get("id").map_or("", String::as_str);
    match actions::forget_device(gw, found, id, req.client()).await {
        Ok(()) => redirect(&settings_url(gw, Some("device_forgotten"))),
        Err(r) => show(gw, req, Some(&r)).await,
    }
}
