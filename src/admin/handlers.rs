//! The operator's requests, as plain functions from a parsed request to a
//! JSON answer: activation, an account's compliance view, resetting a user's
//! second factor, the audit trail, metrics. Blocking store work runs on the
//! blocking pool.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::gateway::Gateway;
use crate::identity::Role;
use crate::store::{AccountRecord, StoreError};

/// An answer of the admin API.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl AdminReply {
    fn json(status: u16, v: Value) -> Self {
        AdminReply {
            status,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
        }
    }

    pub fn error(status: u16, error: &str, message: &str) -> Self {
        AdminReply::json(status, json!({ "error": error, "message": message }))
    }
}

fn store_failed(e: impl std::fmt::Display) -> AdminReply {
    tracing::error!(error = %e, "admin request could not use the store");
    AdminReply::error(503, "unavailable", "The store could not be read or written.")
}

async fn blocking<T: Send + 'static>(
    gw: &Arc<Gateway>,
    op: impl FnOnce(&Gateway) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AdminReply> {
    let gw = gw.clone();
    match tokio::task::spawn_blocking(move || op(&gw)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(store_failed(e)),
        Err(e) => Err(store_failed(e)),
    }
}

/// Routes one admin request. `path` has no query; `query` is parsed.
pub async fn route(
    gw: &Arc<Gateway>,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> AdminReply {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let result = match (method, parts.as_slice()) {
        ("PUT", ["admin", "accounts", id, "activation"]) => activation(gw, id, body).await,
        ("GET", ["admin", "accounts", id]) => account(gw, id).await,
        ("DELETE", ["admin", "users", id, "2fa"]) => reset_user(gw, id).await,
        ("GET", ["admin", "audit"]) => audit(gw, query).await,
        ("GET", ["metrics"]) => Ok(AdminReply {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            body: gw.metrics.render(gw.sessions.len(), gw.store.reads()).into_bytes(),
        }),
        _ => Err(AdminReply::error(404, "not_found", "There is no such admin endpoint.")),
    };
    result.unwrap_or_else(|reply| reply)
}

#[derive(Deserialize)]
struct ActivationBody {
    active: bool,
}

async fn activation(gw: &Arc<Gateway>, id: &str, body: &[u8]) -> Result<AdminReply, AdminReply> {
    let b: ActivationBody = serde_json::from_slice(body)
        .map_err(|e| AdminReply::error(400, "bad_request", &format!("expected {{\"active\": bool}}: {e}")))?;
    let id_owned = id.to_string();
    let acc = blocking(gw, move |g| {
        let mut acc = g
            .store
            .account(&id_owned)?
            .unwrap_or_else(|| AccountRecord::new(&id_owned, &id_owned));
        acc.active = Some(b.active);
        g.store.put_account(&acc)?;
        g.store.flush()?;
        Ok(acc)
    })
    .await?;
    gw.directory.put_account(&acc);
    let kind = if b.active { "activation_on" } else { "activation_off" };
    gw.audit_account(kind, None, Some(id), None, "by the operator".into());
    Ok(AdminReply::json(200, json!({ "id": acc.id, "active": b.active })))
}

async fn account(gw: &Arc<Gateway>, id: &str) -> Result<AdminReply, AdminReply> {
    let id_owned = id.to_string();
    let (acc, users) = blocking(gw, move |g| {
        let Some(acc) = g.store.account(&id_owned)? else {
            return Ok((None, Vec::new()));
        };
        let mut users = Vec::new();
        for u in g.store.users()? {
            let Some(m) = u.accounts.iter().find(|m| m.account_id == id_owned) else {
                continue;
            };
            let f = g.store.factors(&u.id)?;
            users.push(json!({
                "id": u.id,
                "email": u.email,
                "role": match m.role { Role::Owner => "owner", Role::Member => "member" },
                "totp_enabled": f.totp_on(),
                "sms_enabled": f.sms_on(),
                "recovery_codes_left": f.recovery_left(),
                "last_login": u.last_login,
            }));
        }
        Ok((Some(acc), users))
    })
    .await?;
    let acc = acc.ok_or_else(|| AdminReply::error(404, "not_found", "No such account is known to the gateway."))?;
    let compliant = users.iter().filter(|u| u["totp_enabled"] == true).count();
    Ok(AdminReply::json(
        200,
        json!({
            "id": acc.id,
            "name": acc.name,
            "active": gw.directory.is_active(id),
            "require_2fa": acc.require_2fa,
            "require_changed_by": acc.require_changed_by,
            "require_changed_at": acc.require_changed_at,
            "grace_until": acc.grace_until,
            "users_with_2fa": compliant,
            "users": users,
        }),
    ))
}

async fn reset_user(gw: &Arc<Gateway>, id: &str) -> Result<AdminReply, AdminReply> {
    let id_owned = id.to_string();
    let (known, removed) = blocking(gw, move |g| {
        let known = g.store.user(&id_owned)?.is_some();
        let removed = g.store.update_factors::<_, StoreError>(&id_owned, |f| {
            let had = f.enabled() || f.pending_totp.is_some();
            *f = Default::default();
            Ok(had)
        })?;
        Ok((known, removed))
    })
    .await?;
    if !known {
        return Err(AdminReply::error(
            404,
            "not_found",
            "No such user is known to the gateway.",
        ));
    }
    gw.directory.set_factor(id, crate::directory::Factor::Totp, false);
    gw.directory.set_factor(id, crate::directory::Factor::Sms, false);
    gw.audit(
        "admin_reset",
        Some(id),
        None,
        "second factor removed by the operator".into(),
    );
    Ok(AdminReply::json(200, json!({ "id": id, "removed": removed })))
}

async fn audit(gw: &Arc<Gateway>, query: &HashMap<String, String>) -> Result<AdminReply, AdminReply> {
    let user = query.get("user").filter(|s| !s.is_empty()).cloned();
    let account = query.get("account").filter(|s| !s.is_empty()).cloned();
    let limit = match query.get("limit") {
        None => 100,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| AdminReply::error(400, "bad_request", "limit must be a number from 1 to 10000"))?,
    };
    let events = blocking(gw, move |g| {
        g.store.audit_query(user.as_deref(), account.as_deref(), limit)
    })
    .await?;
    Ok(AdminReply::json(200, json!({ "events": events })))
}
