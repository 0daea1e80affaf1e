//! Each user's sessions, found without reading every stored session: an
//! index of `user id, 0, token hash` keys, written with each new session.
//! Ending a session leaves its index entry behind (every path that ends
//! sessions would otherwise have to know of it); a listing drops the
//! entries it finds dangling, and the store sweep drops the rest.

use super::{SessionRecord, Store, StoreError, Table};

/// Index entries read per page of a user's listing.
const PAGE: usize = 64;

fn key(user_id: &str, token_hash: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(user_id.len() + 33);
    k.extend_from_slice(user_id.as_bytes());
    k.push(0);
    k.extend_from_slice(token_hash);
    k
}

/// The token hash at the end of an index key.
fn hash_of(key: &[u8]) -> Option<[u8; 32]> {
    key.len().checked_sub(32).and_then(|at| key[at..].try_into().ok())
}

impl Store {
    pub(super) async fn index_session(&self, user_id: &str, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.backend
            .put(Table::UserSessions, &key(user_id, token_hash), Vec::new())
            .await
    }

    /// The user's stored sessions, pending or signed in, any replica's.
    pub async fn user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut prefix = user_id.as_bytes().to_vec();
        prefix.push(0);
        // Keys after the bare user id: the user's entries come first.
        let mut after = Some(user_id.as_bytes().to_vec());
        let mut sessions = Vec::new();
        let mut dangling = Vec::new();
        loop {
            let page = self.backend.scan_page(Table::UserSessions, after.take(), PAGE).await?;
            let full = page.len() == PAGE;
            let mut done = !full;
            for (k, _) in page {
                if !k.starts_with(&prefix) || k.len() != prefix.len() + 32 {
                    done = true;
                    break;
                }
                let Some(hash) = hash_of(&k) else { continue };
                match self.session(&hash).await? {
                    Some(r) if r.user_id == user_id => sessions.push(r),
                    _ => dangling.push(k.clone()),
                }
                after = Some(k);
            }
            if done || after.is_none() {
                break;
            }
        }
        if !dangling.is_empty() {
            self.backend.delete(Table::UserSessions, dangling, Vec::new()).await?;
        }
        Ok(sessions)
    }

    /// Drops index entries whose session has ended.
    pub async fn sweep_session_index(&self) -> Result<(), StoreError> {
        let keys = self.backend.keys(Table::UserSessions).await?;
        let hashes: Vec<[u8; 32]> = keys.iter().filter_map(|k| hash_of(k)).collect();
        let present = self.sessions_present(&hashes).await?;
        let gone: Vec<Vec<u8>> = keys
            .into_iter()
            .filter(|k| hash_of(k).is_none_or(|h| !present.contains(&h)))
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        self.backend.delete(Table::UserSessions, gone, Vec::new()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(n: u8, user: &str) -> SessionRecord {
        SessionRecord {
            token_hash: [n; 32],
            user_id: user.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_users_sessions_are_listed_without_another_users_and_ended_ones_drop_out() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        // "bo" sorts right after "bob"'s bare id would; "bob2" after "bob\0".
        for (n, user) in [(1, "bob"), (2, "bob"), (3, "bob2"), (4, "bo"), (5, "bob")] {
            s.put_session(&session(n, user)).await.unwrap();
        }
        let listed = || async {
            let mut firsts: Vec<u8> = s
                .user_sessions("bob")
                .await
                .unwrap()
                .iter()
                .map(|r| r.token_hash[0])
                .collect();
            firsts.sort();
            firsts
        };
        assert_eq!(listed().await, [1, 2, 5]);
        s.delete_sessions(&[[2; 32]]).await.unwrap();
        assert_eq!(listed().await, [1, 5]);
        assert_eq!(
            s.backend().keys(Table::UserSessions).await.unwrap().len(),
            4,
            "the dangling entry went"
        );
        s.delete_sessions(&[[3; 32]]).await.unwrap();
        s.sweep_session_index().await.unwrap();
        assert_eq!(s.backend().keys(Table::UserSessions).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_user_with_more_sessions_than_a_page_gets_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for n in 0..(PAGE as u8 + 10) {
            s.put_session(&session(n, "u")).await.unwrap();
        }
        assert_eq!(s.user_sessions("u").await.unwrap().len(), PAGE + 10);
    }
}
