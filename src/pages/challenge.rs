//! The second step of sign-in, as a page and as `POST /api/challenge`.

use bytes::Bytes;
use serde::Deserialize;

use super::request::{refusal_json, safe_next, OwnRequest, Shared};
use super::{html, html_reply, Reply};
use crate::actions;
use crate::cookies;

pub fn form(gw: &Shared, req: &OwnRequest) -> Reply {
    let next = safe_next(req.query_param("next").as_deref());
    html_reply(200, html::challenge(&req.frame(gw), &next, None))
}

pub async fn submit(gw: &Shared, req: &OwnRequest) -> Reply {
    let form = req.form();
    let next = safe_next(form.get("next").map(String::as_str));
    if !req.csrf_ok(&form) {
        let page = html::challenge(
            &req.frame(gw),
            &next,
            Some("The form expired. Please enter the code again."),
        );
        return html_reply(403, page);
    }
    let (Some(found), Some(code)) = (&req.found, form.get("code")) else {
        return html_reply(400, html::challenge(&req.frame(gw), &next, Some("Enter a code.")));
    };
    match actions::pass_challenge(gw, found, code.clone(), req.client()).await {
        Ok(released) => with_released_cookies(gw, super::redirect(&next), &released),
        Err(r) => {
            let reply = html_reply(r.status, html::challenge(&req.frame(gw), &next, Some(&r.message)));
            match r.retry_after {
                Some(s) => reply.with_header("retry-after", &s.to_string()),
                None => reply,
            }
        }
    }
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

pub async fn api(gw: &Shared, req: &OwnRequest) -> Reply {
    let body: CodeBody = match req.json_body() {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let Some(found) = &req.found else {
        return super::json_error(401, "not_signed_in", "Sign in first.");
    };
    match actions::pass_challenge(gw, found, body.code, req.client()).await {
        Ok(released) => with_released_cookies(
            gw,
            Reply::new(204, &[("cache-control", "no-store")], Bytes::new()),
            &released,
        ),
        Err(r) => refusal_json(&r),
    }
}

/// The upstream's held cookies and the new gateway cookie, on any answer.
fn with_released_cookies(gw: &Shared, mut reply: Reply, released: &actions::Released) -> Reply {
    for c in &released.set_cookies {
        reply = reply.with_header("set-cookie", c);
    }
    reply.with_header(
        "set-cookie",
        &cookies::gateway_cookie(&gw.config.cookie, &released.token),
    )
}
