//! TOTP (RFC 6238), an authenticator app: an enrollment begun with a new
//! secret and confirmed by its first code, the check of a code at sign-in
//! (each time step accepted once, also across replicas), and removal.

use super::{FactorError, Factors, Passed};
use crate::store::{FactorsRecord, PendingTotp, TotpFactor};
use crate::totp::{self, Secret};

/// An enrollment waiting for its first code is dropped after this long.
pub const ENROLLMENT_TTL_SECS: u64 = 15 * 60;

/// What a user needs to add the account to an authenticator app.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

impl Factors {
    /// Starts (or restarts) a TOTP enrollment with a new secret.
    pub async fn begin_totp(&self, user_id: &str, email: &str) -> Result<Enrollment, FactorError> {
        let secret = Secret::generate(&self.env);
        let sealed = self.key.seal(&self.env, secret.as_bytes(), user_id.as_bytes())?;
        let now = self.env.now();
        self.store
            .update_factors(user_id, |f| {
                if f.totp_on() {
                    return Err(FactorError::AlreadyEnabled);
                }
                f.put(Some(PendingTotp {
                    sealed_secret: sealed.clone(),
                    created: now,
                }));
                Ok(())
            })
            .await?;
        self.enrollment(&secret, email)
    }

    /// The enrollment in progress, to show its QR code again.
    pub async fn current_enrollment(&self, user_id: &str, email: &str) -> Result<Option<Enrollment>, FactorError> {
        let f = self.store.factors(user_id).await?;
        match self.pending_secret(user_id, &f)? {
            Some(secret) => Ok(Some(self.enrollment(&secret, email)?)),
            None => Ok(None),
        }
    }

    /// Turns TOTP on if `code` fits the enrollment in progress; returns the
    /// new recovery codes, which exist in clear only in this answer.
    pub async fn confirm_totp(&self, user_id: &str, code: &str) -> Result<Vec<String>, FactorError> {
        let now = self.env.now();
        let before = self.store.factors(user_id).await?;
        if before.totp_on() {
            return Err(FactorError::AlreadyEnabled);
        }
        let secret = self
            .pending_secret(user_id, &before)?
            .ok_or(FactorError::NoEnrollment)?;
        let step = totp::verify(&secret, code, now, None).ok_or(FactorError::WrongCode)?;
        let (codes, hashes) = self.new_recovery_codes().await?;
        self.store
            .update_factors(user_id, |f| {
                if f.totp_on() {
                    return Err(FactorError::AlreadyEnabled);
                }
                let pending = f.take::<PendingTotp>().ok_or(FactorError::NoEnrollment)?;
                f.put(Some(TotpFactor {
                    sealed_secret: pending.sealed_secret,
                    enabled_at: now,
                    last_step: Some(step),
                }));
                // The codes shown are the ones that work: a user who had
                // codes (beside SMS or a key) gets a new set in their place.
                f.set_recovery(hashes.clone());
                Ok(())
            })
            .await?;
        Ok(codes)
    }

    /// Removes TOTP; the recovery codes go too unless a factor that counts
    /// remains.
    pub async fn disable(&self, user_id: &str) -> Result<(), FactorError> {
        self.store
            .update_factors(user_id, |f| {
                if !f.totp_on() {
                    return Err(FactorError::NotEnabled);
                }
                f.put::<TotpFactor>(None);
                f.put::<PendingTotp>(None);
                super::codes_follow(f);
                Ok(())
            })
            .await
    }

    fn pending_secret(&self, user_id: &str, f: &FactorsRecord) -> Result<Option<Secret>, FactorError> {
        match f.get::<PendingTotp>() {
            Some(p) if self.env.now() < p.created + ENROLLMENT_TTL_SECS => {
                let bytes = self.key.open(&p.sealed_secret, user_id.as_bytes())?;
                Ok(Some(Secret::from_bytes(&bytes)?))
            }
            _ => Ok(None),
        }
    }

    fn enrollment(&self, secret: &Secret, email: &str) -> Result<Enrollment, FactorError> {
        let otpauth_uri = totp::key_uri(secret, &self.issuer, email)?;
        let qr_svg = totp::qr_svg(&otpauth_uri)?;
        Ok(Enrollment {
            secret_base32: secret.base32(),
            otpauth_uri,
            qr_svg,
        })
    }

    /// Checks a six-digit code against the user's app and records its
    /// time step, so the same code is refused next time. `Ok(None)`: wrong.
    pub(super) async fn check_totp(
        &self,
        user_id: &str,
        current: &FactorsRecord,
        typed: &str,
    ) -> Result<Option<Passed>, FactorError> {
        let now = self.env.now();
        let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        let Some(t) = current.get::<TotpFactor>() else {
            return Ok(None);
        };
        let secret = Secret::from_bytes(&self.key.open(&t.sealed_secret, user_id.as_bytes())?)?;
        let result = self
            .store
            .update_factors(user_id, |f| {
                let Some(t) = f.get_mut::<TotpFactor>() else {
                    return Err(FactorError::NotEnabled);
                };
                let step = totp::verify(&secret, &digits, now, t.last_step).ok_or(FactorError::WrongCode)?;
                t.last_step = Some(step);
                Ok(())
            })
            .await;
        super::judged(result, |()| Passed::Totp)
    }
}
