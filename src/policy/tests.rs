//! The policy's rules, one sentence each.
use super::*;
use crate::factors::{Action, Kind, Step};

fn page(step: Step) -> Action {
    Action { step, api: false }
}

fn routes<'a>(login: &'a Route, logout: &'a Route) -> Routes<'a> {
    Routes {
        prefix: "/_2fa",
        login,
        logout,
        sign_in: &[],
        step_up: &[],
    }
}

fn login() -> Route {
    Route {
        method: Method::POST,
        path: "/login".into(),
    }
}

fn logout() -> Route {
    Route {
        method: Method::POST,
        path: "/logout".into(),
    }
}

fn facts<'a>(method: &'a Method, path: &'a str, client: ClientKind, session: SessionFacts) -> Facts<'a> {
    Facts {
        method,
        path,
        target: path,
        client,
        host_missing: false,
        target_unreadable: false,
        asked_about: None,
        session,
        user: UserFacts::UNKNOWN,
        factor_age: None,
    }
}

const SIGNED_IN: SessionFacts = SessionFacts::Authenticated { upstream_cookie: true };

#[test]
fn health_is_answered_by_the_gateway_whatever_the_session() {
    let (li, lo) = (login(), logout());
    let d = decide(
        &facts(&Method::GET, "/_2fa/health", ClientKind::Api, SessionFacts::None),
        &routes(&li, &lo),
    );
    assert_eq!(d, Decision::Own(OwnRoute::Health));
}

#[test]
fn sibling_of_the_prefix_is_not_ours() {
    let (li, lo) = (login(), logout());
    let d = decide(
        &facts(&Method::GET, "/_2fa-old/x", ClientKind::Navigation, SIGNED_IN),
        &routes(&li, &lo),
    );
    assert!(matches!(d, Decision::Forward(_)));
}

#[test]
fn login_post_is_intercepted_but_login_page_is_forwarded() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    assert_eq!(
        decide(
            &facts(&Method::POST, "/login", ClientKind::Navigation, SessionFacts::None),
            &r
        ),
        Decision::Login
    );
    assert_eq!(
        decide(
            &facts(&Method::GET, "/login", ClientKind::Navigation, SessionFacts::None),
            &r
        ),
        Decision::Forward(ANONYMOUS)
    );
}

#[test]
fn request_without_session_is_forwarded_signed_out() {
    let (li, lo) = (login(), logout());
    let d = decide(
        &facts(&Method::GET, "/", ClientKind::Navigation, SessionFacts::None),
        &routes(&li, &lo),
    );
    assert_eq!(d, Decision::Forward(ANONYMOUS));
}

#[test]
fn signed_in_session_forwards_its_cookie_and_identity() {
    let (li, lo) = (login(), logout());
    let d = decide(
        &facts(&Method::GET, "/api/me", ClientKind::Api, SIGNED_IN),
        &routes(&li, &lo),
    );
    assert_eq!(
        d,
        Decision::Forward(Forward {
            upstream_cookie: true,
            as_user: true,
            ends_session: false
        })
    );
}

#[test]
fn signed_in_session_without_its_upstream_cookie_is_forwarded_signed_out() {
    let (li, lo) = (login(), logout());
    let s = SessionFacts::Authenticated { upstream_cookie: false };
    let d = decide(&facts(&Method::GET, "/", ClientKind::Navigation, s), &routes(&li, &lo));
    assert_eq!(d, Decision::Forward(ANONYMOUS));
}

#[test]
fn upstream_logout_ends_the_gateway_session() {
    let (li, lo) = (login(), logout());
    let d = decide(
        &facts(&Method::POST, "/logout", ClientKind::Navigation, SIGNED_IN),
        &routes(&li, &lo),
    );
    assert_eq!(
        d,
        Decision::Forward(Forward {
            upstream_cookie: true,
            as_user: true,
            ends_session: true
        })
    );
}

#[test]
fn pending_navigation_is_sent_to_the_challenge_with_its_destination() {
    let (li, lo) = (login(), logout());
    let mut f = facts(&Method::GET, "/reports", ClientKind::Navigation, SessionFacts::Pending);
    f.target = "/reports?q=a b";
    let d = decide(&f, &routes(&li, &lo));
    assert_eq!(
        d,
        Decision::Redirect {
            location: "/_2fa/challenge?next=/reports%3Fq%3Da%20b".into()
        }
    );
}

#[test]
fn pending_api_and_websocket_requests_get_401_never_the_upstream() {
    let (li, lo) = (login(), logout());
    for client in [ClientKind::Api, ClientKind::WebSocket] {
        let d = decide(
            &facts(&Method::GET, "/api/me", client, SessionFacts::Pending),
            &routes(&li, &lo),
        );
        assert!(matches!(d, Decision::Deny { status: 401, .. }), "{client:?}: {d:?}");
    }
}

#[test]
fn settings_send_a_signed_out_browser_to_the_login_and_a_script_a_401() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    let nav = decide(
        &facts(
            &Method::GET,
            "/_2fa/settings",
            ClientKind::Navigation,
            SessionFacts::None,
        ),
        &r,
    );
    assert_eq!(
        nav,
        Decision::Redirect {
            location: "/login".into()
        }
    );
    let api = decide(
        &facts(
            &Method::GET,
            "/_2fa/api/status",
            ClientKind::Navigation,
            SessionFacts::None,
        ),
        &r,
    );
    assert!(
        matches!(
            api,
            Decision::Deny {
                status: 401,
                error: "not_signed_in",
                ..
            }
        ),
        "{api:?}"
    );
}

#[test]
fn settings_of_a_pending_sign_in_go_to_the_challenge_first() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    let d = decide(
        &facts(
            &Method::GET,
            "/_2fa/settings",
            ClientKind::Navigation,
            SessionFacts::Pending,
        ),
        &r,
    );
    assert!(matches!(d, Decision::Redirect { ref location } if location.starts_with("/_2fa/challenge?next=")));
    let d = decide(
        &facts(
            &Method::POST,
            "/_2fa/api/totp/enroll",
            ClientKind::Navigation,
            SessionFacts::Pending,
        ),
        &r,
    );
    assert!(matches!(
        d,
        Decision::Deny {
            status: 401,
            error: "second_factor_required",
            ..
        }
    ));
}

#[test]
fn challenge_is_served_only_to_a_pending_sign_in() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    let pending = decide(
        &facts(
            &Method::POST,
            "/_2fa/api/challenge",
            ClientKind::Api,
            SessionFacts::Pending,
        ),
        &r,
    );
    assert_eq!(pending, Decision::Own(OwnRoute::ApiChallenge));
    let done = decide(
        &facts(&Method::GET, "/_2fa/challenge", ClientKind::Navigation, SIGNED_IN),
        &r,
    );
    assert_eq!(done, Decision::Redirect { location: "/".into() });
    let mut with_factor = facts(&Method::GET, "/_2fa/challenge", ClientKind::Navigation, SIGNED_IN);
    with_factor.user.second_factor = true;
    assert_eq!(
        decide(&with_factor, &r),
        Decision::Own(OwnRoute::ChallengeForm),
        "a signed-in user with a factor may pass it again (step-up)"
    );
    let nobody = decide(
        &facts(
            &Method::GET,
            "/_2fa/challenge",
            ClientKind::Navigation,
            SessionFacts::None,
        ),
        &r,
    );
    assert_eq!(
        nobody,
        Decision::Redirect {
            location: "/login".into()
        }
    );
}

#[test]
fn settings_need_the_released_upstream_cookie_too() {
    let (li, lo) = (login(), logout());
    let s = SessionFacts::Authenticated { upstream_cookie: false };
    let d = decide(
        &facts(&Method::GET, "/_2fa/api/status", ClientKind::Api, s),
        &routes(&li, &lo),
    );
    assert!(matches!(d, Decision::Deny { status: 401, .. }));
}

fn due(f: Facts<'_>, due: DueFacts) -> Facts<'_> {
    Facts {
        user: UserFacts {
            activated: true,
            due,
            second_factor: false,
        },
        ..f
    }
}

#[test]
fn required_enrollment_sends_pages_to_enroll_and_scripts_a_401() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    let page = decide(
        &due(
            facts(&Method::GET, "/", ClientKind::Navigation, SIGNED_IN),
            DueFacts::Required,
        ),
        &r,
    );
    assert_eq!(
        page,
        Decision::Redirect {
            location: "/_2fa/enroll?next=/".into()
        }
    );
    for client in [ClientKind::Api, ClientKind::WebSocket] {
        let d = decide(
            &due(facts(&Method::GET, "/api/me", client, SIGNED_IN), DueFacts::Required),
            &r,
        );
        assert!(
            matches!(
                d,
                Decision::Deny {
                    status: 401,
                    error: "enrollment_required",
                    ..
                }
            ),
            "{d:?}"
        );
    }
}

#[test]
fn required_enrollment_still_allows_enrolling_and_signing_out() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    let enable = due(
        facts(
            &Method::POST,
            "/_2fa/settings/totp/enable",
            ClientKind::Navigation,
            SIGNED_IN,
        ),
        DueFacts::Required,
    );
    assert_eq!(
        decide(&enable, &r),
        Decision::Own(OwnRoute::Factor(Kind::Totp, page(Step::Begin)))
    );
    let out = due(
        facts(&Method::POST, "/logout", ClientKind::Navigation, SIGNED_IN),
        DueFacts::Required,
    );
    assert!(matches!(
        decide(&out, &r),
        Decision::Forward(Forward { ends_session: true, .. })
    ));
    let disable = due(
        facts(
            &Method::POST,
            "/_2fa/settings/totp/disable",
            ClientKind::Navigation,
            SIGNED_IN,
        ),
        DueFacts::Required,
    );
    assert!(matches!(decide(&disable, &r), Decision::Redirect { .. }));
}

#[test]
fn grace_period_shows_the_notice_once_and_never_blocks_scripts() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    let first = due(
        facts(&Method::GET, "/", ClientKind::Navigation, SIGNED_IN),
        DueFacts::Grace { acknowledged: false },
    );
    assert!(matches!(decide(&first, &r), Decision::Redirect { ref location } if location.starts_with("/_2fa/enroll")));
    let later = due(
        facts(&Method::GET, "/", ClientKind::Navigation, SIGNED_IN),
        DueFacts::Grace { acknowledged: true },
    );
    assert!(matches!(decide(&later, &r), Decision::Forward(_)));
    let api = due(
        facts(&Method::GET, "/api/me", ClientKind::Api, SIGNED_IN),
        DueFacts::Grace { acknowledged: false },
    );
    assert!(matches!(decide(&api, &r), Decision::Forward(_)));
}

#[test]
fn user_of_no_activated_account_gets_no_2fa_pages() {
    let (li, lo) = (login(), logout());
    let mut f = facts(&Method::GET, "/_2fa/settings", ClientKind::Navigation, SIGNED_IN);
    f.user.activated = false;
    assert_eq!(decide(&f, &routes(&li, &lo)), Decision::Own(OwnRoute::NotFound));
    // The API's paths answer JSON even to a request that looks like a page's.
    let mut api = facts(&Method::GET, "/_2fa/api/status", ClientKind::Navigation, SIGNED_IN);
    api.user.activated = false;
    assert!(matches!(
        decide(&api, &routes(&li, &lo)),
        Decision::Deny {
            status: 404,
            error: "not_found",
            ..
        }
    ));
}

#[test]
fn forward_auth_verify_answers_200_or_401_and_never_redirects() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    let verify = |session| facts(&Method::GET, "/_2fa/verify", ClientKind::Navigation, session);
    assert_eq!(decide(&verify(SIGNED_IN), &r), Decision::Own(OwnRoute::Verify));
    let mut transparent = verify(SIGNED_IN);
    transparent.user.activated = false;
    assert_eq!(decide(&transparent, &r), Decision::Own(OwnRoute::Verify));
    for refused in [
        verify(SessionFacts::None),
        verify(SessionFacts::Pending),
        verify(SessionFacts::Authenticated { upstream_cookie: false }),
        due(verify(SIGNED_IN), DueFacts::Required),
    ] {
        assert!(
            matches!(decide(&refused, &r), Decision::Deny { status: 401, .. }),
            "{refused:?}"
        );
    }
}

#[test]
fn clients_are_classified_by_headers() {
    assert_eq!(
        ClientKind::classify(Some("text/html"), false, false),
        ClientKind::Navigation
    );
    assert_eq!(
        ClientKind::classify(Some("application/json"), false, false),
        ClientKind::Api
    );
    assert_eq!(ClientKind::classify(None, true, false), ClientKind::Api);
    assert_eq!(
        ClientKind::classify(Some("text/html"), false, true),
        ClientKind::WebSocket
    );
}

#[test]
fn a_target_that_is_not_a_path_is_refused_whoever_sends_it() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    for session in [SessionFacts::None, SessionFacts::Pending, SIGNED_IN] {
        // Pingora holds such a target as `/`, the path the decision sees.
        let f = Facts {
            target_unreadable: true,
            ..facts(&Method::GET, "/", ClientKind::Navigation, session)
        };
        assert!(
            matches!(decide(&f, &r), Decision::Deny { status: 400, .. }),
            "{session:?}"
        );
    }
}

#[test]
fn a_request_without_a_host_is_refused_whoever_sends_it() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    for session in [SessionFacts::None, SessionFacts::Pending, SIGNED_IN] {
        for path in ["/", "/login", "/_2fa/settings"] {
            let f = Facts {
                host_missing: true,
                ..facts(&Method::GET, path, ClientKind::Navigation, session)
            };
            assert!(
                matches!(decide(&f, &r), Decision::Deny { status: 400, .. }),
                "{session:?} {path}"
            );
        }
    }
}

#[test]
fn the_ways_out_are_open_to_a_pending_sign_in_and_to_a_user_who_must_enroll() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    for (path, route) in [
        ("/_2fa/sign-out", OwnRoute::SignOut),
        ("/_2fa/switch-user", OwnRoute::SwitchUser),
    ] {
        let pending = facts(&Method::POST, path, ClientKind::Navigation, SessionFacts::Pending);
        assert_eq!(decide(&pending, &r), Decision::Own(route));
        let enrolling = due(
            facts(&Method::POST, path, ClientKind::Navigation, SIGNED_IN),
            DueFacts::Required,
        );
        assert_eq!(decide(&enrolling, &r), Decision::Own(route));
        let nobody = facts(&Method::POST, path, ClientKind::Navigation, SessionFacts::None);
        assert_eq!(
            decide(&nobody, &r),
            Decision::Redirect {
                location: "/login".into()
            }
        );
    }
    assert_eq!(OwnRoute::SignOut.after_sign_out("/login"), "/");
    assert_eq!(OwnRoute::SwitchUser.after_sign_out("/login"), "/login");
}

#[test]
fn the_sign_in_form_is_shown_signed_out_while_a_second_factor_or_enrollment_is_due() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    let pending = facts(&Method::GET, "/login", ClientKind::Navigation, SessionFacts::Pending);
    assert_eq!(decide(&pending, &r), Decision::Forward(ANONYMOUS));
    let enrolling = due(
        facts(&Method::GET, "/login", ClientKind::Navigation, SIGNED_IN),
        DueFacts::Required,
    );
    assert_eq!(decide(&enrolling, &r), Decision::Forward(ANONYMOUS));
    let elsewhere = facts(&Method::GET, "/reports", ClientKind::Navigation, SessionFacts::Pending);
    assert!(matches!(decide(&elsewhere, &r), Decision::Redirect { .. }));
}

#[test]
fn a_page_links_back_to_the_dashboard_only_where_the_link_does_not_loop() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    let page = |session| facts(&Method::GET, "/_2fa/settings", ClientKind::Navigation, session);
    assert!(dashboard_reachable(&page(SIGNED_IN), &r));
    assert!(dashboard_reachable(&page(SessionFacts::None), &r));
    assert!(!dashboard_reachable(&page(SessionFacts::Pending), &r));
    assert!(!dashboard_reachable(&due(page(SIGNED_IN), DueFacts::Required), &r));
    assert!(!dashboard_reachable(
        &due(page(SIGNED_IN), DueFacts::Grace { acknowledged: false }),
        &r
    ));
    assert!(dashboard_reachable(
        &due(page(SIGNED_IN), DueFacts::Grace { acknowledged: true }),
        &r
    ));
}

#[test]
fn every_form_the_settings_page_shows_a_user_who_must_enroll_is_reachable() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    for path in [
        "/_2fa/settings/totp/enable",
        "/_2fa/settings/sms/enable",
        "/_2fa/settings/sms/verify",
        "/_2fa/settings/sms/disable",
        "/_2fa/settings/webauthn/register",
        "/_2fa/api/webauthn/register/start",
        "/_2fa/settings/accounts/require",
    ] {
        let f = due(
            facts(&Method::POST, path, ClientKind::Navigation, SIGNED_IN),
            DueFacts::Required,
        );
        assert!(
            matches!(decide(&f, &r), Decision::Own(_)),
            "{path}: {:?}",
            decide(&f, &r)
        );
    }
    let setup = due(
        facts(
            &Method::GET,
            "/_2fa/settings/sms/setup",
            ClientKind::Navigation,
            SIGNED_IN,
        ),
        DueFacts::Required,
    );
    assert_eq!(
        decide(&setup, &r),
        Decision::Own(OwnRoute::Factor(Kind::Sms, page(Step::Show)))
    );
}

/// The demo's step-up rule: billing needs a factor of the last 300 s.
fn billing_rule() -> [crate::config::StepUp; 1] {
    [crate::config::StepUp {
        path_prefix: "/settings/billing".into(),
        max_age_secs: 300,
    }]
}

#[test]
fn a_step_up_path_asks_a_signed_in_user_with_a_factor_for_it_again_when_it_is_old() {
    let (li, lo) = (login(), logout());
    let rules = billing_rule();
    let r = Routes {
        step_up: &rules,
        ..routes(&li, &lo)
    };
    let at = |path, age: Option<u64>, second_factor: bool| {
        let mut f = facts(&Method::GET, path, ClientKind::Navigation, SIGNED_IN);
        f.user.second_factor = second_factor;
        f.factor_age = age;
        decide(&f, &r)
    };
    let challenge = Decision::Redirect {
        location: "/_2fa/challenge?step_up=1&next=/settings/billing".into(),
    };
    assert_eq!(at("/settings/billing", Some(301), true), challenge);
    assert_eq!(
        at("/settings/billing", None, true),
        challenge,
        "a remembered device: never checked"
    );
    assert!(matches!(at("/settings/billing", Some(300), true), Decision::Forward(_)));
    assert!(matches!(at("/settings/profile", None, true), Decision::Forward(_)));
    assert!(
        matches!(at("/settings/billing", None, false), Decision::Forward(_)),
        "no factor to ask for"
    );
}

#[test]
fn a_single_sign_on_callback_is_a_sign_in_the_gateway_sees_first() {
    let (li, lo) = (login(), logout());
    let callback = [Route {
        method: Method::GET,
        path: "/sso/callback".into(),
    }];
    let r = Routes {
        sign_in: &callback,
        ..routes(&li, &lo)
    };
    let at = |method: &'static Method, path: &'static str, session| {
        decide(&facts(method, path, ClientKind::Navigation, session), &r)
    };
    assert_eq!(at(&Method::GET, "/sso/callback", SessionFacts::None), Decision::Login);
    assert_eq!(
        at(&Method::GET, "/sso/callback", SIGNED_IN),
        Decision::Login,
        "signing in again"
    );
    assert!(
        matches!(
            at(&Method::POST, "/sso/callback", SessionFacts::None),
            Decision::Forward(_)
        ),
        "its method only"
    );
    assert!(matches!(
        at(&Method::GET, "/sso/callbackx", SessionFacts::None),
        Decision::Forward(_)
    ));
    assert_eq!(
        at(&Method::HEAD, "/sso/callback", SessionFacts::None),
        Decision::Login,
        "servers run a GET route for HEAD"
    );
    for spelling in ["/sso/callback/", "/SSO/Callback", "/sso//callback", "/sso/%63allback"] {
        assert_eq!(
            at(&Method::GET, spelling, SessionFacts::None),
            Decision::Login,
            "{spelling}: a server may read it as the callback"
        );
    }
}

#[test]
fn every_spelling_of_the_sign_in_route_is_a_sign_in_the_gateway_sees_first() {
    let (li, lo) = (login(), logout());
    let r = routes(&li, &lo);
    let post = Method::POST;
    let lower = Method::from_bytes(b"post").unwrap();
    for (method, path) in [
        (&post, "/login/"),
        (&post, "/LOGIN"),
        (&post, "/login;x"),
        (&post, "//login"),
        (&post, "/x/../login"),
        (&post, "/%6cogin"),
        (&lower, "/login"),
    ] {
        let f = facts(method, path, ClientKind::Navigation, SessionFacts::None);
        assert_eq!(decide(&f, &r), Decision::Login, "{method} {path}");
    }
    let f = facts(&post, "/logins", ClientKind::Navigation, SessionFacts::None);
    assert!(matches!(decide(&f, &r), Decision::Forward(_)));
    let f = facts(&post, "/Logout/", ClientKind::Navigation, SIGNED_IN);
    assert!(
        matches!(decide(&f, &r), Decision::Forward(Forward { ends_session: true, .. })),
        "and of the sign-out"
    );
}

#[test]
fn forward_auth_holds_the_step_up_rules_of_the_request_it_is_asked_about() {
    let (li, lo) = (login(), logout());
    let rules = billing_rule();
    let r = Routes {
        step_up: &rules,
        ..routes(&li, &lo)
    };
    let verify = |asked: Option<&'static str>, age: Option<u64>, second_factor: bool| {
        let mut f = facts(&Method::GET, "/_2fa/verify", ClientKind::Navigation, SIGNED_IN);
        f.user.second_factor = second_factor;
        f.factor_age = age;
        f.asked_about = asked;
        decide(&f, &r)
    };
    let verified = Decision::Own(OwnRoute::Verify);
    assert_eq!(verify(Some("/settings/billing"), Some(300), true), verified);
    assert_eq!(verify(Some("/reports"), Some(301), true), verified);
    assert_eq!(
        verify(Some("/settings/billing?tab=1"), Some(301), true),
        Decision::StepUpFirst {
            location: "/_2fa/challenge?step_up=1&next=/settings/billing%3Ftab%3D1".into()
        }
    );
    assert!(matches!(
        verify(Some("/Settings//billing"), None, true),
        Decision::StepUpFirst { .. }
    ));
    assert_eq!(
        verify(Some("/settings/billing"), None, false),
        verified,
        "no factor to ask for"
    );
    assert_eq!(verify(None, None, false), verified, "nobody to ask: no need to know");
    assert!(
        matches!(verify(None, Some(1), true), Decision::Deny { status: 500, .. }),
        "with rules set, a proxy that does not say is a set-up error, never a pass"
    );
    for route in ["/login", "/LOGIN/", "/logout;x", "/Login?next=/"] {
        assert!(
            matches!(
                verify(Some(route), Some(1), false),
                Decision::Deny {
                    status: 401,
                    error: "gateway_route",
                    ..
                }
            ),
            "{route}: the sign-in and sign-out go through the gateway"
        );
    }
    for odd in [
        "",
        "settings/billing",
        "http://gw/settings/billing",
        "/projects#/../settings/billing",
    ] {
        assert!(
            matches!(verify(Some(odd), Some(1), false), Decision::Deny { status: 401, .. }),
            "{odd:?}"
        );
    }
    let plain = Routes {
        step_up: &[],
        ..routes(&li, &lo)
    };
    let mut f = facts(&Method::GET, "/_2fa/verify", ClientKind::Navigation, SIGNED_IN);
    f.user.second_factor = true;
    assert_eq!(decide(&f, &plain), verified, "no rules: nothing to ask about");
}
