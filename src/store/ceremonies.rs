//! WebAuthn ceremonies in flight, shared by every replica: the state the
//! library needs to finish a registration or a sign-in that one replica
//! began and another may finish. One per session (a new one replaces it;
//! keyed by user and session, so someone else's sign-in with the same
//! password cannot replace the user's), spent at most once (taken with
//! `swap`), and dropped when it expires. It never leaves the server: a ceremony
//! state the client could keep and replay is what the library warns of.

use serde::{Deserialize, Serialize};

use super::record::{self, Record};
use super::{Store, StoreError, Table};
use crate::env::UnixSeconds;

impl Record for Ceremony {
    const VERSION: u8 = 1;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "purpose", rename_all = "snake_case")]
pub enum CeremonyPurpose {
    /// Adding a key under this name.
    Register { name: String },
    /// Passing the second factor at sign-in.
    SignIn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceremony {
    #[serde(flatten)]
    pub purpose: CeremonyPurpose,
    /// The session that began it (its token's hash): another session of the
    /// same user cannot finish it.
    pub session: [u8; 32],
    pub expires: UnixSeconds,
    /// The library's state, as JSON.
    pub state: String,
}

fn key(user_id: &str, session: &[u8; 32]) -> Vec<u8> {
    [user_id.as_bytes(), &[0], session].concat()
}

impl Store {
    /// The ceremony `session` of the user began, if any.
    pub async fn ceremony(&self, user_id: &str, session: &[u8; 32]) -> Result<Option<Ceremony>, StoreError> {
        self.get(Table::Ceremonies, &key(user_id, session)).await
    }

    pub async fn put_ceremony(&self, user_id: &str, c: &Ceremony) -> Result<(), StoreError> {
        self.backend
            .put(Table::Ceremonies, &key(user_id, &c.session), record::encode(c)?)
            .await
    }

    /// Spends `c` if it is still the session's ceremony: of two replicas
    /// finishing it at once, only one gets `true`.
    pub async fn take_ceremony(&self, user_id: &str, c: &Ceremony) -> Result<bool, StoreError> {
        let old = record::encode(c)?;
        self.backend
            .swap(Table::Ceremonies, &key(user_id, &c.session), Some(old), None, None)
            .await
    }

    /// Removes expired ceremonies, each only if unchanged since it was read.
    pub async fn forget_old_ceremonies(&self, now: UnixSeconds) -> Result<(), StoreError> {
        self.remove_where(Table::Ceremonies, |c: &Ceremony| c.expires <= now)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ceremony_is_spent_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let c = Ceremony {
            purpose: CeremonyPurpose::Register { name: "Key".into() },
            session: [7; 32],
            expires: 100,
            state: "{}".into(),
        };
        s.put_ceremony("u", &c).await.unwrap();
        assert_eq!(s.ceremony("u", &[7; 32]).await.unwrap().as_ref(), Some(&c));
        assert_eq!(s.ceremony("u", &[8; 32]).await.unwrap(), None, "another session's");
        assert!(s.take_ceremony("u", &c).await.unwrap());
        assert!(!s.take_ceremony("u", &c).await.unwrap(), "spent");
        assert_eq!(s.ceremony("u", &[7; 32]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn expired_ceremonies_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let c = |expires| Ceremony {
            purpose: CeremonyPurpose::SignIn,
            session: [1; 32],
            expires,
            state: "{}".into(),
        };
        s.put_ceremony("old", &c(10)).await.unwrap();
        s.put_ceremony("new", &c(30)).await.unwrap();
        s.forget_old_ceremonies(20).await.unwrap();
        assert_eq!(s.ceremony("old", &[1; 32]).await.unwrap(), None);
        assert!(s.ceremony("new", &[1; 32]).await.unwrap().is_some());
    }
}
