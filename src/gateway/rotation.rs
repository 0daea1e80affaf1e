//! A dashboard that gives a signed-in session a new cookie value (it
//! rotated its session id, or a route signed someone in): followed only
//! when the dashboard names the same user behind the new cookie.

use std::sync::Arc;

use super::Gateway;
use crate::session::Found;

impl Gateway {
    /// Follows an upstream that gave a signed-in session a new cookie value,
    /// once the dashboard says the new cookie is the same user's. A route
    /// that signs in someone else (an undeclared single sign-on callback, a
    /// "log in as") must not hand that user this session's second factor:
    /// another user's cookie, or one the dashboard cannot name, is withheld
    /// and signed out at the dashboard. Returns whether it was followed.
    pub async fn rebind(self: &Arc<Self>, found: &Found, upstream_cookie: &str, client: Option<String>) -> bool {
        let session = &found.session;
        if session.owns_upstream_cookie(upstream_cookie) {
            return true; // the same value again, as a rolling expiry sends
        }
        let up = &self.config.upstream;
        let who = self
            .upstream
            .identity(&up.identity, &up.session_cookie, upstream_cookie)
            .await;
        match who {
            Ok(who) if *who.user_id == *session.user_id => {}
            outcome => {
                let seen = match outcome {
                    Ok(who) => format!("a session of another user ({})", who.user_id),
                    Err(e) => format!("a session it could not name ({e})"),
                };
                tracing::warn!(user = %session.user_id, "the dashboard set {seen} on a signed-in request outside the sign-in routes; withheld");
                self.audit(
                    "session_cookie_withheld",
                    Some(&session.user_id),
                    client,
                    format!("{seen}; declare the route as [[upstream.sign_in]] if it signs people in"),
                );
                self.sign_out_upstream(upstream_cookie).await;
                return false;
            }
        }
        if let Some(session) = self.sessions.rebind(&self.env, &found.token_hash, upstream_cookie) {
            let (hash, change) = (found.token_hash, session.rebound());
            let gw = self.clone();
            tokio::spawn(async move {
                if let Err(e) = gw.store.update_session(&hash, change).await {
                    e.log("cannot save a rotated session");
                }
            });
        }
        true
    }
}
