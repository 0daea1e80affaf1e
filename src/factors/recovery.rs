//! Recovery codes: a set issued with the first factor (shown once, stored
//! only as argon2 hashes), each spent at most once, replaced as a whole.

use super::{cpu, FactorError, Factors, Passed};
use crate::recovery;
use crate::store::{FactorsRecord, RecoveryCode, RecoveryCodes};

impl Factors {
    /// Replaces every recovery code; the old set stops working at once, and
    /// every remembered device is forgotten (new codes are what a user makes
    /// after losing something).
    pub async fn regenerate(&self, user_id: &str) -> Result<Vec<String>, FactorError> {
        let (codes, hashes) = self.new_recovery_codes().await?;
        self.store
            .update_factors(user_id, |f| {
                if !super::KindSet::of(f).counting() {
                    return Err(FactorError::NotEnabled);
                }
                f.set_recovery(hashes.clone());
                f.set_devices(Vec::new());
                Ok(())
            })
            .await?;
        Ok(codes)
    }

    pub(super) async fn new_recovery_codes(&self) -> Result<(Vec<String>, Vec<RecoveryCode>), FactorError> {
        let codes = recovery::generate(&self.env);
        let (env, clear) = (self.env.clone(), codes.clone());
        let hashes = cpu(move || recovery::hash_set(&env, &clear))
            .await??
            .into_iter()
            .map(|hash| RecoveryCode { hash, used_at: None })
            .collect();
        Ok((codes, hashes))
    }

    /// Checks a typed recovery code and spends it. `Ok(None)`: wrong.
    pub(super) async fn check_recovery(
        &self,
        user_id: &str,
        current: &FactorsRecord,
        typed: &str,
    ) -> Result<Option<Passed>, FactorError> {
        let now = self.env.now();
        // The costly hash comparison runs once, outside the update; the
        // update then spends the code only if it is still unspent, so two
        // sign-ins (or replicas) racing with one code cannot both pass.
        let unspent: Vec<Option<String>> = current
            .recovery()
            .iter()
            .map(|c| c.used_at.is_none().then(|| c.hash.clone()))
            .collect();
        let typed = typed.to_string();
        let found = cpu(move || {
            let hashes: Vec<Option<&str>> = unspent.iter().map(Option::as_deref).collect();
            recovery::find(&typed, &hashes)
        })
        .await?;
        let Some(i) = found else { return Ok(None) };
        let hash = current.recovery()[i].hash.clone();
        let result = self
            .store
            .update_factors(user_id, |f| {
                let code = f
                    .get_mut::<RecoveryCodes>()
                    .map_or(&mut [][..], |r| &mut r.codes)
                    .iter_mut()
                    .find(|c| c.hash == hash && c.used_at.is_none())
                    .ok_or(FactorError::WrongCode)?;
                code.used_at = Some(now);
                Ok(f.recovery_left())
            })
            .await;
        super::judged(result, |left| Passed::Recovery { left })
    }
}
