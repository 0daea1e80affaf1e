//! Stored sessions: written when a session starts (a sign-in, each
//! authentication step's successor), changed afterwards only by merging
//! what one replica learned (`SessionChange`) into the record as stored,
//! and removed when they end, with the announcement that tells the other
//! replicas to drop them.

use serde::{Deserialize, Serialize};

use super::{record, Change, Record, Store, StoreError, Table};
use crate::env::UnixSeconds;

/// A fully signed-in session as it survives a restart. Only hashes of the
/// browser's tokens are kept, so a copy of the data folder opens no session;
/// the dashboard's cookie, needed to sign its session out when this one
/// ends, is kept sealed under the secret key and bound to the token hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub token_hash: [u8; 32],
    pub user_id: String,
    pub upstream_cookie_hash: [u8; 32],
    pub created: UnixSeconds,
    pub last_seen: UnixSeconds,
    /// Absent in records written before it was kept: such a session still
    /// works, but its dashboard session is left to the dashboard's expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_upstream_cookie: Option<Vec<u8>>,
    /// Present while the sign-in waits for its second factor: the
    /// dashboard's Set-Cookie headers held back until then, sealed like the
    /// cookie (they are the dashboard session itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_held: Option<Vec<u8>>,
    /// When the user last confirmed their password in this session (0:
    /// never), so a confirmation made through one replica counts on all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub confirmed_at: UnixSeconds,
    /// The address the session signed in from (see `session::About`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// When it last passed a second factor (0: never).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub factor_at: UnixSeconds,
    /// When the user signed in (0: the record's `created`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub signed_in_at: UnixSeconds,
    /// The user has no password (single sign-on).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passwordless: bool,
}

fn is_zero(n: &UnixSeconds) -> bool {
    *n == 0
}

impl Record for SessionRecord {
    const VERSION: u8 = 1;
}

/// What a replica learned about a session after it was stored, merged into
/// the stored record by `Store::update_session`. Times only move forward,
/// so of two replicas the later news wins whichever writes last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    /// Used through this replica until then (saved at each sweep).
    Activity(UnixSeconds),
    /// The password was confirmed then.
    Confirmed(UnixSeconds),
    /// Bound to a new dashboard session: its cookie's hash, and the cookie
    /// sealed to the session.
    Rebound {
        upstream_cookie_hash: [u8; 32],
        sealed_upstream_cookie: Option<Vec<u8>>,
    },
}

impl SessionChange {
    fn apply(&self, r: &mut SessionRecord) {
        match self {
            SessionChange::Activity(at) => r.last_seen = r.last_seen.max(*at),
            SessionChange::Confirmed(at) => r.confirmed_at = r.confirmed_at.max(*at),
            SessionChange::Rebound {
                upstream_cookie_hash,
                sealed_upstream_cookie,
            } => {
                r.upstream_cookie_hash = *upstream_cookie_hash;
                r.sealed_upstream_cookie = sealed_upstream_cookie.clone();
            }
        }
    }
}

impl Store {
    pub async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        // Indexed first: an entry without its session is dropped later; a
        // session without its entry would be missing from the user's list.
        self.index_session(&s.user_id, &s.token_hash).await?;
        self.backend
            .put(Table::Sessions, &s.token_hash, record::encode(s)?)
            .await
    }

    /// One stored session, by its token's hash.
    pub async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.get(Table::Sessions, token_hash).await
    }

    /// Merges `change` into a stored session if it is still there (`false`
    /// if not, so activity saved late never brings back a session ended
    /// meanwhile). The record is read and swapped, not written over: a
    /// replica that holds the session writes only what it changed, and
    /// never undoes what another replica saved (a password confirmed
    /// there, a dashboard session it followed) with its own older copy.
    pub async fn update_session(&self, token_hash: &[u8; 32], change: SessionChange) -> Result<bool, StoreError> {
        let merge = |r: &mut SessionRecord| {
            change.apply(r);
            Ok::<_, StoreError>(())
        };
        let merged = self
            .update_if((Table::Sessions, None), token_hash, || None, merge)
            .await?;
        Ok(merged.is_some())
    }

    pub async fn delete_sessions(&self, token_hashes: &[[u8; 32]]) -> Result<(), StoreError> {
        if token_hashes.is_empty() {
            return Ok(());
        }
        let keys = token_hashes.iter().map(|h| h.to_vec()).collect();
        let ended = token_hashes.iter().map(|h| Change::SessionEnded(*h)).collect();
        self.backend.delete(Table::Sessions, keys, ended).await
    }

    /// Removes a stored session if it is still there, atomically: of two
    /// replicas releasing one pending sign-in, only one gets `true`.
    pub async fn take_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
        self.count_read();
        let Some(old) = self.backend.get(Table::Sessions, token_hash).await? else {
            return Ok(false);
        };
        let ended = Some(Change::SessionEnded(*token_hash));
        self.backend
            .swap(Table::Sessions, token_hash, Some(old), None, ended)
            .await
    }

    /// Which of `token_hashes` still have a stored session.
    pub async fn sessions_present(&self, token_hashes: &[[u8; 32]]) -> Result<Vec<[u8; 32]>, StoreError> {
        self.count_read();
        let keys = token_hashes.iter().map(|h| h.to_vec()).collect();
        Ok(self
            .backend
            .present(Table::Sessions, keys)
            .await?
            .into_iter()
            .filter_map(|k| k.try_into().ok())
            .collect())
    }

    /// Every stored session; unreadable ones are skipped and reported, since
    /// one bad record must not keep the gateway from starting.
    pub async fn sessions(&self) -> Result<(Vec<SessionRecord>, Vec<StoreError>), StoreError> {
        self.count_read();
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for (_, v) in self.backend.scan(Table::Sessions).await? {
            match record::decode("sessions", &v) {
                Ok(s) => ok.push(s),
                Err(e) => bad.push(e),
            }
        }
        Ok((ok, bad))
    }
}
