//! Bulk import for tools that prepare a data folder before a gateway starts
//! on it (the load harness seeds a million users this way): whole batches
//! of records written per tree with one sled batch each, no reads, no
//! per-record flush. Not used by the gateway itself.

use sled::Batch;

use super::factors::FACTORS_V;
use super::{
    record, AccountRecord, FactorsRecord, SessionRecord, Store, StoreError, UserRecord, ACCOUNT_V, SESSION_V, USER_V,
};

/// Records to write as they are, replacing any with the same key.
#[derive(Debug, Default)]
pub struct Import {
    pub users: Vec<UserRecord>,
    pub accounts: Vec<AccountRecord>,
    /// Second-factor records by user id.
    pub factors: Vec<(String, FactorsRecord)>,
    pub sessions: Vec<SessionRecord>,
}

impl Store {
    /// Writes every record of `import`, one batch per tree. Call `flush`
    /// afterwards to have them on disk.
    pub fn import(&self, import: &Import) -> Result<(), StoreError> {
        let mut users = Batch::default();
        for u in &import.users {
            users.insert(u.id.as_bytes(), record::encode(USER_V, u)?);
        }
        let mut accounts = Batch::default();
        for a in &import.accounts {
            accounts.insert(a.id.as_bytes(), record::encode(ACCOUNT_V, a)?);
        }
        let mut factors = Batch::default();
        for (id, f) in &import.factors {
            factors.insert(id.as_bytes(), record::encode(FACTORS_V, f)?);
        }
        let mut sessions = Batch::default();
        for s in &import.sessions {
            sessions.insert(&s.token_hash, record::encode(SESSION_V, s)?);
        }
        self.users.apply_batch(users)?;
        self.accounts.apply_batch(accounts)?;
        self.factors.apply_batch(factors)?;
        self.sessions.apply_batch(sessions)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_records_read_back_as_written() {
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
                sealed_upstream_cookie: None,
            }],
        };
        s.import(&import).unwrap();
        assert_eq!(s.users().unwrap(), import.users);
        assert_eq!(s.account("a").unwrap(), Some(import.accounts[0].clone()));
        assert_eq!(s.factor_users().unwrap(), ["u-1"]);
        assert_eq!(s.sessions().0, import.sessions);
    }
}
