//! Who must use a second factor, answered from memory on every request: each
//! account's activation and requirement, each user's memberships and whether
//! they have a second factor. Accounts are loaded from the store at
//! start-up; a user is loaded when they sign in or a session of theirs is
//! first seen, and forgotten a while after their last session ends, so
//! memory and start-up grow with live sessions, not with enrolled users.
//! Both are updated whenever the store is, so a requirement switched on
//! reaches sessions that already exist at their very next request. The
//! check costs a few map look-ups per account of the user, whatever the
//! number of users.

use dashmap::DashMap;

use crate::env::UnixSeconds;
use crate::factors::{Kind, KindSet};
use crate::identity::{Membership, Role};
use crate::store::{AccountRecord, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
struct AccountState {
    name: String,
    active: bool,
    require: bool,
    grace_until: Option<UnixSeconds>,
}

#[derive(Debug, Clone, Default)]
struct UserState {
    accounts: Vec<Membership>,
    /// The second factors they have (`factors::Kind`).
    kinds: KindSet,
    /// When the memberships were last asked of the upstream (0: not since start-up).
    refreshed_at: UnixSeconds,
    /// When this replica loaded or last updated the user.
    loaded_at: UnixSeconds,
}

/// Whether a signed-in user must enroll before using the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// An account requires 2FA and its grace period is over (or there is none).
    Required {
        accounts: Vec<String>,
    },
    /// An account requires 2FA; the user may continue until `deadline`.
    Grace {
        accounts: Vec<String>,
        deadline: UnixSeconds,
    },
}

/// What the request path needs to know about a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    /// At least one of the user's accounts has the 2FA feature on; if none
    /// has, the gateway shows this user no 2FA at all.
    pub activated: bool,
    pub due: Due,
    /// The user has a second factor that counts (see `KindSet::counting`).
    pub second_factor: bool,
}

/// Where SMS may count as a second factor.
#[derive(Debug, Clone, Default)]
pub struct SmsRule {
    pub offered: bool,
    pub disallowed_accounts: Vec<String>,
}

pub struct Directory {
    default_active: bool,
    sms: SmsRule,
    accounts: DashMap<String, AccountState>,
    users: DashMap<String, UserState>,
}

impl Directory {
    /// The accounts, from the store; users come later (`load_user`).
    pub async fn load(store: &Store, default_active: bool, sms: SmsRule) -> Result<Directory, StoreError> {
        let d = Directory {
            default_active,
            sms,
            accounts: DashMap::new(),
            users: DashMap::new(),
        };
        for a in store.accounts().await? {
            d.put_account(&a);
        }
        Ok(d)
    }

    /// Reads a user's memberships and factors from the store, keeping when
    /// they were last refreshed from the upstream (0 for a user new here:
    /// their first request asks the upstream again).
    pub async fn load_user(&self, store: &Store, id: &str, now: UnixSeconds) -> Result<(), StoreError> {
        let Some(user) = store.user(id).await? else {
            return Ok(());
        };
        let factors = match store.factors(id).await {
            Ok(f) => KindSet::of(&f),
            Err(StoreError::Corrupt { detail, .. }) => {
                // One damaged record must not let its user skip the second
                // factor: counted as TOTP on, the user is held at a
                // challenge that cannot pass until the record is repaired.
                tracing::error!(user = %id, %detail, "unreadable second-factor record; the user cannot sign in");
                let mut held = KindSet::default();
                held.set(Kind::Totp, true);
                held
            }
            Err(e) => return Err(e),
        };
        let refreshed = self.refreshed_at(id).unwrap_or(0);
        self.put_user(id, user.accounts, factors, refreshed);
        if let Some(mut u) = self.users.get_mut(id) {
            u.loaded_at = now;
        }
        Ok(())
    }

    /// Forgets users who have no session here (`active` says who has one)
    /// and were not loaded or changed in the last `keep` seconds, which
    /// covers a sign-in between loading its user and starting its session.
    pub fn forget_idle_users(&self, active: impl Fn(&str) -> bool, now: UnixSeconds, keep: u64) {
        self.users
            .retain(|id, u| active(id) || now.saturating_sub(u.loaded_at) < keep);
    }

    /// How many users this replica holds.
    pub fn users_held(&self) -> usize {
        self.users.len()
    }

    pub fn put_account(&self, a: &AccountRecord) {
        self.accounts.insert(
            a.id.clone(),
            AccountState {
                name: a.name.clone(),
                active: a.active.unwrap_or(self.default_active),
                require: a.require_2fa,
                grace_until: a.grace_until,
            },
        );
    }

    /// Records a user's memberships as the upstream gave them at
    /// `refreshed_at`, and which second factors they have.
    pub fn put_user(&self, user_id: &str, accounts: Vec<Membership>, kinds: KindSet, refreshed_at: UnixSeconds) {
        for m in &accounts {
            self.accounts
                .entry(m.account_id.clone())
                .or_insert_with(|| AccountState {
                    name: m.account_name.clone(),
                    active: self.default_active,
                    require: false,
                    grace_until: None,
                });
        }
        // A user put here now is held at least a minute (see
        // `forget_idle_users`); `refreshed_at` is the upstream's time.
        let loaded_at = self
            .users
            .get(user_id)
            .map_or(refreshed_at, |u| u.loaded_at.max(refreshed_at));
        self.users.insert(
            user_id.to_string(),
            UserState {
                accounts,
                kinds,
                refreshed_at,
                loaded_at,
            },
        );
    }

    /// Whether this replica holds the user (loaded, or seen since).
    pub fn knows(&self, user_id: &str) -> bool {
        self.users.contains_key(user_id)
    }

    /// When the user's memberships were last asked of the upstream.
    pub fn refreshed_at(&self, user_id: &str) -> Option<UnixSeconds> {
        self.users.get(user_id).map(|u| u.refreshed_at)
    }

    /// Replaces a user's memberships after a refresh, keeping their 2FA state.
    pub fn refresh_user(&self, user_id: &str, accounts: Vec<Membership>, now: UnixSeconds) {
        let kinds = self.users.get(user_id).map_or(KindSet::default(), |u| u.kinds);
        self.put_user(user_id, accounts, kinds, now);
    }

    /// Whether this request should refresh the user's memberships: true for
    /// one caller once they are `interval` old, so one request in each
    /// interval pays for it, in the background.
    pub fn claim_refresh(&self, user_id: &str, now: UnixSeconds, interval: u64) -> bool {
        let stale = |u: &UserState| now.saturating_sub(u.refreshed_at) >= interval;
        if !self.users.get(user_id).is_some_and(|u| stale(&u)) {
            return false;
        }
        match self.users.get_mut(user_id) {
            Some(mut u) if stale(&u) => {
                u.refreshed_at = now;
                true
            }
            _ => false,
        }
    }

    /// The user's kinds, as a record just written says them.
    pub fn set_kinds(&self, user_id: &str, kinds: KindSet) {
        if let Some(mut u) = self.users.get_mut(user_id) {
            u.kinds = kinds;
        }
    }

    pub fn set_factor(&self, user_id: &str, kind: Kind, on: bool) {
        if let Some(mut u) = self.users.get_mut(user_id) {
            u.kinds.set(kind, on);
        }
    }

    /// Whether SMS is a second factor this user may have: offered by the
    /// operator and disallowed by none of their accounts.
    pub fn sms_allowed(&self, user_id: &str) -> bool {
        self.users.get(user_id).is_some_and(|u| self.sms_allowed_for(&u))
    }

    fn sms_allowed_for(&self, u: &UserState) -> bool {
        self.sms.offered
            && !u
                .accounts
                .iter()
                .any(|m| self.sms.disallowed_accounts.contains(&m.account_id))
    }

    /// Whether the user has a second factor that counts (`Kind::counts`;
    /// SMS only where SMS is allowed for them). The one answer to "has
    /// two-factor authentication" for enforcement, the owner's toggle (page
    /// and API) and the operator's counts, so they cannot disagree.
    pub fn has_second_factor(&self, user_id: &str) -> bool {
        self.users.get(user_id).is_some_and(|u| self.enrolled(&u, None))
    }

    /// `has_second_factor` for a user this replica may not hold, from their
    /// stored memberships and factors.
    pub fn counts_as_second_factor(&self, accounts: &[Membership], kinds: KindSet) -> bool {
        let u = UserState {
            accounts: accounts.to_vec(),
            kinds,
            ..UserState::default()
        };
        self.enrolled(&u, None)
    }

    /// The accounts (by name) that would send the user to enroll if
    /// `kind` were turned off: empty unless it is the only factor of
    /// theirs that counts and an active account of theirs requires one.
    /// Said before the user confirms turning it off.
    pub fn due_without(&self, user_id: &str, kind: Kind) -> Vec<String> {
        let Some(u) = self.users.get(user_id) else {
            return Vec::new();
        };
        if !self.enrolled(&u, None) || self.enrolled(&u, Some(kind)) {
            return Vec::new();
        }
        u.accounts
            .iter()
            .filter_map(|m| self.accounts.get(&m.account_id))
            .filter(|a| a.active && a.require)
            .map(|a| a.name.clone())
            .collect()
    }

    /// Whether the user has a second factor that counts, leaving `without`
    /// out; an SMS number where SMS is disallowed does not count, so they
    /// are asked to move to TOTP.
    fn enrolled(&self, u: &UserState, without: Option<Kind>) -> bool {
        u.kinds
            .without(without)
            .iter()
            .any(|k| k.counts() && (k != Kind::Sms || self.sms_allowed_for(u)))
    }

    pub fn is_active(&self, account_id: &str) -> bool {
        self.accounts.get(account_id).map_or(self.default_active, |a| a.active)
    }

    /// Whether the account requires 2FA of its users, and until when a grace
    /// period runs, as far as the gateway knows.
    pub fn requirement(&self, account_id: &str) -> (bool, Option<UnixSeconds>) {
        self.accounts
            .get(account_id)
            .map_or((false, None), |a| (a.require, a.grace_until))
    }

    /// The user's memberships, as last learned from the upstream.
    pub fn memberships(&self, user_id: &str) -> Vec<Membership> {
        self.users.get(user_id).map(|u| u.accounts.clone()).unwrap_or_default()
    }

    pub fn account_name(&self, account_id: &str) -> Option<String> {
        self.accounts.get(account_id).map(|a| a.name.clone())
    }

    pub fn role(&self, user_id: &str, account_id: &str) -> Option<Role> {
        let u = self.users.get(user_id)?;
        u.accounts.iter().find(|m| m.account_id == account_id).map(|m| m.role)
    }

    /// The per-request question.
    pub fn view(&self, user_id: &str, now: UnixSeconds) -> UserView {
        match self.users.get(user_id) {
            Some(user) => self.view_of(&user, now),
            None => UserView {
                activated: self.default_active,
                due: Due::Nothing,
                second_factor: false,
            },
        }
    }

    /// The per-request read of a signed-in user: their view, and whether
    /// this request should refresh their memberships (`refresh_every`: see
    /// `claim_refresh`); `None` if this replica does not hold the user. One
    /// look-up of the user where three (`knows`, `claim_refresh`, `view`)
    /// used to be.
    pub fn for_request(&self, user_id: &str, now: UnixSeconds, refresh_every: Option<u64>) -> Option<(UserView, bool)> {
        let (view, stale) = {
            let user = self.users.get(user_id)?;
            let stale = refresh_every.is_some_and(|every| now.saturating_sub(user.refreshed_at) >= every);
            (self.view_of(&user, now), stale)
        };
        // Rarely true: once per user and interval; the claim decides which
        // of the requests that saw it stale refreshes.
        let refresh = stale && refresh_every.is_some_and(|every| self.claim_refresh(user_id, now, every));
        Some((view, refresh))
    }

    fn view_of(&self, user: &UserState, now: UnixSeconds) -> UserView {
        let mut activated = false;
        let mut required = Vec::new();
        let mut grace: Option<(Vec<String>, UnixSeconds)> = None;
        for m in &user.accounts {
            let Some(a) = self.accounts.get(&m.account_id) else {
                activated |= self.default_active;
                continue;
            };
            if !a.active {
                continue;
            }
            activated = true;
            if !a.require || self.enrolled(user, None) {
                continue;
            }
            match a.grace_until {
                Some(until) if now < until => {
                    let g = grace.get_or_insert_with(|| (Vec::new(), until));
                    g.0.push(a.name.clone());
                    g.1 = g.1.min(until);
                }
                _ => required.push(a.name.clone()),
            }
        }
        let due = match (required.is_empty(), grace) {
            (false, _) => Due::Required { accounts: required },
            (true, Some((accounts, deadline))) => Due::Grace { accounts, deadline },
            (true, None) => Due::Nothing,
        };
        UserView {
            activated,
            due,
            second_factor: user.kinds.counting(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(account: &str, role: Role) -> Membership {
        Membership {
            account_id: account.into(),
            account_name: account.to_uppercase(),
            role,
        }
    }

    fn requiring(id: &str, grace_until: Option<UnixSeconds>) -> AccountRecord {
        AccountRecord {
            require_2fa: true,
            grace_until,
            ..AccountRecord::new(id, &id.to_uppercase())
        }
    }

    fn kinds(totp: bool, sms: bool) -> KindSet {
        let mut set = KindSet::default();
        set.set(Kind::Totp, totp);
        set.set(Kind::Sms, sms);
        set
    }

    fn directory() -> Directory {
        Directory {
            default_active: true,
            sms: SmsRule {
                offered: true,
                disallowed_accounts: vec!["globex".into()],
            },
            accounts: DashMap::new(),
            users: DashMap::new(),
        }
    }

    #[test]
    fn requirement_applies_to_members_without_a_second_factor_only() {
        let d = directory();
        d.put_user("bob", vec![member("acme", Role::Member)], kinds(false, false), 0);
        d.put_user("carol", vec![member("globex", Role::Owner)], kinds(false, false), 0);
        d.put_account(&requiring("acme", None));
        assert_eq!(
            d.view("bob", 0).due,
            Due::Required {
                accounts: vec!["ACME".into()]
            }
        );
        assert_eq!(d.view("carol", 0).due, Due::Nothing);
        d.set_factor("bob", Kind::Totp, true);
        assert_eq!(d.view("bob", 0).due, Due::Nothing);
    }

    #[test]
    fn grace_period_lets_the_user_continue_until_its_deadline() {
        let d = directory();
        d.put_user("bob", vec![member("acme", Role::Member)], kinds(false, false), 0);
        d.put_account(&requiring("acme", Some(100)));
        assert!(matches!(d.view("bob", 50).due, Due::Grace { deadline: 100, .. }));
        assert!(matches!(d.view("bob", 100).due, Due::Required { .. }));
    }

    #[test]
    fn one_request_per_interval_refreshes_memberships() {
        let d = directory();
        d.put_user("bob", vec![member("acme", Role::Member)], kinds(true, false), 1000);
        assert!(!d.claim_refresh("bob", 1030, 60));
        assert!(d.claim_refresh("bob", 1060, 60));
        assert!(!d.claim_refresh("bob", 1061, 60), "already claimed");
        d.refresh_user("bob", vec![member("acme", Role::Owner)], 1062);
        assert_eq!(d.role("bob", "acme"), Some(Role::Owner));
        assert_eq!(d.view("bob", 1062).due, Due::Nothing, "2FA state kept");
        assert!(!d.claim_refresh("nobody", 5000, 60));
    }

    #[test]
    fn the_per_request_read_gives_the_view_and_claims_one_refresh_per_interval() {
        let d = directory();
        assert!(d.for_request("bob", 1000, Some(60)).is_none(), "not held");
        d.put_user("bob", vec![member("acme", Role::Member)], kinds(false, false), 1000);
        d.put_account(&requiring("acme", None));
        let (view, refresh) = d.for_request("bob", 1030, Some(60)).unwrap();
        assert!(matches!(view.due, Due::Required { .. }));
        assert_eq!((view, refresh), (d.view("bob", 1030), false));
        assert!(
            d.for_request("bob", 1060, Some(60)).unwrap().1,
            "stale: this one refreshes"
        );
        assert!(!d.for_request("bob", 1061, Some(60)).unwrap().1, "already claimed");
        assert!(
            !d.for_request("bob", 9999, None).unwrap().1,
            "no dashboard cookie, no refresh"
        );
    }

    #[test]
    fn sms_does_not_count_where_an_account_disallows_it() {
        let d = directory();
        d.put_user("bob", vec![member("acme", Role::Member)], kinds(false, true), 0);
        d.put_user("dave", vec![member("globex", Role::Member)], kinds(false, true), 0);
        d.put_account(&requiring("acme", None));
        d.put_account(&requiring("globex", None));
        assert_eq!(d.view("bob", 0).due, Due::Nothing);
        assert!(
            matches!(d.view("dave", 0).due, Due::Required { .. }),
            "asked to move to TOTP"
        );
        assert!(!d.sms_allowed("dave") && d.sms_allowed("bob"));
    }

    #[test]
    fn sms_counts_as_a_second_factor_only_where_it_is_allowed() {
        let d = directory();
        d.put_user("bob", vec![member("acme", Role::Owner)], kinds(false, true), 0);
        d.put_user("dave", vec![member("globex", Role::Owner)], kinds(false, true), 0);
        d.put_user("erin", vec![member("globex", Role::Member)], kinds(true, false), 0);
        d.put_user("fay", vec![member("acme", Role::Member)], kinds(false, false), 0);
        assert!(d.has_second_factor("bob"), "SMS where allowed");
        assert!(!d.has_second_factor("dave"), "SMS where disallowed");
        assert!(d.has_second_factor("erin"), "an authenticator app anywhere");
        assert!(!d.has_second_factor("fay") && !d.has_second_factor("nobody"));
        let mut codes_only = KindSet::default();
        codes_only.set(Kind::Recovery, true);
        d.put_user("gus", vec![member("acme", Role::Member)], codes_only, 0);
        assert!(!d.has_second_factor("gus"), "recovery codes alone do not count");
    }

    #[test]
    fn turning_off_the_only_factor_that_counts_names_the_accounts_that_require_one() {
        let d = directory();
        d.put_user("bob", vec![member("acme", Role::Member)], kinds(true, false), 0);
        d.put_user("amy", vec![member("acme", Role::Member)], kinds(true, true), 0);
        d.put_user("dave", vec![member("globex", Role::Member)], kinds(true, true), 0);
        assert!(d.due_without("bob", Kind::Totp).is_empty(), "nothing required yet");
        d.put_account(&requiring("acme", None));
        d.put_account(&requiring("globex", None));
        assert_eq!(d.due_without("bob", Kind::Totp), vec!["ACME".to_string()]);
        assert!(d.due_without("amy", Kind::Totp).is_empty(), "SMS remains");
        assert!(d.due_without("amy", Kind::Sms).is_empty(), "the app remains");
        assert_eq!(
            d.due_without("dave", Kind::Totp),
            vec!["GLOBEX".to_string()],
            "SMS does not count at globex"
        );
        assert!(d.due_without("dave", Kind::Sms).is_empty());
    }

    #[test]
    fn user_of_no_activated_account_sees_no_2fa() {
        let d = directory();
        d.put_user("bob", vec![member("acme", Role::Member)], kinds(false, false), 0);
        d.put_account(&AccountRecord {
            active: Some(false),
            ..requiring("acme", None)
        });
        assert_eq!(
            d.view("bob", 0),
            UserView {
                activated: false,
                due: Due::Nothing,
                second_factor: false,
            }
        );
    }
}
