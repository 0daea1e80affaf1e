//! The second-factor operations a user can perform, over the store: start and
//! confirm a TOTP enrollment, disable it, regenerate recovery codes, and check
//! a code at sign-in. Each change is one atomic update of the user's record
//! in the store; the argon2 work runs on the blocking pool, never inside an
//! update that may be retried. Throttling and auditing are the caller's.

use crate::env::Env;
use crate::recovery::{self, RecoveryError};
use crate::secretbox::{SecretBoxError, SecretKey};
use crate::sms::Phone;
use crate::store::{FactorsRecord, PendingTotp, RecoveryCode, SmsFactor, Store, StoreError, TotpFactor};
use crate::totp::{self, Secret, TotpError};

/// An enrollment waiting for its first code is dropped after this long.
pub const ENROLLMENT_TTL_SECS: u64 = 15 * 60;

#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored secret cannot be opened: {0}")]
    Sealed(#[from] SecretBoxError),
    #[error(transparent)]
    Totp(#[from] TotpError),
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    #[error("two-factor authentication is already on")]
    AlreadyEnabled,
    #[error("two-factor authentication is not on")]
    NotEnabled,
    #[error("no enrollment is in progress; start again")]
    NoEnrollment,
    #[error("that code is not right")]
    WrongCode,
    #[error("a background task failed: {0}")]
    Task(String),
}

/// Runs CPU-heavy work (argon2) on the blocking pool.
async fn cpu<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, FactorError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| FactorError::Task(e.to_string()))
}

/// What a user needs to add the account to an authenticator app.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// Which factor a sign-in was completed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    Totp,
    Sms,
    Recovery { left: usize },
}

/// What a typed code could be, judged by its shape alone: no secret is
/// read, so a shape that fits no code is refused without counting as a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeShape {
    /// Six digits, spaces ignored: an authenticator app's or a message's code.
    SixDigits,
    /// Twelve recovery-code symbols (see `recovery::normalize`).
    Recovery,
    /// No code of any kind looks like this (letters, too long, empty).
    Neither,
}

impl CodeShape {
    pub fn of(typed: &str) -> CodeShape {
        let digits = typed.chars().filter(|c| !c.is_whitespace());
        if digits.clone().count() == 6 && digits.clone().all(|c| c.is_ascii_digit()) {
            CodeShape::SixDigits
        } else if recovery::normalize(typed).is_some() {
            CodeShape::Recovery
        } else {
            CodeShape::Neither
        }
    }
}

pub struct Factors {
    pub store: Store,
    pub env: Env,
    pub key: SecretKey,
    pub issuer: String,
}

impl Factors {
    pub async fn status(&self, user_id: &str) -> Result<FactorsRecord, FactorError> {
        Ok(self.store.factors(user_id).await?)
    }

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
                f.pending_totp = Some(PendingTotp {
                    sealed_secret: sealed.clone(),
                    created: now,
                });
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
                let pending = f.pending_totp.take().ok_or(FactorError::NoEnrollment)?;
                f.totp = Some(TotpFactor {
                    sealed_secret: pending.sealed_secret,
                    enabled_at: now,
                    last_step: Some(step),
                });
                // An SMS user who adds TOTP keeps the recovery codes they have.
                if f.recovery.is_empty() || !f.sms_on() {
                    f.recovery = hashes.clone();
                }
                Ok(())
            })
            .await?;
        Ok(codes)
    }

    /// Removes TOTP; the recovery codes go too unless SMS remains.
    pub async fn disable(&self, user_id: &str) -> Result<(), FactorError> {
        self.store
            .update_factors(user_id, |f| {
                if !f.totp_on() {
                    return Err(FactorError::NotEnabled);
                }
                f.totp = None;
                f.pending_totp = None;
                if !f.sms_on() {
                    f.recovery.clear();
                }
                Ok(())
            })
            .await
    }

    /// Replaces every recovery code; the old set stops working at once.
    pub async fn regenerate(&self, user_id: &str) -> Result<Vec<String>, FactorError> {
        let (codes, hashes) = self.new_recovery_codes().await?;
        self.store
            .update_factors(user_id, |f| {
                if !f.enabled() {
                    return Err(FactorError::NotEnabled);
                }
                f.recovery = hashes.clone();
                Ok(())
            })
            .await?;
        Ok(codes)
    }

    /// Checks a code typed at sign-in: a TOTP code (each time step accepted
    /// once) or one unused recovery code (then spent). `Ok(None)`: wrong.
    /// SMS codes are checked by the caller, which holds them in memory.
    pub async fn verify_login(&self, user_id: &str, typed: &str) -> Result<Option<Passed>, FactorError> {
        let now = self.env.now();
        let current = self.store.factors(user_id).await?;
        if !current.enabled() {
            return Err(FactorError::NotEnabled);
        }
        let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        let shape = CodeShape::of(typed);
        if let (Some(t), CodeShape::SixDigits) = (&current.totp, shape) {
            let secret = Secret::from_bytes(&self.key.open(&t.sealed_secret, user_id.as_bytes())?)?;
            let result = self
                .store
                .update_factors(user_id, |f| {
                    let Some(t) = f.totp.as_mut() else {
                        return Err(FactorError::NotEnabled);
                    };
                    let step = totp::verify(&secret, &digits, now, t.last_step).ok_or(FactorError::WrongCode)?;
                    t.last_step = Some(step);
                    Ok(())
                })
                .await;
            return match result {
                Ok(()) => Ok(Some(Passed::Totp)),
                Err(FactorError::WrongCode) => Ok(None),
                Err(e) => Err(e),
            };
        }
        if shape != CodeShape::Recovery {
            return Ok(None);
        }
        // The costly hash comparison runs once, outside the update; the
        // update then spends the code only if it is still unspent, so two
        // sign-ins (or replicas) racing with one code cannot both pass.
        let unspent: Vec<Option<String>> = current
            .recovery
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
        let hash = current.recovery[i].hash.clone();
        let result = self
            .store
            .update_factors(user_id, |f| {
                let code = f
                    .recovery
                    .iter_mut()
                    .find(|c| c.hash == hash && c.used_at.is_none())
                    .ok_or(FactorError::WrongCode)?;
                code.used_at = Some(now);
                Ok(f.recovery_left())
            })
            .await;
        match result {
            Ok(left) => Ok(Some(Passed::Recovery { left })),
            Err(FactorError::WrongCode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Turns SMS on for a number the user proved they receive codes at.
    pub async fn enable_sms(&self, user_id: &str, phone: &Phone) -> Result<(), FactorError> {
        let sealed = self.key.seal(&self.env, phone.e164().as_bytes(), user_id.as_bytes())?;
        let now = self.env.now();
        self.store
            .update_factors(user_id, |f| {
                if f.sms_on() {
                    return Err(FactorError::AlreadyEnabled);
                }
                f.sms = Some(SmsFactor {
                    sealed_phone: sealed.clone(),
                    masked: phone.masked(),
                    enabled_at: now,
                });
                Ok(())
            })
            .await
    }

    /// Turns SMS off; the recovery codes go too unless TOTP remains.
    pub async fn disable_sms(&self, user_id: &str) -> Result<(), FactorError> {
        self.store
            .update_factors(user_id, |f| {
                if !f.sms_on() {
                    return Err(FactorError::NotEnabled);
                }
                f.sms = None;
                if !f.totp_on() {
                    f.recovery.clear();
                }
                Ok(())
            })
            .await
    }

    /// The user's SMS number, decrypted.
    pub async fn sms_phone(&self, user_id: &str) -> Result<Option<Phone>, FactorError> {
        let f = self.store.factors(user_id).await?;
        let Some(sms) = f.sms else { return Ok(None) };
        let bytes = self.key.open(&sms.sealed_phone, user_id.as_bytes())?;
        let e164 =
            String::from_utf8(bytes).map_err(|_| FactorError::Sealed(crate::secretbox::SecretBoxError::Tampered))?;
        Ok(Some(Phone::from_e164(e164)))
    }

    /// Re-encrypts every stored secret under `new` (key rotation); the
    /// gateway must be stopped. Returns how many users' records changed.
    pub async fn reseal_all(&self, new: &SecretKey) -> Result<usize, FactorError> {
        let mut changed = 0;
        for user_id in self.store.factor_users().await? {
            let ctx = user_id.as_bytes();
            let reseal = |sealed: &[u8]| -> Result<Vec<u8>, FactorError> {
                let plain = self.key.open(sealed, ctx)?;
                Ok(new.seal(&self.env, &plain, ctx)?)
            };
            let touched = self
                .store
                .update_factors(&user_id, |f| {
                    let mut touched = false;
                    if let Some(t) = f.totp.as_mut() {
                        t.sealed_secret = reseal(&t.sealed_secret)?;
                        touched = true;
                    }
                    if let Some(p) = f.pending_totp.as_mut() {
                        p.sealed_secret = reseal(&p.sealed_secret)?;
                        touched = true;
                    }
                    if let Some(s) = f.sms.as_mut() {
                        s.sealed_phone = reseal(&s.sealed_phone)?;
                        touched = true;
                    }
                    Ok::<_, FactorError>(touched)
                })
                .await?;
            changed += usize::from(touched);
        }
        Ok(changed)
    }

    fn pending_secret(&self, user_id: &str, f: &FactorsRecord) -> Result<Option<Secret>, FactorError> {
        match &f.pending_totp {
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

    async fn new_recovery_codes(&self) -> Result<(Vec<String>, Vec<RecoveryCode>), FactorError> {
        let codes = recovery::generate(&self.env);
        let (env, clear) = (self.env.clone(), codes.clone());
        let hashes = cpu(move || recovery::hash_set(&env, &clear))
            .await??
            .into_iter()
            .map(|hash| RecoveryCode { hash, used_at: None })
            .collect();
        Ok((codes, hashes))
    }
}

#[cfg(test)]
mod tests;
