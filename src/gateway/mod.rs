//! The gateway's shared state, built once before the server starts and
//! shared by every request through an `Arc`: configuration, store, sessions,
//! the upstream client. Its methods are the few state changes a request can
//! cause (sign-in, sign-out, rotation), each with its store write and audit
//! event, so the proxy hooks stay thin.

use std::sync::Arc;

use crate::config::Config;
use crate::directory::{Directory, SmsRule};
use crate::env::Env;
use crate::factors::Factors;
use crate::identity::Identity;
use crate::metrics::Metrics;
use crate::secretbox::SecretKey;
use crate::session::{Ended, Found, Session, SessionTable, Stage, TokenHash};
use crate::sign_in_limit::SignInLimit;
use crate::sms::SmsService;
use crate::store::{AuditEvent, SessionChange, Store, StoreError};
use crate::throttle::Throttle;

mod rotation;
mod sessions;
mod sweep;
use crate::upstream::UpstreamClient;

pub use sessions::{session_id, Listed};

pub struct Gateway {
    pub config: Config,
    pub env: Env,
    pub store: Store,
    pub sessions: SessionTable,
    pub upstream: UpstreamClient,
    pub factors: Factors,
    pub throttle: Throttle,
    /// Sign-in attempts per client address.
    pub sign_ins: SignInLimit,
    /// Permits for code checks, whose recovery-code hashing is the costly
    /// part of a sign-in: fewer than the cores, so a flood of wrong codes
    /// queues here and leaves a core to the traffic of signed-in users.
    pub code_work: tokio::sync::Semaphore,
    pub directory: Directory,
    /// Sessions being read from the store, one read per session however
    /// many requests miss it at once.
    adopting: dashmap::DashMap<TokenHash, Arc<tokio::sync::Mutex<()>>>,
    pub metrics: Metrics,
    /// Handing over to a successor process (graceful upgrade).
    pub drain: crate::drain::Drain,
    /// `None` when the operator does not offer SMS.
    pub sms: Option<SmsService>,
}

/// How long a user stays in memory after their last session here ended.
const USER_KEEP_SECS: u64 = 300;

/// One fewer than the cores, at least one.
fn code_work_permits() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// Why a gateway session ended: for the audit trail, and to know whether
/// the dashboard's session it held must be signed out too (every reason but
/// the dashboard's own sign-out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The browser signed out at the dashboard, which ended its session.
    SignedOutUpstream,
    /// The same browser signed in again.
    Replaced,
    /// Idle timeout, lifetime, or a second factor never passed.
    Expired,
    /// The user was locked out while this sign-in waited for its code.
    LockedOut,
    /// The user's newer sessions pushed it past the per-user cap.
    TooMany,
    /// The user signed out (or chose to sign in as someone else) on a page
    /// of the gateway's, before the dashboard was reachable.
    SignedOut,
    /// The user signed it out from their list of sessions, or an operator
    /// signed all of the user's sessions out.
    Revoked,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SignedOutUpstream => "signed out at the upstream",
            EndReason::Replaced => "replaced by a new sign-in",
            EndReason::Expired => "expired",
            EndReason::LockedOut => "locked out",
            EndReason::TooMany => "too many sessions: the oldest ended",
            EndReason::SignedOut => "signed out at the gateway",
            EndReason::Revoked => "signed out from the sessions list",
        }
    }
}

/// Where a sign-in comes from: the client address, the browser's
/// `User-Agent`, and the remembered-device cookie it sent, if any.
#[derive(Debug, Default)]
pub struct Arrival {
    pub client: Option<String>,
    pub user_agent: Option<String>,
    pub device: Option<String>,
}

/// A sign-in the gateway has recorded.
pub struct SignedIn {
    /// The browser's new gateway token.
    pub token: String,
    /// Whether the upstream's cookie is held back for a second factor.
    pub held: bool,
}

impl Gateway {
    /// Builds the state and loads the sessions that survived a restart.
    pub async fn new(
        config: Config,
        env: Env,
        store: Store,
        key: SecretKey,
        sms: Option<SmsService>,
        webauthn: Option<crate::factors::RelyingParty>,
    ) -> Result<Arc<Gateway>, StoreError> {
        let sessions = SessionTable::new(config.session, key.clone());
        let (records, errors) = store.sessions().await?;
        for e in errors {
            tracing::warn!(error = %e, "skipping an unreadable stored session");
        }
        let mut restored = 0;
        let mut expired = Vec::new();
        for r in &records {
            if sessions.restore(&env, r) {
                restored += 1;
            } else {
                expired.push(r.token_hash);
            }
        }
        if let Err(e) = store.delete_sessions(&expired).await {
            tracing::warn!(error = %e, "cannot delete expired sessions");
        }
        tracing::info!(restored, "sessions restored from the store");
        let upstream = UpstreamClient::new(&config.upstream);
        let factors = Factors {
            store: store.clone(),
            env: env.clone(),
            key,
            issuer: config.second_factor.issuer.clone(),
            webauthn,
        };
        let throttle = Throttle::new(config.second_factor.limits, store.clone());
        let sign_ins = SignInLimit::new(config.sign_ins_per_minute);
        let sms_rule = SmsRule {
            offered: sms.is_some() && config.sms.allowed,
            disallowed_accounts: config.sms.disallowed_accounts.clone(),
        };
        let directory = Directory::load(&store, config.accounts.activated_by_default, sms_rule).await?;
        // Users are loaded for the sessions that came back, not all of them.
        for user in sessions.users() {
            directory.load_user(&store, &user, env.now()).await?;
        }
        Ok(Arc::new(Gateway {
            config,
            env,
            store,
            sessions,
            upstream,
            factors,
            throttle,
            sign_ins,
            code_work: tokio::sync::Semaphore::new(code_work_permits()),
            directory,
            adopting: dashmap::DashMap::new(),
            metrics: Metrics::default(),
            drain: crate::drain::Drain::default(),
            sms,
        }))
    }

    /// Records an audit event without making the request wait for it.
    pub fn audit(self: &Arc<Self>, kind: &str, user_id: Option<&str>, client: Option<String>, detail: String) {
        self.audit_account(kind, user_id, None, client, detail);
    }

    /// Records an audit event about an account.
    pub fn audit_account(
        self: &Arc<Self>,
        kind: &str,
        user_id: Option<&str>,
        account_id: Option<&str>,
        client: Option<String>,
        detail: String,
    ) {
        let event = AuditEvent {
            at: self.env.now(),
            kind: kind.to_string(),
            user_id: user_id.map(str::to_string),
            account_id: account_id.map(str::to_string),
            client,
            detail,
        };
        let gw = self.clone();
        tokio::spawn(async move {
            if let Err(e) = gw.store.audit(&event).await {
                e.log("cannot write an audit event");
            }
        });
    }

    /// Records a successful upstream sign-in: remembers the user, starts a
    /// gateway session bound to `upstream_cookie`, and persists it if it is
    /// complete. `held_set_cookies` are kept back when a second factor is due,
    /// unless the browser is a remembered device of this user.
    pub async fn sign_in(
        self: &Arc<Self>,
        who: Identity,
        upstream_cookie: &str,
        held_set_cookies: Vec<String>,
        arrival: Arrival,
    ) -> Result<SignedIn, StoreError> {
        let Arrival {
            client,
            user_agent,
            device,
        } = arrival;
        let now = self.env.now();
        // A user with a second factor must pass it before the upstream's
        // session is released.
        let user = self.store.remember_user(&who, now).await?;
        let factors = self.store.factors(&user.id).await?;
        let kinds = crate::factors::KindSet::of(&factors);
        self.directory.put_user(&user.id, user.accounts.clone(), kinds, now);
        // For a user of no activated account the gateway is transparent. An
        // SMS user is challenged even where SMS is disallowed: the challenge
        // still protects them while they are asked to move to TOTP.
        let due = kinds.counting() && self.directory.view(&user.id, now).activated;
        let remembered = match device.as_deref() {
            Some(token) if due && self.config.second_factor.remember_device_days > 0 => self
                .factors
                .device_lets_in(&user.id, &factors, token)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot check a remembered device; asking for the second factor");
                    false
                }),
            _ => false,
        };
        let held = due && !remembered;
        let stage = if held {
            Stage::Pending { held_set_cookies }
        } else {
            Stage::Authenticated
        };
        let about = crate::session::About::new(client.as_deref(), user_agent.as_deref(), now, !who.has_password);
        let (token, hash, session) = self
            .sessions
            .start_from(&self.env, &user.id, upstream_cookie, stage, about);
        // Pending too: the challenge may reach another replica.
        self.persist_new(hash, &session).await?;
        self.end_over_cap(&user.id, client.clone()).await;
        self.audit(
            "login",
            Some(&user.id),
            client,
            match (held, remembered) {
                (true, _) => "second factor due",
                (false, true) => "signed in on a remembered device",
                (false, false) => "signed in",
            }
            .into(),
        );
        Ok(SignedIn { token, held })
    }

    /// Asks the upstream again who the user of `upstream_cookie` is, so that
    /// role and membership changes arrive; runs in the background.
    pub fn refresh_identity(self: &Arc<Self>, user_id: &str, upstream_cookie: Arc<str>) {
        let gw = self.clone();
        let user_id = user_id.to_string();
        tokio::spawn(async move {
            let up = &gw.config.upstream;
            let who = match gw
                .upstream
                .identity(&up.identity, &up.session_cookie, &upstream_cookie)
                .await
            {
                Ok(who) if who.user_id == user_id => who,
                Ok(_) => {
                    tracing::warn!("identity refresh answered for another user; ignored");
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "identity refresh failed; keeping what is known");
                    return;
                }
            };
            let now = gw.env.now();
            gw.directory.refresh_user(&user_id, who.accounts.clone(), now);
            if let Err(e) = gw.store.refresh_user(&who, now).await {
                e.log("cannot save refreshed memberships");
            }
        });
    }

    /// Makes sure the directory holds the user of a live session: one this
    /// replica forgot, or loaded before a failure, is read again.
    pub async fn ensure_user(&self, user_id: &str) -> Result<(), StoreError> {
        if self.directory.knows(user_id) {
            return Ok(());
        }
        crate::replicas::load_user(self, user_id).await
    }

    /// Reads a session another replica started into this one's table;
    /// `false` if the store has none (remembered, so a replayed token is
    /// not read again) or cannot be read now.
    pub async fn adopt_session(&self, hash: TokenHash) -> bool {
        let gate = self.adopting.entry(hash).or_default().clone();
        let _one_at_a_time = gate.lock().await;
        // Another request may have read it meanwhile.
        let adopted = if self.sessions.get(&hash).is_some() {
            true
        } else if self.sessions.known_absent(&hash) {
            false
        } else {
            self.read_session(hash).await
        };
        self.adopting.remove(&hash);
        adopted
    }

    async fn read_session(&self, hash: TokenHash) -> bool {
        match self.store.session(&hash).await {
            Ok(Some(record)) => {
                // Its user may have signed up through another replica since
                // this one started: enforcement needs their memberships.
                if !self.directory.knows(&record.user_id) {
                    if let Err(e) = crate::replicas::load_user(self, &record.user_id).await {
                        tracing::debug!(error = %e, "cannot read a session's user from the store");
                        return false;
                    }
                }
                self.sessions.adopt(&self.env, &record).is_some()
            }
            Ok(None) => {
                self.sessions.mark_absent(hash, self.env.now());
                false
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot read a session from the store");
                false
            }
        }
    }

    /// Releases a pending session after its second factor: a new token,
    /// persisted, and the upstream Set-Cookie headers that were held back.
    pub async fn release(self: &Arc<Self>, pending: &TokenHash) -> Result<Option<(String, Vec<String>)>, StoreError> {
        let Some((token, hash, session, held)) = self.sessions.release(&self.env, pending) else {
            return Ok(None);
        };
        // Then taken from the store, atomically: of two replicas releasing
        // one sign-in (a double submit, a race), only one goes on. Memory
        // goes first, since the store's announcement of the end comes back
        // to this replica too.
        match self.store.take_session(pending).await {
            Ok(true) => {}
            Ok(false) => {
                self.sessions.end(&hash);
                return Ok(None);
            }
            Err(e) => {
                self.sessions.end(&hash);
                return Err(e);
            }
        }
        self.persist_new(hash, &session).await?;
        self.end_over_cap(&session.user_id, None).await;
        Ok(Some((token, held)))
    }

    /// Ends the user's oldest sessions beyond the per-user caps.
    async fn end_over_cap(self: &Arc<Self>, user_id: &str, client: Option<String>) {
        let ended = self.sessions.over_cap(user_id);
        self.ended(ended, EndReason::TooMany, client).await;
    }

    /// Ends every sign-in of the user still waiting for a second factor:
    /// after a lockout none of them can be completed, and the dashboard
    /// sessions they hold are signed out rather than left to expire.
    pub async fn end_pending(self: &Arc<Self>, user_id: &str, client: Option<String>) {
        let pending: Vec<TokenHash> = self
            .sessions
            .of_user(user_id)
            .into_iter()
            .filter(|(_, s)| s.stage != Stage::Authenticated)
            .map(|(h, _)| h)
            .collect();
        let ended = pending
            .iter()
            .filter_map(|h| self.sessions.end(h).map(|s| (*h, s)))
            .collect();
        self.ended(ended, EndReason::LockedOut, client).await;
    }

    /// Writes a new session, durably: a sign-in the browser
    /// was told about must survive a crash. If it cannot be written, the
    /// session is ended rather than left to vanish at the next restart.
    async fn persist_new(self: &Arc<Self>, hash: TokenHash, session: &Session) -> Result<(), StoreError> {
        let result = self.store.put_session(&session.to_record(hash)).await;
        if result.is_err() {
            self.sessions.end(&hash);
        }
        result
    }

    /// Ends a gateway session: in memory at once, and on disk before the
    /// caller answers. The delete is durable like the sign-in it undoes: a
    /// sign-out the browser was told about must hold after a crash.
    pub async fn end_session(self: &Arc<Self>, hash: &TokenHash, why: EndReason, client: Option<String>) {
        let Some(session) = self.sessions.end(hash) else {
            return;
        };
        self.ended(vec![(*hash, session)], why, client).await;
    }

    /// Ends, in the background, a session a request found expired: its
    /// store record goes and its dashboard session is signed out now rather
    /// than at the next sweep.
    pub fn end_expired(self: &Arc<Self>, ended: Ended) {
        let gw = self.clone();
        tokio::spawn(async move { gw.ended(vec![ended], EndReason::Expired, None).await });
    }

    /// What follows the end of sessions already out of the table: the audit,
    /// the store delete of signed-in ones (durable before the caller
    /// answers), and, in the background, the sign-out of the dashboard
    /// sessions they held, unless the dashboard itself ended them.
    async fn ended(self: &Arc<Self>, ended: Vec<Ended>, why: EndReason, client: Option<String>) {
        if ended.is_empty() {
            return;
        }
        let mut stored = Vec::new();
        let mut sign_out = Vec::new();
        for (hash, session) in &ended {
            self.audit(
                "logout",
                Some(&session.user_id),
                client.clone(),
                why.as_str().to_string(),
            );
            stored.push(*hash);
            if why != EndReason::SignedOutUpstream {
                sign_out.extend(session.upstream_cookie().cloned());
            }
        }
        self.sign_out_in_background(sign_out);
        if stored.is_empty() {
            return;
        }
        if let Err(e) = self.store.delete_sessions(&stored).await {
            e.log("cannot delete an ended session; it may return at a restart");
        }
    }

    /// Records a password confirmation in the session, in memory and in
    /// the store, so the next request may reach any replica.
    pub async fn confirm_password(&self, found: &Found, now: crate::env::UnixSeconds) -> Result<(), StoreError> {
        found.session.confirm_password(now);
        self.store
            .update_session(&found.token_hash, SessionChange::Confirmed(now))
            .await
            .map(drop)
    }

    /// Whether the password was confirmed recently in this session, through
    /// this replica or, as the store says, another.
    pub async fn password_confirmed(&self, found: &Found) -> bool {
        let (now, window) = (self.env.now(), self.config.second_factor.confirm_window_secs);
        if found.session.about.passwordless {
            return self.signed_in_recently(found);
        }
        if found.session.password_confirmed(now, window) {
            return true;
        }
        if let Ok(Some(stored)) = self.store.session(&found.token_hash).await {
            found.session.confirmed_elsewhere(stored.confirmed_at);
        }
        found.session.password_confirmed(now, window)
    }

    /// Whether the user signed in within the confirmation window: how a user
    /// without a password confirms a change.
    pub fn signed_in_recently(&self, found: &Found) -> bool {
        let window = self.config.second_factor.confirm_window_secs;
        self.env.now().saturating_sub(found.session.about.signed_in_at) <= window
    }

    /// Signs out an upstream session the gateway will not release. Best
    /// effort: a failure is logged, and the upstream's own expiry remains.
    pub async fn sign_out_upstream(&self, cookie: &str) {
        let up = &self.config.upstream;
        if let Err(e) = self.upstream.logout(&up.logout, &up.session_cookie, cookie).await {
            tracing::warn!(error = %e, "could not end an upstream session the gateway will not release");
        }
    }

    /// Signs the dashboard sessions of `cookies` out without making anyone wait.
    pub(crate) fn sign_out_in_background(self: &Arc<Self>, cookies: Vec<Arc<str>>) {
        if cookies.is_empty() {
            return;
        }
        let gw = self.clone();
        tokio::spawn(async move {
            for cookie in cookies {
                gw.sign_out_upstream(&cookie).await;
            }
        });
    }
}
