//! A user's sessions, as they see them and end them: listed from the
//! store (every replica's, through the store's per-user index), each named
//! by an id that is neither its token nor the token's hash, and ended like
//! any other sign-out: on every replica, and at the dashboard too.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::Digest as _;

use super::{EndReason, Gateway};
use crate::env::UnixSeconds;
use crate::session::TokenHash;
use crate::store::StoreError;

/// The id the API and the pages give a session: it names the session to
/// its user without being usable as, or leading to, its token.
pub fn session_id(token_hash: &TokenHash) -> String {
    let digest = sha2::Sha256::digest([b"tfa-gateway session id\0".as_slice(), token_hash].concat());
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// One session of the user's list.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    pub token_hash: TokenHash,
    pub client: Option<String>,
    pub user_agent: Option<String>,
    pub started: UnixSeconds,
    pub last_active: UnixSeconds,
    /// Still waiting for its second factor.
    pub pending: bool,
}

impl Gateway {
    /// The user's live sessions, most recently active first.
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<Listed>, StoreError> {
        let now = self.env.now();
        let mut list: Vec<Listed> = self
            .store
            .user_sessions(user_id)
            .await?
            .into_iter()
            .filter(|r| self.sessions.expired_record(r, now).is_none())
            .map(|r| {
                // This replica's memory knows the latest activity here.
                let last_active = self
                    .sessions
                    .get(&r.token_hash)
                    .map_or(r.last_seen, |s| s.last_seen().max(r.last_seen));
                Listed {
                    id: session_id(&r.token_hash),
                    token_hash: r.token_hash,
                    client: r.client,
                    user_agent: r.user_agent,
                    started: r.created,
                    last_active,
                    pending: r.sealed_held.is_some(),
                }
            })
            .collect();
        list.sort_by_key(|l| std::cmp::Reverse(l.last_active));
        Ok(list)
    }

    /// Ends the user's session `token_hash`, wherever it is held, and its
    /// dashboard session. `false`: no such session of this user.
    pub async fn revoke_session(
        self: &Arc<Self>,
        user_id: &str,
        token_hash: &TokenHash,
        client: Option<String>,
    ) -> bool {
        // Another replica's session is read in first, for its dashboard
        // cookie; the store's announcement of the end reaches that replica.
        if self.sessions.get(token_hash).is_none() && !self.adopt_session(*token_hash).await {
            return false;
        }
        match self.sessions.get(token_hash) {
            Some(s) if &*s.user_id == user_id => {
                self.end_session(token_hash, EndReason::Revoked, client).await;
                crate::metrics::Metrics::inc(&self.metrics.sessions_revoked);
                true
            }
            _ => false,
        }
    }
}
