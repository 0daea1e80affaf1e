//! SMS as a second factor: a number the user proved they receive codes at,
//! stored sealed. The codes themselves are sent and checked in `sms/`.

use super::{FactorError, Factors};
use crate::sms::Phone;
use crate::store::SmsFactor;

impl Factors {
    /// Turns SMS on for a number the user proved they receive codes at.
    pub async fn enable_sms(&self, user_id: &str, phone: &Phone) -> Result<(), FactorError> {
        let sealed = self.key.seal(&self.env, phone.e164().as_bytes(), user_id.as_bytes())?;
        let now = self.env.now();
        self.store
            .update_factors(user_id, |f| {
                if f.sms_on() {
                    return Err(FactorError::AlreadyEnabled);
                }
                f.put(Some(SmsFactor {
                    sealed_phone: sealed.clone(),
                    masked: phone.masked(),
                    enabled_at: now,
                }));
                Ok(())
            })
            .await
    }

    /// Turns SMS off; the recovery codes go too unless a factor that counts
    /// remains.
    pub async fn disable_sms(&self, user_id: &str) -> Result<(), FactorError> {
        self.store
            .update_factors(user_id, |f| {
                if !f.sms_on() {
                    return Err(FactorError::NotEnabled);
                }
                f.put::<SmsFactor>(None);
                super::codes_follow(f);
                Ok(())
            })
            .await
    }

    /// The user's SMS number, decrypted.
    pub async fn sms_phone(&self, user_id: &str) -> Result<Option<Phone>, FactorError> {
        let f = self.store.factors(user_id).await?;
        let Some(sms) = f.get::<SmsFactor>() else {
            return Ok(None);
        };
        let bytes = self.key.open(&sms.sealed_phone, user_id.as_bytes())?;
        let e164 =
            String::from_utf8(bytes).map_err(|_| FactorError::Sealed(crate::secretbox::SecretBoxError::Tampered))?;
        Ok(Some(Phone::from_e164(e164)))
    }
}
