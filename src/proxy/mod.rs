//! The Pingora side of the gateway: a `ProxyHttp` implementation that stays
//! thin. Each request is checked against the in-memory session table, the
//! pure `policy::decide` says what to do, and this module carries it out:
//! answer itself, handle the upstream's sign-in, or forward with the headers
//! cleaned. Hooks not implemented here keep Pingora's defaults (no caching,
//! no retries beyond Pingora's own, upstream errors become 502).

mod login;
mod own;
pub mod serving;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{ErrorSource, ErrorType};

use crate::cookies::{self, SetCookieEffect};
use crate::directory::Due;
use crate::drain::InFlight;
use crate::gateway::{EndReason, Gateway};
use crate::pages::{self, html::Frame};
use crate::policy::{self, ClientKind, Decision, DueFacts, Facts, Forward, OwnRoute, Routes, SessionFacts, UserFacts};
use crate::session::{Found, Lookup};

pub struct GatewayProxy {
    gw: Arc<Gateway>,
    /// Parsed once: building the peer from a string per request is slow.
    peer: SocketAddr,
    /// The user header's name as written upstream (see `wire::case_name`).
    user_header: Option<Bytes>,
}

impl GatewayProxy {
    pub fn new(gw: Arc<Gateway>) -> Self {
        let peer = gw.config.upstream.address;
        let user_header = gw.config.user_header.as_ref().map(|h| wire::case_name(h.as_str()));
        GatewayProxy { gw, peer, user_header }
    }

    /// A WebSocket ends with its session: signed out, revoked, ended by an
    /// admin, expired and swept, or ended on another replica. The session
    /// table holds only live sessions, so a look-up per frame is the whole
    /// check; an idle tunnel ends at its next frame (a ping, say).
    fn tunnel_open(&self, ctx: &mut Ctx) -> Result<()> {
        match &ctx.tunnel {
            Some(hash) if !self.gw.sessions.contains(hash) => {
                ctx.tunnel = None;
                ctx.outcome = "tunnel_ended";
                Error::e_explain(ErrorType::ConnectionClosed, "the WebSocket's session ended")
            }
            _ => Ok(()),
        }
    }
}

const X_REQUESTED_WITH: http::HeaderName = http::HeaderName::from_static("x-requested-with");
/// The names of the headers the gateway sets, as written upstream. Given to
/// Pingora as bytes: a `HeaderName` it would copy into a new title-cased
/// name on every call.
const COOKIE: Bytes = Bytes::from_static(b"Cookie");
const X_FORWARDED_FOR: Bytes = Bytes::from_static(b"X-Forwarded-For");

const STEP_UP_FIRST: &str = "This needs your second factor again: pass the challenge at Location, then retry.";

/// What one request carries from hook to hook.
pub struct Ctx {
    started: Instant,
    client: Option<String>,
    kind: ClientKind,
    found: Option<Found>,
    forward: Option<Forward>,
    outcome: &'static str,
    /// The browser sent a cookie the dashboard may see (`cookies::Jar`).
    /// True until read: then the `Cookie` header sent on is rebuilt in full.
    other_cookies: bool,
    /// Counted until the answer is done, for a hand-over (`drain`).
    in_flight: Option<InFlight>,
    /// A WebSocket of a signed-in session: the session it lives by. Every
    /// frame, either way, checks that it still exists (`tunnel_open`).
    tunnel: Option<crate::session::TokenHash>,
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            started: Instant::now(),
            client: None,
            kind: ClientKind::Navigation,
            found: None,
            forward: None,
            outcome: "forward",
            other_cookies: true,
            in_flight: Some(self.gw.drain.enter()),
            tunnel: None,
        }
    }

    /// Pingora's default adds a response compression module, disabled,
    /// which still costs each request a box and two calls (1,700
    /// instructions, BENCHMARKS.md "Pingora's settings"). The gateway never
    /// compresses: the dashboard's answers pass as they come.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    /// Pingora's default forwards everything. Here every request is checked
    /// and decided; `Ok(true)` means the gateway answered it itself.
    ///
    /// Whatever it awaits is boxed: `async_trait` allocates this future for
    /// every request at its largest state's size, which unboxed was that of
    /// the own pages and the sign-in, rarely on a forwarded request's path.
    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let gw = &self.gw;
        let cfg = &gw.config;
        if gw.drain.draining() {
            // A successor holds the sockets: this connection ends here.
            session.set_keepalive(None);
        }
        ctx.client = wire::client_ip(session, &cfg.trusted_proxies);
        let req = session.req_header();
        let jar = cookies::jar(
            wire::cookie_headers(req),
            &cfg.cookie.name,
            &cfg.upstream.session_cookie,
            &cookies::ours(cfg),
        );
        ctx.other_cookies = jar.others;
        let (token, candidates) = (jar.token, || jar.upstream.iter().copied());
        let now = gw.env.now();
        let mut lookup = gw.sessions.lookup(token, candidates(), now);
        if let Lookup::Unknown(hash) = lookup {
            // Another replica's session, seen here for the first time:
            // one store read, then memory like any other.
            lookup = match Box::pin(gw.adopt_session(hash)).await {
                true => gw.sessions.lookup(token, candidates(), now),
                false => Lookup::None,
            };
        }
        if let Lookup::Expired((hash, session)) = &lookup {
            // Idle here, perhaps not through another replica: the store
            // says (one read, at most once per session).
            if gw.sessions.idled_out(session, now) && Box::pin(gw.adopt_session(*hash)).await {
                lookup = gw.sessions.lookup(token, candidates(), now);
            }
        }
        // The jar borrows the request, which an answer below needs mutably.
        drop(jar);
        // Enforcement needs the user's memberships and factors, read once
        // per request; a user this replica does not hold (never so far) is
        // read from the store first, and if that fails the request is
        // served as signed out: fail closed.
        let mut view = None;
        if let Lookup::Live(found) = &lookup {
            let user = &found.session.user_id;
            let refresh_every = found
                .upstream_cookie
                .as_ref()
                .map(|_| cfg.accounts.identity_refresh_secs);
            view = gw.directory.for_request(user, now, refresh_every);
            if view.is_none() {
                view = match Box::pin(gw.ensure_user(user)).await {
                    // A user the store has no record of is held as new.
                    Ok(()) => gw
                        .directory
                        .for_request(user, now, refresh_every)
                        .or_else(|| Some((gw.directory.view(user, now), false))),
                    Err(e) => {
                        e.log("cannot read a signed-in user from the store");
                        None
                    }
                };
            }
            if let (Some((_, true)), Some(cookie)) = (&view, &found.upstream_cookie) {
                // This request claimed the refresh: in the background.
                gw.refresh_identity(user, cookie.clone());
            }
        }
        if view.is_none() {
            lookup = match lookup {
                Lookup::Live(_) => Lookup::None,
                other => other,
            };
        }
        ctx.found = match lookup {
            Lookup::Live(found) => Some(found),
            Lookup::Expired(ended) => {
                gw.end_expired(ended);
                None
            }
            Lookup::None | Lookup::Unknown(_) => None,
        };
        ctx.kind = ClientKind::classify(
            wire::header(req, http::header::ACCEPT),
            req.headers.contains_key(&X_REQUESTED_WITH),
            wire::is_websocket(req),
        );
        let session_facts = match &ctx.found {
            None => SessionFacts::None,
            Some(f) => match f.session.stage {
                crate::session::Stage::Pending { .. } => SessionFacts::Pending,
                crate::session::Stage::Authenticated => SessionFacts::Authenticated {
                    upstream_cookie: f.upstream_cookie.is_some(),
                },
            },
        };
        let path = req.uri.path();
        let target = req.uri.path_and_query().map_or(path, |p| p.as_str());
        let user = match (&ctx.found, view) {
            (Some(f), Some((view, _))) => UserFacts {
                activated: view.activated,
                second_factor: view.second_factor,
                due: match view.due {
                    Due::Nothing => DueFacts::Nothing,
                    Due::Required { .. } => DueFacts::Required,
                    Due::Grace { .. } => DueFacts::Grace {
                        acknowledged: f.session.grace_acknowledged(),
                    },
                },
            },
            _ => UserFacts::UNKNOWN,
        };
        let facts = Facts {
            method: &req.method,
            path,
            target,
            client: ctx.kind,
            host_missing: req.version == http::Version::HTTP_11
                && req.uri.authority().is_none()
                && !req.headers.contains_key(http::header::HOST),
            target_unreadable: !wire::readable_target(req.raw_path()),
            session: session_facts,
            // Only forward authentication asks about another request: no
            // header look-up for the rest.
            asked_about: match path.strip_prefix(cfg.prefix.as_str()) {
                Some(policy::VERIFY) => wire::asked_about(req),
                _ => None,
            },
            user,
            factor_age: factor_age(ctx.found.as_ref(), now),
        };
        let routes = Routes {
            prefix: &cfg.prefix,
            login: &cfg.upstream.login,
            logout: &cfg.upstream.logout,
            sign_in: &cfg.upstream.sign_in,
            step_up: &cfg.step_up,
        };
        let decision = policy::decide(&facts, &routes);
        gw.metrics.check_latency(ctx.started.elapsed().as_micros() as u64);
        match decision {
            Decision::Forward(f) => {
                ctx.forward = Some(f);
                Ok(false)
            }
            Decision::Own(route @ (OwnRoute::NotFound | OwnRoute::WrongMethod { api: false, .. }))
                if ctx.kind == ClientKind::Navigation =>
            {
                ctx.outcome = "not_found";
                Box::pin(wire::send(session, pages::missing_page(&Frame::plain(cfg), route))).await?;
                Ok(true)
            }
            Decision::Own(route) => {
                ctx.outcome = "own";
                let reachable = policy::dashboard_reachable(&facts, &routes);
                let reply = Box::pin(self.own(session, ctx, route, reachable)).await?;
                Box::pin(wire::send(session, reply)).await?;
                Ok(true)
            }
            Decision::Login => {
                ctx.outcome = "login";
                Box::pin(login::handle(gw, session, ctx.found.take(), ctx.client.clone())).await?;
                Ok(true)
            }
            Decision::Redirect { location } => {
                ctx.outcome = "redirect";
                Box::pin(wire::send(session, pages::redirect(&location))).await?;
                Ok(true)
            }
            Decision::Deny { status, error, message } => {
                ctx.outcome = "deny";
                Box::pin(wire::send(session, pages::json_error(status, error, message))).await?;
                Ok(true)
            }
            Decision::StepUpFirst { location } => {
                ctx.outcome = "deny";
                let reply =
                    pages::json_error(401, "step_up_required", STEP_UP_FIRST).with_header("location", &location);
                Box::pin(wire::send(session, reply)).await?;
                Ok(true)
            }
        }
    }

    /// By default a request's body passes as it comes. Here a WebSocket's
    /// frames from the browser pass only while its session lasts.
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        self.tunnel_open(ctx)
    }

    /// As `request_body_filter`, for the frames from the dashboard.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        self.tunnel_open(ctx).map(|()| None)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.peer, false, String::new())))
    }

    /// By default Pingora forwards the request headers as received. Here the
    /// upstream gets: no gateway cookie, the upstream session cookie only if
    /// this session released it, the user header only as set by us, and the
    /// client address in `X-Forwarded-For` as resolved by us (no other
    /// header claiming who the client is).
    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        up: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let cfg = &self.gw.config;
        let forward = ctx.forward.unwrap_or(Forward {
            upstream_cookie: false,
            as_user: false,
            ends_session: false,
        });
        let keep = match (&ctx.found, forward.upstream_cookie) {
            (Some(f), true) => f
                .upstream_cookie
                .as_deref()
                .map(|v| (cfg.upstream.session_cookie.as_str(), v)),
            _ => None,
        };
        let cookie = match ctx.other_cookies {
            true => cookies::upstream_header(cookies::pairs_iter(wire::cookie_headers(up)), &cookies::ours(cfg), keep),
            // Nothing of the browser's goes on: no second parse.
            false => keep.map(|(n, v)| cookies::one(n, v)),
        };
        // `insert_header` replaces every earlier value. Values are given
        // owned where they are built here, so Pingora need not copy them.
        match cookie {
            Some(c) => up.insert_header(COOKIE, wire::header_value(c)?)?,
            None => {
                up.remove_header(&http::header::COOKIE);
            }
        }
        wire::strip_reserved(up, cfg.user_header.as_ref().map(http::HeaderName::as_str));
        if let (Some(name), true, Some(f)) = (&self.user_header, forward.as_user, &ctx.found) {
            up.insert_header(name.clone(), f.session.user_id.as_ref())?;
        }
        if let Some(ip) = &ctx.client {
            up.insert_header(X_FORWARDED_FOR, wire::header_value(ip.clone())?)?;
        }
        Ok(())
    }

    /// By default the upstream's headers pass unchanged. Here its Set-Cookie
    /// headers for its session cookie are read: clearing it (or the sign-out
    /// route) ends the gateway session; a new value on a signed-in session is
    /// followed; a session cookie set outside the gateway's sign-in is
    /// withheld, since the gateway would refuse it anyway.
    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let gw = &self.gw;
        let cfg = &gw.config;
        let signed_in = match (&ctx.found, ctx.forward) {
            (Some(f), Some(fw)) if fw.upstream_cookie => Some((f, fw)),
            _ => None,
        };
        if resp.status == http::StatusCode::SWITCHING_PROTOCOLS {
            // A WebSocket needs no store, and may outlive a hand-over; it
            // may not outlive its session.
            ctx.in_flight = None;
            ctx.tunnel = signed_in.map(|(f, _)| f.token_hash);
        }
        let ends = signed_in.is_some_and(|(_, fw)| fw.ends_session);
        if !ends && !resp.headers.contains_key(http::header::SET_COOKIE) {
            // Nearly every answer: nothing to read or rewrite.
            return Ok(());
        }
        // Read here, past the early return: a clock read per answer is
        // about 180 instructions that nearly every answer has no use for.
        let now = gw.env.now();
        let set_cookies: Vec<_> = resp.headers.get_all(http::header::SET_COOKIE).iter().cloned().collect();
        let mut kept = Vec::with_capacity(set_cookies.len());
        let mut ended = ends;
        for value in set_cookies {
            let effect = value.to_str().map_or(SetCookieEffect::Other, |v| {
                cookies::effect(v, &cfg.upstream.session_cookie, now)
            });
            match (effect, signed_in) {
                (SetCookieEffect::Other, _) => kept.push(value),
                (SetCookieEffect::Clears, _) => {
                    ended |= signed_in.is_some();
                    kept.push(value);
                }
                (SetCookieEffect::Sets(v), Some((found, _))) => {
                    if Box::pin(gw.rebind(found, &v, ctx.client.clone())).await {
                        kept.push(value);
                    }
                }
                (SetCookieEffect::Sets(_), None) => {
                    tracing::warn!("upstream set its session cookie outside the sign-in route; withheld");
                }
            }
        }
        resp.remove_header("set-cookie");
        for v in kept {
            resp.append_header("set-cookie", v)?;
        }
        if let (true, Some((found, _))) = (ended, signed_in) {
            Box::pin(gw.end_session(&found.token_hash, EndReason::SignedOutUpstream, ctx.client.clone())).await;
            resp.append_header("set-cookie", cookies::clear_gateway_cookie(&cfg.cookie))?;
            ctx.outcome = "logout";
        }
        Ok(())
    }

    /// Pingora's default answers an error with a bare status. Here a browser
    /// gets a short page and a script a JSON error.
    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        if matches!(code, 502..=504) {
            crate::metrics::Metrics::inc(&self.gw.metrics.upstream_errors);
        }
        // After the answer's head (a body cut short, a WebSocket ended),
        // the browser has its answer: writing a page now would put its
        // bytes into the body or the tunnel. Pingora's own rule.
        let answered = session
            .response_written()
            .is_some_and(|r| !r.status.is_informational() || r.status == http::StatusCode::SWITCHING_PROTOCOLS);
        if code > 0 && !answered {
            let (title, message) = match code {
                502..=504 => (
                    "The dashboard is not reachable",
                    "The dashboard did not answer. Please try again in a moment.",
                ),
                400..=499 => ("Bad request", "The request could not be understood."),
                _ => ("Something went wrong", "The gateway could not complete this request."),
            };
            let reply = match ctx.kind {
                ClientKind::Navigation => pages::error_page(&Frame::plain(&self.gw.config), code, title, message),
                _ => pages::json_error(
                    code,
                    if code >= 500 {
                        "upstream_unavailable"
                    } else {
                        "bad_request"
                    },
                    message,
                ),
            };
            if let Err(err) = wire::send(session, reply).await {
                tracing::debug!(error = %err, "could not send the error answer");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, _error: &Error) -> bool {
        // A WebSocket ended with its session did what it should: its access
        // line says `tunnel_ended`, and Pingora's "Fail to proxy" is not for it.
        ctx.outcome == "tunnel_ended"
    }

    /// Pingora's default summary, used in its error logs, includes the query
    /// string, which may carry secrets; ours is the method and path only.
    fn request_summary(&self, session: &Session, _ctx: &Ctx) -> String {
        let req = session.req_header();
        format!("{} {}", req.method, req.uri.path())
    }

    /// Pingora logs nothing per request by default. One line per request:
    /// method, path without query, status, outcome, time; never a cookie.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        self.gw.metrics.decision(match ctx.outcome {
            "health" | "not_found" => "own",
            "tunnel_ended" => "forward",
            other => other,
        });
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let req = session.req_header();
        crate::logging::Access {
            method: req.method.as_str(),
            path: req.uri.path(),
            status,
            outcome: ctx.outcome,
            client: ctx.client.as_deref().unwrap_or("-"),
            micros: ctx.started.elapsed().as_micros() as u64,
            error: e.map(|e| e.etype().as_str()),
        }
        .log();
    }
}

/// Seconds since the session last passed a second factor; `None`: never.
fn factor_age(found: Option<&Found>, now: crate::env::UnixSeconds) -> Option<u64> {
    let at = found?.session.about.factor_at();
    (at != 0).then(|| now.saturating_sub(at))
}
