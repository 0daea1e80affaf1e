//! The gateway's own endpoints (under its prefix), reached once the policy
//! has allowed them: the request's facts are read here, then `pages`
//! answers.

use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

use super::{wire, Ctx, GatewayProxy};
use crate::cookies;
use crate::pages;
use crate::policy::OwnRoute;
use crate::session::Found;

/// Own endpoints take small bodies: a form or a JSON object of a few fields.
const MAX_OWN_BODY: usize = 64 * 1024;

impl GatewayProxy {
    /// Reads what a request to one of our endpoints carries and answers it.
    pub(super) async fn own(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: OwnRoute,
        dashboard_reachable: bool,
    ) -> Result<pages::Reply> {
        let req = session.req_header();
        let path = req.uri.path().to_string();
        let query = req.uri.query().map(str::to_string);
        let json = wire::header(req, http::header::CONTENT_TYPE).is_some_and(pages::is_json);
        let found = match route {
            OwnRoute::Verify => ctx
                .found
                .clone()
                .filter(|f| sole_session_cookies(&self.gw.config, req, f)),
            _ => ctx.found.clone(),
        };
        let changes_state = req.method != http::Method::GET && req.method != http::Method::HEAD;
        if changes_state
            && !pages::same_origin(
                &req.headers,
                wire::browser_scheme(session, self.gw.config.cookie.secure),
            )
        {
            ctx.outcome = "deny";
            return Ok(pages::json_error(
                403,
                "cross_origin",
                "Requests from other sites are refused.",
            ));
        }
        let body = if changes_state {
            match wire::read_body(session, MAX_OWN_BODY).await? {
                Some(b) => b,
                None => return Ok(pages::json_error(413, "too_large", "The request body is too large.")),
            }
        } else {
            bytes::Bytes::new()
        };
        let own = pages::OwnRequest {
            route,
            path,
            query,
            json,
            body,
            client: ctx.client.clone(),
            found,
            dashboard_reachable,
        };
        Ok(pages::handle(&self.gw, own).await)
    }
}

/// For forward authentication: whether the request carries exactly one
/// gateway token and exactly one dashboard cookie, the session's own. A
/// proxy in front forwards every cookie to the dashboard, which may serve
/// any of several session cookies: an approval with a second one would let
/// one user's session carry another's dashboard cookie past the gateway.
fn sole_session_cookies(cfg: &crate::config::Config, req: &RequestHeader, f: &Found) -> bool {
    let pairs = || cookies::pairs_iter(wire::cookie_headers(req));
    let Some(upstream) = f.upstream_cookie.as_deref() else {
        return false;
    };
    let Some(token) = cookies::values(pairs(), &cfg.cookie.name).next() else {
        return false;
    };
    cookies::sole(pairs(), &cfg.cookie.name, token) && cookies::sole(pairs(), &cfg.upstream.session_cookie, upstream)
}
