//! SMS codes in flight and the record of codes sent, shared by every
//! replica: a code sent through one is accepted through any other, once,
//! and the send limit counts every replica's sends. Codes are kept only as
//! MACs, numbers only sealed or as MACs (see `sms::codes`).

use serde::{Deserialize, Serialize};

use super::record::{self, Record};
use super::{Store, StoreError, Table};
use crate::env::UnixSeconds;

impl Record for SmsCodeRecord {
    const VERSION: u8 = 1;
}

impl Record for SmsSends {
    const VERSION: u8 = 1;
}

/// The one code a user may have in flight; a new one replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsCodeRecord {
    pub mac: [u8; 32],
    pub expires: UnixSeconds,
    /// For an enrollment, the number the code went to (sealed); `None`
    /// for a sign-in code.
    pub sealed_enroll_phone: Option<Vec<u8>>,
}

/// When codes were sent, for one user or one number, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSends {
    pub at: Vec<UnixSeconds>,
}

impl Store {
    pub async fn sms_code(&self, user_id: &str) -> Result<Option<SmsCodeRecord>, StoreError> {
        self.get(Table::SmsCodes, user_id.as_bytes()).await
    }

    pub async fn put_sms_code(&self, user_id: &str, code: &SmsCodeRecord) -> Result<(), StoreError> {
        self.backend
            .put(Table::SmsCodes, user_id.as_bytes(), record::encode(code)?)
            .await
    }

    /// Spends `code` if it is still the user's code in flight: of two
    /// replicas redeeming it at once, only one gets `true`.
    pub async fn take_sms_code(&self, user_id: &str, code: &SmsCodeRecord) -> Result<bool, StoreError> {
        let old = record::encode(code)?;
        self.backend
            .swap(Table::SmsCodes, user_id.as_bytes(), Some(old), None, None)
            .await
    }

    /// Changes the sends of one user or number (`key`) atomically.
    pub async fn update_sms_sends<T, E: From<StoreError>>(
        &self,
        key: &str,
        change: impl FnMut(&mut SmsSends) -> Result<T, E>,
    ) -> Result<T, E> {
        let table = (Table::SmsSends, None);
        self.update(table, key.as_bytes(), SmsSends::default, change).await
    }

    /// Removes expired codes, and send records with nothing in the last
    /// `window` seconds; each only if unchanged since it was read.
    pub async fn forget_old_sms(&self, now: UnixSeconds, window: u64) -> Result<(), StoreError> {
        self.remove_where(Table::SmsCodes, |c: &SmsCodeRecord| c.expires <= now)
            .await?;
        self.remove_where(Table::SmsSends, |s: &SmsSends| s.at.iter().all(|t| t + window <= now))
            .await
    }
}
