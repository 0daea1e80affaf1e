//! Forward authentication: `GET {prefix}/verify` for a proxy in front (e.g.
//! nginx `auth_request`) that asks "may this request through?". The policy
//! has already allowed only a fully signed-in session holding its released
//! upstream cookie; everything else got a 401 there. The answer is built from
//! the session found in memory: no store access, no upstream call.

use bytes::Bytes;

use super::{json_error, OwnRequest, Reply};
use crate::session::Stage;

/// 200 with an empty body and the user's id in `X-Tfa-User`.
pub fn answer(req: &OwnRequest) -> Reply {
    match &req.found {
        Some(f) if f.session.stage == Stage::Authenticated && f.upstream_cookie.is_some() => Reply::new(
            200,
            &[("cache-control", "no-store"), ("x-tfa-user", &f.session.user_id)],
            Bytes::new(),
        ),
        // Unreachable through the policy; refuse rather than trust it blindly.
        _ => json_error(401, "not_signed_in", "Sign in first."),
    }
}
