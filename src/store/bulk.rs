//! Bulk import for tools that prepare a data folder before a gateway starts
//! on it (the load harness seeds a million users this way): whole batches
//! of records written per table in one commit each, no reads. Not used by
//! the gateway itself.

use serde::Serialize;

use super::record::{self, Record};
use super::{AccountRecord, Entry, FactorsRecord, SessionRecord, Store, StoreError, Table, UserRecord};

/// Records to write as they are, replacing any with the same key.
#[derive(Debug, Default)]
pub struct Import {
    pub users: Vec<UserRecord>,
    pub accounts: Vec<AccountRecord>,
    /// Second-factor records by user id.
    pub factors: Vec<(String, FactorsRecord)>,
    pub sessions: Vec<SessionRecord>,
}

/// Each item's record encoded at `version` under its key; `parts` says
/// which are which.
fn entries<T, V: Record + Serialize>(items: &[T], parts: impl Fn(&T) -> (&[u8], &V)) -> Result<Vec<Entry>, StoreError> {
    items
        .iter()
        .map(|item| {
            let (key, value) = parts(item);
            Ok((key.to_vec(), record::encode(value)?))
        })
        .collect()
}

impl Store {
    /// Writes every record of `import`, one commit per table.
    pub async fn import(&self, import: &Import) -> Result<(), StoreError> {
        let users = entries(&import.users, |u| (u.id.as_bytes(), u))?;
        let accounts = entries(&import.accounts, |a| (a.id.as_bytes(), a))?;
        let factors = entries(&import.factors, |(id, f)| (id.as_bytes(), f))?;
        let sessions = entries(&import.sessions, |s| (s.token_hash.as_slice(), s))?;
        self.backend.put_many(Table::Users, users).await?;
        self.backend.put_many(Table::Accounts, accounts).await?;
        self.backend.put_many(Table::Factors, factors).await?;
        self.backend.put_many(Table::Sessions, sessions).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn imported_records_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let import = Import {
            users: vec![UserRecord {
                id: "u-1".into(),
                email: "one@example.test".into(),
                accounts: vec![],
                first_seen: 1,
                last_login: 2,
            }],
            accounts: vec![AccountRecord::new("a", "A")],
            factors: vec![("u-1".into(), FactorsRecord::default())],
            sessions: vec![SessionRecord {
                token_hash: [7; 32],
                user_id: "u-1".into(),
                upstream_cookie_hash: [8; 32],
                created: 1,
                last_seen: 1,
                ..Default::default()
            }],
        };
        s.import(&import).await.unwrap();
        assert_eq!(s.users().await.unwrap(), import.users);
        assert_eq!(s.account("a").await.unwrap(), Some(import.accounts[0].clone()));
        assert_eq!(s.factor_users().await.unwrap(), ["u-1"]);
        assert_eq!(s.factors("u-1").await.unwrap(), import.factors[0].1);
        assert_eq!(s.sessions().await.unwrap().0, import.sessions);
    }
}
