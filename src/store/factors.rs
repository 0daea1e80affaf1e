//! Second-factor records: one per user, holding the sealed TOTP secret, its
//! replay guard (the last accepted time step), an enrollment in progress and
//! the recovery code hashes. Updates are compare-and-swap, so two sessions
//! (or replicas) racing with the same code cannot both consume it, and are
//! durable before the caller answers: a consumed code must stay consumed
//! after a crash.

use serde::{Deserialize, Serialize};

use super::{Change, Store, StoreError, Table};
use crate::env::UnixSeconds;

pub(super) const FACTORS_V: u8 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorsRecord {
    pub totp: Option<TotpFactor>,
    pub pending_totp: Option<PendingTotp>,
    pub recovery: Vec<RecoveryCode>,
    /// SMS codes to a verified number (the legacy method).
    #[serde(default)]
    pub sms: Option<SmsFactor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsFactor {
    /// The E.164 number, encrypted with the gateway's key.
    pub sealed_phone: Vec<u8>,
    /// The number as shown to people, e.g. `+44••••••••56`.
    pub masked: String,
    pub enabled_at: UnixSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpFactor {
    /// The secret, encrypted with the gateway's key (see `secretbox`).
    pub sealed_secret: Vec<u8>,
    pub enabled_at: UnixSeconds,
    /// The last accepted time step; only later steps are accepted.
    pub last_step: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTotp {
    pub sealed_secret: Vec<u8>,
    pub created: UnixSeconds,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCode {
    /// argon2 PHC string of the code; the code itself is never stored.
    pub hash: String,
    pub used_at: Option<UnixSeconds>,
}

impl FactorsRecord {
    /// The user has a second factor of any kind.
    pub fn enabled(&self) -> bool {
        self.totp.is_some() || self.sms.is_some()
    }

    pub fn totp_on(&self) -> bool {
        self.totp.is_some()
    }

    pub fn sms_on(&self) -> bool {
        self.sms.is_some()
    }

    pub fn recovery_left(&self) -> usize {
        self.recovery.iter().filter(|c| c.used_at.is_none()).count()
    }
}

impl Store {
    /// The ids of every user with a second-factor record.
    pub async fn factor_users(&self) -> Result<Vec<String>, StoreError> {
        self.count_read();
        Ok(self
            .backend
            .keys(Table::Factors)
            .await?
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect())
    }

    pub async fn factors(&self, user_id: &str) -> Result<FactorsRecord, StoreError> {
        Ok(self
            .get(Table::Factors, FACTORS_V, user_id.as_bytes())
            .await?
            .unwrap_or_default())
    }

    /// Applies `change` atomically to the user's record and commits it
    /// before returning. `change` may run more than once if another update
    /// wins the race, so it must only compute from its input. Its error
    /// aborts without writing.
    pub async fn update_factors<T, E: From<StoreError>>(
        &self,
        user_id: &str,
        change: impl FnMut(&mut FactorsRecord) -> Result<T, E>,
    ) -> Result<T, E> {
        let announce = Some(Change::UserChanged(user_id.to_string()));
        self.update(
            (Table::Factors, FACTORS_V, announce),
            user_id.as_bytes(),
            FactorsRecord::default,
            change,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn factors_default_to_nothing_and_updates_persist() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(!s.factors("u").await.unwrap().enabled());
        s.update_factors::<_, StoreError>("u", |f| {
            f.totp = Some(TotpFactor {
                sealed_secret: vec![1],
                enabled_at: 5,
                last_step: None,
            });
            f.recovery = vec![RecoveryCode {
                hash: "h".into(),
                used_at: None,
            }];
            Ok(())
        })
        .await
        .unwrap();
        drop(s);
        let s = super::super::tests::reopen(dir.path());
        let f = s.factors("u").await.unwrap();
        assert!(f.enabled());
        assert_eq!(f.recovery_left(), 1);
    }

    #[tokio::test]
    async fn failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let r: Result<(), StoreError> = s
            .update_factors("u", |f| {
                f.recovery.push(RecoveryCode {
                    hash: "h".into(),
                    used_at: None,
                });
                Err(StoreError::Encode("no".into()))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(s.factors("u").await.unwrap().recovery_left(), 0);
    }
}
