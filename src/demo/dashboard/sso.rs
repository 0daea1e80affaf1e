//! A single sign-on stand-in, so the demo shows users who sign in without a
//! password: `GET /sso/start?email=E` is the identity provider saying yes
//! (it answers `303` to `/sso/callback?ticket=T`), and the callback spends
//! the one-time ticket and sets the session cookie, as a real SSO callback
//! does after the provider's redirect. Where the user was going (`next`)
//! travels with the ticket, as a real provider keeps it in its `state`.

use super::{local_path, new_session_id, parse_form, redirect, text, Resp, State, DEMO_USERS, SESSION_COOKIE};
use http::StatusCode;

/// One parameter of a query string, read as the forms are.
pub(super) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    parse_form(query?.as_bytes()).remove(name)
}

/// `GET /sso/start?email=E&next=P`: any demo user may sign in this way.
pub(super) fn start(state: &State, query: Option<&str>) -> Resp {
    let email = query_param(query, "email").unwrap_or_default();
    let Some(user) = DEMO_USERS.iter().find(|u| u.email.eq_ignore_ascii_case(email.trim())) else {
        return text(StatusCode::NOT_FOUND, "the identity provider knows no such user");
    };
    let ticket = new_session_id();
    let next = local_path(query_param(query, "next").as_deref());
    state.tickets().insert(ticket.clone(), (user.id.to_owned(), next));
    redirect(&format!("/sso/callback?ticket={ticket}&state=demo"), None)
}

/// `GET /sso/callback?ticket=T`: a ticket works once.
pub(super) fn callback(state: &State, query: Option<&str>) -> Resp {
    let ticket = query_param(query, "ticket").unwrap_or_default();
    let Some((user_id, next)) = state.tickets().remove(&ticket) else {
        return text(StatusCode::UNAUTHORIZED, "this sign-in link is not valid; start again");
    };
    let session_id = new_session_id();
    state.sessions().insert(session_id.clone(), user_id);
    let cookie = format!("{SESSION_COOKIE}={session_id}; HttpOnly; Path=/");
    redirect(&next, Some(&cookie))
}
