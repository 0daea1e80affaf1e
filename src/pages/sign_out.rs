//! The ways out of a sign-in that cannot reach the dashboard yet (at the
//! challenge, or while enrollment is due): "Sign out" and "Sign in as
//! someone else". Both end the gateway session and sign out the dashboard
//! session it holds; the policy says where each leads afterwards.

use super::request::{OwnRequest, Shared};
use super::{redirect, Reply};
use crate::cookies;
use crate::gateway::EndReason;

pub async fn sign_out(gw: &Shared, req: &OwnRequest) -> Reply {
    let form = req.form();
    let login = &gw.config.upstream.login.path;
    let Some(found) = req.found.as_ref().filter(|_| req.csrf_ok(&form)) else {
        // A stale form (the session ended elsewhere) or a forged one: end
        // nothing, and go where a signed-out browser starts.
        return redirect(login);
    };
    gw.end_session(&found.token_hash, EndReason::SignedOut, req.client.clone())
        .await;
    redirect(req.route.after_sign_out(login))
        .with_header("set-cookie", &cookies::clear_gateway_cookie(&gw.config.cookie))
}
