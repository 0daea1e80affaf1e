//! The user's sessions: the list (JSON and the settings page's card) and
//! signing one, or every other, out. Signing out needs no password: it only
//! takes access away, and the user's current session is never ended here.

use serde_json::json;

use super::request::{refusal_json, OwnRequest, Shared};
use super::settings::{expired_form, settings_url, show};
use super::{json, json_error, redirect, Reply};
use crate::actions::Refusal;
use crate::gateway::Listed;
use crate::session::Found;

fn unavailable(e: crate::store::StoreError) -> Refusal {
    Refusal::from(crate::factors::FactorError::from(e))
}

/// `GET /api/sessions` → `[{"id","client","user_agent","started","last_active","current"}]`.
pub async fn api_list(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    match gw.list_sessions(&found.session.user_id).await {
        Ok(list) => json(200, json!(list.iter().map(|l| view(l, found)).collect::<Vec<_>>())),
        Err(e) => refusal_json(&unavailable(e)),
    }
}

fn view(l: &Listed, found: &Found) -> serde_json::Value {
    json!({
        "id": l.id,
        "client": l.client,
        "user_agent": l.user_agent,
        "started": l.started,
        "last_active": l.last_active,
        "current": l.token_hash == found.token_hash,
        "pending": l.pending,
    })
}

/// Signs out the user's sessions `pick` chooses, never the current one;
/// returns how many ended.
async fn revoke(
    gw: &Shared,
    req: &OwnRequest,
    found: &Found,
    pick: impl Fn(&Listed) -> bool,
) -> Result<usize, Refusal> {
    let user_id = found.session.user_id.to_string();
    let list = gw.list_sessions(&user_id).await.map_err(unavailable)?;
    let mut ended = 0;
    for l in list.iter().filter(|l| l.token_hash != found.token_hash && pick(l)) {
        if gw.revoke_session(&user_id, &l.token_hash, req.client.clone()).await {
            ended += 1;
        }
    }
    Ok(ended)
}

/// `DELETE /api/sessions/{id}`.
pub async fn api_revoke(gw: &Shared, req: &OwnRequest) -> Reply {
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    let id = req.item(gw, "/api/sessions/");
    match revoke(gw, req, found, |l| l.id == id).await {
        Ok(0) => json_error(
            404,
            "not_found",
            "There is no such session of yours (your current one is ended by signing out).",
        ),
        Ok(_) => json(200, json!({})),
        Err(r) => refusal_json(&r),
    }
}

/// `POST /api/sessions/revoke-others` → `{"revoked": n}`.
pub async fn api_revoke_others(gw: &Shared, req: &OwnRequest) -> Reply {
    if let Err(reply) = req.json_only() {
        return reply;
    }
    let found = match req.signed_in() {
        Ok(f) => f,
        Err(r) => return r,
    };
    match revoke(gw, req, found, |_| true).await {
        Ok(n) => json(200, json!({ "revoked": n })),
        Err(r) => refusal_json(&r),
    }
}

/// "Sign out" beside a session, or "Sign out everywhere else" (no `id`),
/// on the settings page.
pub async fn revoke_form(gw: &Shared, req: &OwnRequest, all_others: bool) -> Reply {
    let form = req.form();
    let Some(found) = req.found.as_ref().filter(|_| req.csrf_ok(&form)) else {
        return show(gw, req, Some(&expired_form())).await;
    };
    let id = form.get("id").cloned().unwrap_or_default();
    match revoke(gw, req, found, |l| all_others || l.id == id).await {
        Ok(_) => redirect(&settings_url(gw, Some("signed_out_elsewhere"))),
        Err(r) => show(gw, req, Some(&r)).await,
    }
}
