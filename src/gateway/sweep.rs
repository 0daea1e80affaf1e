//! The periodic work of a replica: its own expired sessions out of memory
//! and the store (their dashboard sessions signed out), its users without
//! a session forgotten, recent activity saved, and now and then the whole
//! store's sessions swept for those no replica holds any more.

use std::sync::Arc;

use super::{Gateway, USER_KEEP_SECS};
use crate::env::UnixSeconds;
use crate::session::{Ended, TokenHash};
use crate::store::SessionChange;

impl Gateway {
    /// Ends stored sessions that expired where no replica holds them (the
    /// replica that did stopped or crashed), and signs out the dashboard
    /// sessions they held. Every replica's own sweep covers what it holds;
    /// this covers the rest, at a slower pace since it reads every record.
    pub async fn sweep_store(self: &Arc<Self>) {
        let now = self.env.now();
        let records = match self.store.sessions().await {
            Ok((records, _unreadable)) => records,
            Err(e) => return e.log("cannot read the stored sessions to sweep them"),
        };
        let mut gone = Vec::new();
        let mut sign_out = Vec::new();
        for r in records.iter().filter(|r| self.sessions.get(&r.token_hash).is_none()) {
            if let Some(cookie) = self.sessions.expired_record(r, now) {
                gone.push(r.token_hash);
                sign_out.extend(cookie.map(Arc::from));
            }
        }
        if let Err(e) = self.store.delete_sessions(&gone).await {
            return e.log("cannot delete expired stored sessions");
        }
        self.sign_out_in_background(sign_out);
    }

    /// Drops expired sessions, signs out the dashboard sessions they held,
    /// and saves recent activity, so the idle timer survives a restart
    /// without a disk write per request.
    pub async fn sweep(self: &Arc<Self>, since: u64) {
        let now = self.env.now();
        let crate::session::Swept {
            mut gone,
            idle,
            active,
            mut sign_out,
        } = self.sessions.sweep(now, since);
        // Users without a session here leave memory a while after the last.
        self.directory
            .forget_idle_users(|id| self.sessions.has_user(id), now, USER_KEEP_SECS);
        let (idle_gone, idle_sign_out) = self.idle_everywhere(idle, now).await;
        gone.extend(idle_gone);
        sign_out.extend(idle_sign_out);
        self.sign_out_in_background(sign_out);
        if gone.is_empty() && active.is_empty() {
            return;
        }
        let mut result = self.store.delete_sessions(&gone).await;
        for (hash, last_seen) in &active {
            if result.is_ok() {
                result = self
                    .store
                    .update_session(hash, SessionChange::Activity(*last_seen))
                    .await
                    .map(drop);
            }
        }
        if let Err(e) = result {
            e.log("session sweep could not write to the store");
        }
    }

    /// Of the signed-in sessions that idled out here, those no replica used
    /// either, as the store says (every replica saves its sessions'
    /// activity there every `SessionSettings::sweep_every`, a quarter of the
    /// idle timeout at most, so a session in use elsewhere never looks
    /// idle there): their hashes, to delete, and their
    /// dashboard cookies, to sign out. The others only leave this replica's
    /// memory; a request through it reads them again. If the store cannot
    /// say, the session ends, as it would on a single gateway.
    async fn idle_everywhere(&self, idle: Vec<Ended>, now: UnixSeconds) -> (Vec<TokenHash>, Vec<Arc<str>>) {
        let mut gone = Vec::new();
        let mut sign_out = Vec::new();
        for (hash, session) in idle {
            let stored = match self.store.session(&hash).await {
                Ok(Some(record)) => match self.sessions.expired_record(&record, now) {
                    None => continue, // used through another replica
                    Some(cookie) => cookie,
                },
                // Ended already: whoever ended it deleted it.
                Ok(None) => None,
                Err(e) => {
                    e.log("cannot ask the store whether an idle session was used elsewhere");
                    None
                }
            };
            gone.push(hash);
            // The stored cookie is the newer where another replica followed
            // a new dashboard session; both are signed out.
            sign_out.extend(session.upstream_cookie().cloned());
            sign_out.extend(stored.map(Arc::from).filter(|c| session.upstream_cookie() != Some(c)));
        }
        (gone, sign_out)
    }
}
