//! The operator's requests, as plain functions from a parsed request to a
//! JSON answer: activation, an account's compliance view, resetting a user's
//! second factor, the audit trail, metrics. Blocking store work runs on the
//! blocking pool.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::gateway::Gateway;
use crate::identity::Role;
use crate::store::{AuditEvent, StoreError, UserRecord};

/// An answer of the admin API.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminReply {
    pub status: u16,
    pub content_type: &'static str,
    /// The one method a path answers, on a `405`.
    pub allow: Option<&'static str>,
    pub body: Vec<u8>,
}

impl AdminReply {
    fn json(status: u16, v: Value) -> Self {
        AdminReply {
            status,
            content_type: "application/json",
            allow: None,
            body: v.to_string().into_bytes(),
        }
    }

    pub fn error(status: u16, error: &str, message: &str) -> Self {
        AdminReply::json(status, json!({ "error": error, "message": message }))
    }
}

fn store_failed(e: StoreError) -> AdminReply {
    e.log("admin request could not use the store");
    AdminReply::error(503, "unavailable", "The store could not be read or written.")
}

/// The admin endpoints by path; each answers one method.
#[derive(Debug, PartialEq)]
enum Op<'a> {
    Activation(&'a str),
    Account(&'a str),
    ResetUser(&'a str),
    SignOutUser(&'a str),
    Audit,
    Backup,
    OpenApi,
    Metrics,
}

impl<'a> Op<'a> {
    /// The endpoint at `parts` (the path's decoded segments) and its method.
    fn of(parts: &[&'a str]) -> Option<(&'static str, Op<'a>)> {
        Some(match *parts {
            ["admin", "accounts", id, "activation"] => ("PUT", Op::Activation(id)),
            ["admin", "accounts", id] => ("GET", Op::Account(id)),
            ["admin", "users", user, "2fa"] => ("DELETE", Op::ResetUser(user)),
            ["admin", "users", user, "sessions"] => ("DELETE", Op::SignOutUser(user)),
            ["admin", "audit"] => ("GET", Op::Audit),
            ["admin", "backup"] => ("POST", Op::Backup),
            ["admin", "openapi.json"] => ("GET", Op::OpenApi),
            ["metrics"] => ("GET", Op::Metrics),
            _ => return None,
        })
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
    // Segments are percent-decoded: a user named by email arrives as `bob%40acme.test`.
    let parts: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|p| percent_decode_str(p).decode_utf8_lossy().into_owned())
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let Some((allowed, op)) = Op::of(&parts) else {
        return AdminReply::error(404, "not_found", "There is no such admin endpoint.");
    };
    if method != allowed {
        let mut reply = AdminReply::error(405, "method_not_allowed", "This endpoint does not answer that method.");
        reply.allow = Some(allowed);
        return reply;
    }
    let result = match op {
        Op::Activation(id) => activation(gw, id, body).await,
        Op::Account(id) => account(gw, id).await,
        Op::ResetUser(user) => reset_user(gw, user).await,
        Op::SignOutUser(user) => sign_out_user(gw, user).await,
        Op::Audit => audit(gw, query).await,
        Op::Backup => backup(gw).await,
        Op::OpenApi => Ok(AdminReply::json(200, crate::openapi::admin_api())),
        Op::Metrics => Ok(AdminReply {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            allow: None,
            body: gw
                .metrics
                .render(
                    gw.sessions.len(),
                    gw.directory.users_held(),
                    crate::metrics::StoreGauges {
                        reads: gw.store.reads(),
                        up: gw.store.health().is_up(),
                    },
                )
                .into_bytes(),
        }),
    };
    result.unwrap_or_else(|reply| reply)
}

/// The whole store, one moment's, as a backup file (`store::backup`).
async fn backup(gw: &Arc<Gateway>) -> Result<AdminReply, AdminReply> {
    match crate::store::backup::write(&gw.store, gw.env.now()).await {
        Ok(body) => {
            gw.audit("backup", None, None, format!("{} bytes", body.len()));
            Ok(AdminReply {
                status: 200,
                content_type: "application/x-ndjson",
                allow: None,
                body,
            })
        }
        Err(e @ crate::store::backup::BackupError::Shared(_)) => {
            Err(AdminReply::error(409, "use_pg_dump", &e.to_string()))
        }
        Err(e) => {
            tracing::error!(error = %e, "backup failed");
            Err(AdminReply::error(503, "unavailable", "The store could not be read."))
        }
    }
}

#[derive(Deserialize)]
struct ActivationBody {
    active: bool,
}

async fn activation(gw: &Arc<Gateway>, id: &str, body: &[u8]) -> Result<AdminReply, AdminReply> {
    let b: ActivationBody = serde_json::from_slice(body)
        .map_err(|e| AdminReply::error(400, "bad_request", &format!("expected {{\"active\": bool}}: {e}")))?;
    let acc = gw
        .store
        .update_account::<StoreError>(id, id, |acc| {
            acc.active = Some(b.active);
            Ok(())
        })
        .await
        .map_err(store_failed)?;
    gw.directory.put_account(&acc);
    let kind = if b.active { "activation_on" } else { "activation_off" };
    gw.audit_account(kind, None, Some(id), None, "by the operator".into());
    Ok(AdminReply::json(200, json!({ "id": acc.id, "active": b.active })))
}

async fn account(gw: &Arc<Gateway>, id: &str) -> Result<AdminReply, AdminReply> {
    let (acc, users) = async {
        let Some(acc) = gw.store.account(id).await? else {
            return Ok((None, Vec::new()));
        };
        let mut users = Vec::new();
        for u in gw.store.users().await? {
            let Some(m) = u.accounts.iter().find(|m| m.account_id == id) else {
                continue;
            };
            let f = gw.store.factors(&u.id).await?;
            users.push(json!({
                "id": u.id,
                "email": u.email,
                "role": match m.role { Role::Owner => "owner", Role::Member => "member" },
                "has_2fa": gw.directory.counts_as_second_factor(&u.accounts, crate::factors::KindSet::of(&f)),
                "totp_enabled": f.totp_on(),
                "sms_enabled": f.sms_on(),
                "recovery_codes_left": f.recovery_left(),
                "last_login": u.last_login,
            }));
        }
        Ok::<_, StoreError>((Some(acc), users))
    }
    .await
    .map_err(store_failed)?;
    let acc = acc.ok_or_else(|| AdminReply::error(404, "not_found", "No such account is known to the gateway."))?;
    // One rule for "has a second factor", the one enforcement and the pages
    // use (`Directory::has_second_factor`): TOTP, or SMS where it is allowed.
    let compliant = users.iter().filter(|u| u["has_2fa"] == true).count();
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

/// The user an operator names, by id or by email (ids first: an id that
/// looks like an email is still that id). An email is matched exactly,
/// then ignoring ASCII case; two users under one email are refused.
fn find_user(users: Vec<UserRecord>, key: &str) -> Result<UserRecord, AdminReply> {
    let not_found = || AdminReply::error(404, "not_found", "No such user is known to the gateway.");
    if let Some(u) = users.iter().find(|u| u.id == key) {
        return Ok(u.clone());
    }
    let exact: Vec<&UserRecord> = users.iter().filter(|u| u.email == key).collect();
    let matches = if exact.is_empty() {
        users.iter().filter(|u| u.email.eq_ignore_ascii_case(key)).collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [] => Err(not_found()),
        [u] => Ok((*u).clone()),
        several => {
            let ids: Vec<&str> = several.iter().map(|u| u.id.as_str()).collect();
            Err(AdminReply::error(
                409,
                "ambiguous",
                &format!(
                    "{key} is the email of several users; name one by id: {}",
                    ids.join(", ")
                ),
            ))
        }
    }
}

/// Removes a user's second factor. Their signed-in sessions stay signed in;
/// an account requirement sends them to enrollment at their next request.
async fn reset_user(gw: &Arc<Gateway>, key: &str) -> Result<AdminReply, AdminReply> {
    let users = gw.store.users().await.map_err(store_failed)?;
    let user = find_user(users, key)?;
    let removed = gw
        .store
        .update_factors::<_, StoreError>(&user.id, |f| {
            let had = crate::factors::KindSet::of(f).counting() || f.get::<crate::store::PendingTotp>().is_some();
            *f = Default::default();
            Ok(had)
        })
        .await
        .map_err(store_failed)?;
    let id = user.id.as_str();
    for kind in crate::factors::Kind::ALL {
        gw.directory.set_factor(id, kind, false);
    }
    gw.audit(
        "admin_reset",
        Some(id),
        None,
        "second factor removed by the operator".into(),
    );
    Ok(AdminReply::json(
        200,
        json!({ "id": id, "email": user.email, "removed": removed }),
    ))
}

/// Signs every session of a user out, on every replica, with the
/// dashboard sessions they hold.
async fn sign_out_user(gw: &Arc<Gateway>, key: &str) -> Result<AdminReply, AdminReply> {
    let users = gw.store.users().await.map_err(store_failed)?;
    let user = find_user(users, key)?;
    let sessions = gw.list_sessions(&user.id).await.map_err(store_failed)?;
    let mut revoked = 0;
    for s in &sessions {
        if gw.revoke_session(&user.id, &s.token_hash, None).await {
            revoked += 1;
        }
    }
    gw.audit(
        "admin_sign_out",
        Some(&user.id),
        None,
        format!("{revoked} session(s) signed out by the operator"),
    );
    Ok(AdminReply::json(
        200,
        json!({ "id": user.id, "email": user.email, "revoked": revoked }),
    ))
}

/// Whether an audit event belongs in a query for `user` and/or `account`.
/// An account's trail is its own events (requirement, activation) and its
/// members' events that name no other account (sign-ins, enabled,
/// disabled, forced, failures, resets).
fn about(e: &AuditEvent, user: Option<&str>, account: Option<&str>, members: &HashSet<String>) -> bool {
    let user_ok = user.is_none_or(|u| e.user_id.as_deref() == Some(u));
    let account_ok = account.is_none_or(|a| match (&e.account_id, &e.user_id) {
        (Some(of), _) => of == a,
        (None, Some(u)) => members.contains(u),
        (None, None) => false,
    });
    user_ok && account_ok
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
    let events = async {
        let users = match (&user, &account) {
            (None, None) => Vec::new(),
            _ => gw.store.users().await?,
        };
        // A user may be named by email here too; an unknown one simply has no events.
        let user = user.map(|key| find_user(users.clone(), &key).map_or(key, |u| u.id));
        let members: HashSet<String> = match &account {
            Some(a) => users
                .into_iter()
                .filter(|u| u.accounts.iter().any(|m| &m.account_id == a))
                .map(|u| u.id)
                .collect(),
            None => HashSet::new(),
        };
        gw.store
            .audit_query(limit, |e| about(e, user.as_deref(), account.as_deref(), &members))
            .await
    }
    .await
    .map_err(store_failed)?;
    Ok(AdminReply::json(200, json!({ "events": events })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Membership;

    fn user(id: &str, email: &str, account: &str) -> UserRecord {
        UserRecord {
            id: id.into(),
            email: email.into(),
            accounts: vec![Membership {
                account_id: account.into(),
                account_name: account.into(),
                role: Role::Member,
            }],
            first_seen: 0,
            last_login: 0,
        }
    }

    #[test]
    fn each_admin_path_answers_one_method_and_an_unknown_path_none() {
        assert_eq!(
            Op::of(&["admin", "users", "bob@acme.test", "2fa"]),
            Some(("DELETE", Op::ResetUser("bob@acme.test")))
        );
        assert_eq!(Op::of(&["admin", "backup"]), Some(("POST", Op::Backup)));
        assert_eq!(Op::of(&["metrics"]), Some(("GET", Op::Metrics)));
        assert_eq!(Op::of(&["admin", "accounts"]), None);
        assert_eq!(Op::of(&["admin", "accounts", "acme", "activation", "x"]), None);
    }

    #[test]
    fn an_operator_names_a_user_by_id_or_email_and_an_ambiguous_email_is_refused() {
        let users = vec![
            user("u-bob", "bob@acme.test", "acme"),
            user("bob@acme.test", "robert@acme.test", "acme"),
            user("u-b1", "b@acme.test", "acme"),
            user("u-b2", "B@acme.test", "acme"),
        ];
        let found = |key: &str| find_user(users.clone(), key).map(|u| u.id).map_err(|r| r.status);
        assert_eq!(found("u-bob"), Ok("u-bob".into()));
        assert_eq!(
            found("bob@acme.test"),
            Ok("bob@acme.test".into()),
            "an id wins over an email"
        );
        assert_eq!(found("ROBERT@acme.test"), Ok("bob@acme.test".into()));
        assert_eq!(found("B@acme.test"), Ok("u-b2".into()), "an exact email first");
        assert_eq!(found("b@ACME.test"), Err(409));
        assert_eq!(found("nobody@acme.test"), Err(404));
    }

    #[test]
    fn an_accounts_trail_has_its_own_and_its_members_events_only() {
        let event = |user: Option<&str>, account: Option<&str>| AuditEvent {
            at: 0,
            kind: "k".into(),
            user_id: user.map(str::to_string),
            account_id: account.map(str::to_string),
            client: None,
            detail: String::new(),
        };
        let members: HashSet<String> = ["u-bob".to_string()].into();
        let acme = |e: &AuditEvent| about(e, None, Some("acme"), &members);
        assert!(acme(&event(None, Some("acme"))), "activation");
        assert!(acme(&event(Some("u-alice"), Some("acme"))), "a requirement, by anyone");
        assert!(acme(&event(Some("u-bob"), None)), "a member's own event");
        assert!(
            !acme(&event(Some("u-bob"), Some("globex"))),
            "a member's act in another account"
        );
        assert!(!acme(&event(Some("u-carol"), None)), "not a member");
        assert!(!acme(&event(None, None)));
        assert!(about(
            &event(Some("u-carol"), None),
            Some("u-carol"),
            None,
            &HashSet::new()
        ));
    }
}
