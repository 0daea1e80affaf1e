//! The second-factor operations a user can perform, over the store, one
//! module per kind (`totp.rs`, `sms.rs`, `recovery.rs`, `webauthn.rs`;
//! `kind.rs` names the kinds and which count, `endpoints.rs` the routes
//! each offers): enroll, confirm, remove, and check a proof at sign-in (a
//! typed code goes to the kind whose shape it has). Each change is one atomic update of the user's record
//! in the store; the argon2 work runs on the blocking pool, never inside an
//! update that may be retried. Throttling and auditing are the caller's.

mod devices;
mod endpoints;
mod kind;
mod recovery;
mod sms;
mod totp;
mod webauthn;

pub use devices::{live_devices, MAX_DEVICES};
pub use endpoints::{find as find_endpoint, Action, Endpoint, Step, Verb};
pub use kind::{Kind, KindSet};
pub use totp::{Enrollment, ENROLLMENT_TTL_SECS};
pub use webauthn::{key_name, Registered, RelyingParty, MAX_KEYS, MAX_NAME};

use crate::env::Env;
use crate::recovery::RecoveryError;
use crate::secretbox::{SecretBoxError, SecretKey};
use crate::store::{FactorsRecord, PendingTotp, SmsFactor, Store, StoreError, TotpFactor};
use crate::totp::TotpError;

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
    #[error("security keys are not offered here")]
    NotOffered,
    #[error("no security key step is in progress for this session; start again")]
    NoCeremony,
    #[error("the security key's answer was not accepted: {0}")]
    KeyRefused(String),
    #[error("not a security key's answer: {0}")]
    NotAnAnswer(String),
    #[error("give the key a name of 1 to {} characters", webauthn::MAX_NAME)]
    BadName,
    #[error("you have the most security keys allowed ({}); remove one first", webauthn::MAX_KEYS)]
    TooManyKeys,
    #[error("there is no such security key")]
    NoSuchKey,
    #[error("there is no such remembered device")]
    NoSuchDevice,
}

/// A check's spending update, judged: refused as `WrongCode` (not the
/// code, or spent meanwhile by another sign-in) is a wrong guess, not a
/// failure.
fn judged<T>(result: Result<T, FactorError>, passed: impl FnOnce(T) -> Passed) -> Result<Option<Passed>, FactorError> {
    match result {
        Ok(t) => Ok(Some(passed(t))),
        Err(FactorError::WrongCode) => Ok(None),
        Err(e) => Err(e),
    }
}

/// After a factor is removed: recovery codes back up the other factors, so
/// they go when no factor that counts is left; so do remembered devices,
/// which 2FA turned off must not outlive.
fn codes_follow(f: &mut FactorsRecord) {
    if !KindSet::of(f).counting() {
        f.set_recovery(Vec::new());
        f.set_devices(Vec::new());
    }
}

/// Runs CPU-heavy work (argon2) on the blocking pool.
async fn cpu<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, FactorError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| FactorError::Task(e.to_string()))
}

/// Which factor a sign-in was completed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    Totp,
    Sms,
    Recovery { left: usize },
    Webauthn,
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
        } else if crate::recovery::normalize(typed).is_some() {
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
    /// `None`: security keys are not offered.
    pub webauthn: Option<RelyingParty>,
}

impl Factors {
    pub async fn status(&self, user_id: &str) -> Result<FactorsRecord, FactorError> {
        Ok(self.store.factors(user_id).await?)
    }

    /// Checks a code typed at sign-in: a TOTP code (each time step accepted
    /// once) or one unused recovery code (then spent). `Ok(None)`: wrong.
    /// SMS codes are checked by the caller (`actions::sms`; codes in `sms/`).
    pub async fn verify_login(&self, user_id: &str, typed: &str) -> Result<Option<Passed>, FactorError> {
        let current = self.store.factors(user_id).await?;
        if !KindSet::of(&current).counting() {
            return Err(FactorError::NotEnabled);
        }
        match CodeShape::of(typed) {
            CodeShape::SixDigits => self.check_totp(user_id, &current, typed).await,
            CodeShape::Recovery => self.check_recovery(user_id, &current, typed).await,
            _ => Ok(None),
        }
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
                    if let Some(t) = f.get_mut::<TotpFactor>() {
                        t.sealed_secret = reseal(&t.sealed_secret)?;
                        touched = true;
                    }
                    if let Some(p) = f.get_mut::<PendingTotp>() {
                        p.sealed_secret = reseal(&p.sealed_secret)?;
                        touched = true;
                    }
                    if let Some(s) = f.get_mut::<SmsFactor>() {
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
}

#[cfg(test)]
mod tests;
