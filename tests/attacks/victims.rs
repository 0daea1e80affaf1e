//! The people the attacks are made with: sign-ins at every stage a browser
//! can reach through the gateway, and a dashboard cookie taken around it.

use std::net::SocketAddr;

use http::{Method, StatusCode};
use serde_json::json;

use crate::common::api::enable_totp;
use crate::common::{signed_in_as, Browser, Gateway};

/// The gateway cookie and the dashboard cookie one attack carries; either
/// may be missing.
#[derive(Clone, Default)]
pub struct Cookies {
    pub gateway: Option<String>,
    pub upstream: Option<String>,
}

impl Cookies {
    pub fn of(b: &Browser) -> Cookies {
        Cookies {
            gateway: b.jar.get("tfa_session").cloned(),
            upstream: b.jar.get("dash_session").cloned(),
        }
    }

    /// This gateway cookie with that dashboard cookie.
    pub fn with_upstream(&self, upstream: &str) -> Cookies {
        Cookies {
            gateway: self.gateway.clone(),
            upstream: Some(upstream.to_string()),
        }
    }

    /// The `Cookie` header value a browser would send.
    pub fn header(&self) -> String {
        let gateway = self.gateway.as_ref().map(|t| format!("tfa_session={t}"));
        let upstream = self.upstream.as_ref().map(|d| format!("dash_session={d}"));
        let pairs: Vec<String> = gateway.into_iter().chain(upstream).collect();
        pairs.join("; ")
    }
}

/// Everyone on the main gateway, where acme (alice's and bob's account)
/// requires a second factor.
pub struct Cast {
    /// bob: signed in with his dashboard cookie in hand, but he has not set
    /// up the second factor his account requires.
    pub bob: Cookies,
    /// alice: her password accepted, her dashboard cookie held back at the
    /// challenge.
    pub pending: Cookies,
    /// alice's earlier, fully signed-in session, since signed out.
    pub signed_out: Cookies,
    /// carol (globex requires nothing): fully signed in, the victim whose
    /// cookies are stolen.
    pub carol: Cookies,
    /// A live dashboard session of alice's, from signing in at the
    /// dashboard's own address: the held-back cookie, got around the gateway.
    pub alice_direct: String,
    /// alice's unused recovery codes.
    pub recovery: Vec<String>,
    /// Single sign-on: alice held at the challenge after the callback.
    pub sso_pending: Cookies,
    /// The callback that signed her in, spent: sent again, it signs no one in.
    pub spent_callback: String,
    /// A second session of carol's, fully signed in, on which a callback
    /// for alice (who has 2FA) was answered: before, and after.
    pub replaced: Cookies,
    pub switched: Cookies,
}

impl Cast {
    /// The cookies the attacks are made with on the main gateway, named:
    /// each victim's own, and gateway cookies paired with a dashboard cookie
    /// their session never released.
    pub fn pairings(&self) -> Vec<(&'static str, Cookies)> {
        let direct = self.alice_direct.as_str();
        let bob = self.bob.upstream.as_deref().expect("bob holds his dashboard cookie");
        let carol = self
            .carol
            .upstream
            .as_deref()
            .expect("carol holds her dashboard cookie");
        let forged = Cookies {
            gateway: Some("A".repeat(43)),
            upstream: None,
        };
        vec![
            ("bob, who must enroll", self.bob.clone()),
            (
                "bob's gateway cookie with alice's dashboard cookie",
                self.bob.with_upstream(direct),
            ),
            (
                "bob's gateway cookie with carol's dashboard cookie",
                self.bob.with_upstream(carol),
            ),
            ("alice at the challenge", self.pending.clone()),
            (
                "alice at the challenge with her dashboard cookie",
                self.pending.with_upstream(direct),
            ),
            (
                "alice at the challenge with carol's dashboard cookie",
                self.pending.with_upstream(carol),
            ),
            (
                "alice's dashboard cookie alone",
                Cookies::default().with_upstream(direct),
            ),
            ("alice signed out (replay)", self.signed_out.clone()),
            (
                "alice's signed-out gateway cookie with her dashboard cookie",
                self.signed_out.with_upstream(direct),
            ),
            (
                "a forged gateway cookie with alice's dashboard cookie",
                forged.with_upstream(direct),
            ),
            (
                "carol's gateway cookie with bob's dashboard cookie",
                self.carol.with_upstream(bob),
            ),
            (
                "carol's gateway cookie with alice's dashboard cookie",
                self.carol.with_upstream(direct),
            ),
            ("alice at the challenge after single sign-on", self.sso_pending.clone()),
            (
                "alice at the challenge after single sign-on with her dashboard cookie",
                self.sso_pending.with_upstream(direct),
            ),
            (
                "carol's session replaced by a callback for alice",
                self.replaced.clone(),
            ),
            ("carol's browser after a callback for alice", self.switched.clone()),
            (
                "carol's browser after a callback for alice, with alice's dashboard cookie",
                self.switched.with_upstream(direct),
            ),
        ]
    }
}

/// Signs the cast in at `gw`, in front of `dashboard`.
pub async fn cast(gw: &Gateway, dashboard: SocketAddr) -> Cast {
    let mut alice = signed_in_as(gw.addr, "alice@acme.test").await;
    let (_, recovery) = enable_totp(&mut alice, "alice-password").await;
    let on = alice
        .send_json(Method::PUT, "/_2fa/api/accounts/acme/require", json!({"require": true}))
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text());
    let mut bob = signed_in_as(gw.addr, "bob@acme.test").await;
    assert_eq!(
        bob.get("/").await.status,
        StatusCode::SEE_OTHER,
        "bob must enroll first"
    );
    let mut held = Browser::new(gw.addr);
    held.login("alice@acme.test", "alice-password").await;
    assert!(!held.jar.contains_key("dash_session"), "alice is held at the challenge");
    let carol = signed_in_as(gw.addr, "carol@globex.test").await;

    let (sso_pending, spent_callback) = {
        let mut b = Browser::new(gw.addr);
        let callback = sso_callback(&mut b, "alice@acme.test").await;
        let at = b.get(&callback).await;
        assert!(at.header("location").unwrap_or_default().starts_with("/_2fa/challenge"));
        assert!(!b.jar.contains_key("dash_session"), "held back after single sign-on");
        (Cookies::of(&b), callback)
    };
    let mut second = signed_in_as(gw.addr, "carol@globex.test").await;
    let replaced = Cookies::of(&second);
    let callback = sso_callback(&mut second, "alice@acme.test").await;
    let at = second.get(&callback).await;
    assert!(at.header("location").unwrap_or_default().starts_with("/_2fa/challenge"));
    let switched = Cookies::of(&second);
    assert_eq!(switched.upstream, replaced.upstream, "alice's cookie is held back");
    assert_ne!(switched.gateway, replaced.gateway, "a new session for alice");

    let signed_out = Cookies::of(&alice);
    alice.send(Method::POST, "/logout", &[], bytes::Bytes::new()).await;
    assert!(!alice.jar.contains_key("tfa_session"), "signed out");
    Cast {
        sso_pending,
        spent_callback,
        replaced,
        switched,
        bob: Cookies::of(&bob),
        pending: Cookies::of(&held),
        signed_out,
        carol: Cookies::of(&carol),
        alice_direct: direct_cookie(dashboard, "alice@acme.test").await,
        recovery,
    }
}

/// The demo provider's answer for `email`: the callback to send `b` to.
async fn sso_callback(b: &mut Browser, email: &str) -> String {
    let start = b.get(&format!("/sso/start?email={}", email.replace('@', "%40"))).await;
    start.header("location").expect("the provider redirects").to_string()
}

/// A `dash_session` from signing in at the dashboard itself.
pub async fn direct_cookie(dashboard: SocketAddr, email: &str) -> String {
    let b = signed_in_as(dashboard, email).await;
    let cookie = b.jar.get("dash_session").expect("the dashboard sets its cookie");
    let mut check = Browser::new(dashboard);
    let seen = check
        .get_with("/", &[("cookie", &format!("dash_session={cookie}"))])
        .await;
    assert_eq!(seen.header("x-demo-user"), Some(email), "a live dashboard session");
    cookie.clone()
}
