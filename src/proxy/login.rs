//! The upstream's sign-in, forwarded by the gateway itself. The gateway has
//! to see the answer before the browser does: if the upstream accepted the
//! password, the gateway learns who signed in and decides whether the new
//! upstream cookie goes to the browser now or waits for a second factor.
//! A refused sign-in is passed back untouched.

use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use pingora::prelude::*;
use pingora::proxy::Session;

use super::wire;
use crate::cookies::{self, SetCookieEffect};
use crate::gateway::{EndReason, Gateway};
use crate::pages::html::Frame;
use crate::pages::{self, Reply};
use crate::session::Found;

/// Larger sign-in forms than this are refused: a login is a few fields.
const MAX_FORM: usize = 64 * 1024;

pub async fn handle(
    gw: &Arc<Gateway>,
    session: &mut Session,
    previous: Option<Found>,
    client: Option<String>,
) -> Result<()> {
    // Counted before the form is read: a refused attempt costs a map look-up.
    if let Err(wait) = gw.sign_ins.attempt(client.as_deref(), gw.env.now()) {
        let page = pages::error_page(
            &Frame::plain(&gw.config),
            429,
            "Too many sign-in attempts",
            &format!(
                "Too many sign-in attempts from your address. Try again in {} minute(s).",
                wait.div_ceil(60)
            ),
        );
        return wire::send(session, page.with_header("retry-after", &wait.to_string())).await;
    }
    let reply = match sign_in(gw, session, previous, client).await {
        Ok(r) => r,
        Err(r) => r,
    };
    wire::send(session, reply).await
}

async fn sign_in(
    gw: &Arc<Gateway>,
    session: &mut Session,
    previous: Option<Found>,
    client: Option<String>,
) -> Result<Reply, Reply> {
    let cfg = &gw.config;
    let frame = Frame::plain(cfg);
    let body = match wire::read_body(session, MAX_FORM).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Err(pages::error_page(
                &frame,
                413,
                "Form too large",
                "The sign-in form was too large.",
            ))
        }
        Err(_) => {
            return Err(pages::error_page(
                &frame,
                400,
                "Bad request",
                "The sign-in form could not be read.",
            ))
        }
    };
    let request = upstream_request(gw, session, body, client.as_deref()).map_err(|_| {
        pages::error_page(
            &frame,
            400,
            "Bad request",
            "The sign-in request could not be understood.",
        )
    })?;
    let answer = gw.upstream.send(request).await.map_err(|e| {
        tracing::warn!(error = %e, "sign-in could not reach the upstream");
        crate::metrics::Metrics::inc(&gw.metrics.upstream_errors);
        pages::error_page(
            &frame,
            502,
            "The dashboard is not reachable",
            "The dashboard did not answer. Please try again in a moment.",
        )
    })?;

    let now = gw.env.now();
    let mut new_cookie = None;
    let mut session_set_cookies = Vec::new();
    let mut other_headers = Vec::new();
    for (name, value) in &answer.headers {
        let name_s = name.as_str();
        if wire::HOP_BY_HOP.contains(&name_s) || name_s == "content-length" {
            continue;
        }
        let text = value.to_str().unwrap_or("");
        if name == http::header::SET_COOKIE {
            if let SetCookieEffect::Sets(v) = cookies::effect(text, &cfg.upstream.session_cookie, now) {
                new_cookie = Some(v);
                session_set_cookies.push(text.to_string());
                continue;
            }
        }
        other_headers.push((name.clone(), value.clone()));
    }
    let passthrough = |extra: Vec<String>| {
        let mut reply = Reply::new(answer.status.as_u16(), &[], answer.body.clone());
        for (n, v) in &other_headers {
            reply.headers.append(n.clone(), v.clone());
        }
        for set_cookie in extra {
            reply = reply.with_header("set-cookie", &set_cookie);
        }
        reply
    };

    let Some(upstream_cookie) = new_cookie else {
        // Refused (or not a sign-in at all): the browser sees the upstream's answer.
        return Ok(passthrough(Vec::new()));
    };

    let who = match gw
        .upstream
        .identity(&cfg.upstream.identity, &cfg.upstream.session_cookie, &upstream_cookie)
        .await
    {
        Ok(who) => who,
        Err(e) => {
            tracing::error!(error = %e, "sign-in succeeded upstream but the identity look-up failed");
            crate::metrics::Metrics::inc(&gw.metrics.upstream_errors);
            gw.sign_out_upstream(&upstream_cookie).await;
            return Err(pages::error_page(
                &frame,
                502,
                "Sign-in could not be completed",
                "The dashboard accepted your password, but the gateway could not confirm who you are. Please try again.",
            ));
        }
    };

    if let Some(old) = previous {
        gw.end_session(&old.token_hash, EndReason::Replaced, client.clone())
            .await;
    }
    let req = session.req_header();
    let arrival = crate::gateway::Arrival {
        client,
        user_agent: req
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        device: cookies::values(cookies::pairs_iter(wire::cookie_headers(req)), cookies::DEVICE)
            .next()
            .map(str::to_string),
    };
    let signed_in = match gw
        .sign_in(who, &upstream_cookie, session_set_cookies.clone(), arrival)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            e.log("cannot record a sign-in");
            gw.sign_out_upstream(&upstream_cookie).await;
            return Err(pages::error_page(
                &frame,
                503,
                "Sign-in could not be completed",
                "The gateway could not record your sign-in. Please try again.",
            ));
        }
    };
    let ours = cookies::gateway_cookie(&cfg.cookie, &signed_in.token);
    if signed_in.held {
        let next = answer
            .headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .filter(|l| l.starts_with('/') && !l.starts_with("//"))
            .unwrap_or("/");
        let location = format!(
            "{}/challenge?next={}",
            cfg.prefix,
            crate::policy::encode_component(next)
        );
        return Ok(pages::redirect(&location).with_header("set-cookie", &ours));
    }
    let mut released = session_set_cookies;
    released.push(ours);
    Ok(passthrough(released))
}

/// The browser's sign-in as the upstream should see it: no gateway or stale
/// upstream session cookie, no connection headers, only our `X-Forwarded-For`.
fn upstream_request(
    gw: &Gateway,
    session: &Session,
    body: Bytes,
    client: Option<&str>,
) -> Result<Request<Bytes>, http::Error> {
    let cfg = &gw.config;
    let req = session.req_header();
    let mut builder = Request::builder()
        .method(req.method.clone())
        .uri(req.uri.path_and_query().map_or("/", |p| p.as_str()));
    let user_header = cfg.user_header.as_ref().map(http::HeaderName::as_str);
    for (name, value) in &req.headers {
        let n = name.as_str();
        if wire::HOP_BY_HOP.contains(&n)
            || n == "cookie"
            || n == "content-length"
            || crate::lookalike::reserved_header(n, user_header)
        {
            continue;
        }
        builder = builder.header(name, value);
    }
    let pairs = cookies::pairs_iter(wire::cookie_headers(req));
    if let Some(c) = cookies::upstream_header(pairs, &cookies::ours(cfg), None) {
        builder = builder.header("cookie", c);
    }
    if let Some(ip) = client {
        builder = builder.header("x-forwarded-for", ip);
    }
    builder.header("content-length", body.len().to_string()).body(body)
}
