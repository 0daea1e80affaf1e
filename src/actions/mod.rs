//! What a user can do to their second factors, as async steps shared by the
//! HTML pages and the JSON API: each checks what it must (password, code,
//! lockout), makes the change through the store, writes the audit
//! trail, and fails with a `Refusal` that either front end can show.

mod guard;
pub mod sms;
pub mod webauthn;

use std::sync::Arc;

use crate::factors::Kind;
use crate::factors::{CodeShape, Enrollment, FactorError, Passed};
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::session::Found;
use crate::store::{FactorsRecord, UserRecord};
use guard::Secret;

/// Why an action was refused: a status, a stable code for scripts and a
/// sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub error: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Where to sign in again, for `reauthentication_required`.
    pub sign_in: Option<String>,
}

impl Refusal {
    pub(crate) fn new(status: u16, error: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            error,
            message: message.into(),
            retry_after: None,
            sign_in: None,
        }
    }

    fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "{what}");
        Refusal::new(
            503,
            "unavailable",
            "The gateway could not complete this. Please try again.",
        )
    }

    /// Another code of the same user is being checked right now.
    fn busy() -> Self {
        Refusal {
            status: 429,
            error: "busy",
            message: "Another code is being checked for this account. Try again in a moment.".into(),
            retry_after: Some(1),
            sign_in: None,
        }
    }

    fn locked(retry_after_secs: u64) -> Self {
        let minutes = retry_after_secs.div_ceil(60);
        Refusal {
            status: 429,
            error: "too_many_attempts",
            message: format!("Too many wrong attempts. Try again in {minutes} minute(s)."),
            retry_after: Some(retry_after_secs),
            sign_in: None,
        }
    }
}

impl From<FactorError> for Refusal {
    fn from(e: FactorError) -> Self {
        match e {
            FactorError::AlreadyEnabled => Refusal::new(409, "already_enabled", e.to_string()),
            FactorError::NotEnabled => Refusal::new(409, "not_enabled", e.to_string()),
            FactorError::NoEnrollment => Refusal::new(409, "no_enrollment", e.to_string()),
            // Signed in and well formed, but not the proof: refused like a
            // wrong password (a sign-in's wrong code is a 401 instead).
            FactorError::WrongCode => Refusal::new(403, "wrong_code", e.to_string()),
            FactorError::NotOffered | FactorError::NoSuchKey | FactorError::NoSuchDevice => {
                Refusal::new(404, "not_found", e.to_string())
            }
            FactorError::NoCeremony => Refusal::new(409, "no_ceremony", e.to_string()),
            FactorError::KeyRefused(_) => Refusal::new(403, "key_refused", e.to_string()),
            FactorError::NotAnAnswer(_) => Refusal::new(400, "bad_request", e.to_string()),
            FactorError::BadName => Refusal::new(400, "invalid_name", e.to_string()),
            FactorError::TooManyKeys => Refusal::new(409, "too_many_keys", e.to_string()),
            FactorError::Store(e) => {
                e.log("second-factor operation could not use the store");
                Refusal::new(
                    503,
                    "unavailable",
                    "The gateway cannot reach its store right now. Please try again in a moment.",
                )
            }
            other => Refusal::internal("second-factor operation failed", other),
        }
    }
}

/// A passed challenge: the new gateway token and the upstream's cookies.
pub struct Released {
    pub token: String,
    pub set_cookies: Vec<String>,
    pub passed: Passed,
    /// The remembered-device cookie's token, when the user asked for it.
    pub device: Option<String>,
}

pub async fn user(gw: &Arc<Gateway>, found: &Found) -> Result<UserRecord, Refusal> {
    let user = gw.store.user(&found.session.user_id).await;
    user.map_err(|e| Refusal::from(FactorError::from(e)))?.ok_or_else(|| {
        Refusal::new(
            401,
            "not_signed_in",
            "Your session no longer matches a user. Sign in again.",
        )
    })
}

pub async fn factors(gw: &Arc<Gateway>, found: &Found) -> Result<FactorsRecord, Refusal> {
    let id = found.session.user_id.to_string();
    gw.factors.status(&id).await.map_err(Refusal::from)
}

/// Checks the user's password against the upstream; wrong passwords count
/// towards the same lockout as wrong codes.
pub async fn confirm_password(
    gw: &Arc<Gateway>,
    found: &Found,
    password: &str,
    client: Option<&str>,
) -> Result<(), Refusal> {
    if found.session.about.passwordless {
        // No password to type: a recent sign-in (through the dashboard's
        // single sign-on) is the confirmation.
        return require_confirmation(gw, found).await;
    }
    let user = user(gw, found).await?;
    let now = gw.env.now();
    let guess = guard::start(gw, &user.id, client, PASSWORD).await?;
    let up = &gw.config.upstream;
    let ok = gw
        .upstream
        .check_password(up, &user.email, password, now)
        .await
        .map_err(|e| Refusal::internal("password check could not reach the upstream", e))?;
    if !ok {
        let after = guess.wrong().await;
        let wrong = Refusal::new(403, "wrong_password", "That password is not right.");
        return Err(guard::refusal(&after, wrong));
    }
    guess.right().await;
    gw.confirm_password(found, now)
        .await
        .map_err(|e| Refusal::from(FactorError::from(e)))
}

const PASSWORD: Secret = Secret {
    failed_event: "password_confirmation_failed",
    lockout_detail: "wrong passwords",
};

const ENROLLMENT_CODE: Secret = Secret {
    failed_event: "enrollment_code_failed",
    lockout_detail: "wrong enrollment codes",
};

const SIGN_IN_CODE: Secret = Secret {
    failed_event: "challenge_failed",
    lockout_detail: "wrong codes",
};

/// Refuses input that cannot be a code of an `expected` shape, before the
/// guard: no secret is compared, so it is not a guess and is not counted
/// towards the lockout. A wrong code of the right shape still is.
pub(crate) fn well_formed(typed: &str, expected: &[CodeShape], hint: &str) -> Result<(), Refusal> {
    if typed.trim().is_empty() {
        return Err(Refusal::new(400, "not_a_code", format!("Enter a code: {hint}.")));
    }
    if expected.contains(&CodeShape::of(typed)) {
        return Ok(());
    }
    Err(Refusal::new(400, "not_a_code", format!("That is not a code: {hint}.")))
}

/// The codes a sign-in accepts, as the refusal of anything else says them.
const SIGN_IN_SHAPES: &[CodeShape] = &[CodeShape::SixDigits, CodeShape::Recovery];
const SIGN_IN_HINT: &str = "enter the 6 digits, or a recovery code like xxxx-xxxx-xxxx";
pub(crate) const ENROLLMENT_SHAPES: &[CodeShape] = &[CodeShape::SixDigits];

async fn require_confirmation(gw: &Gateway, found: &Found) -> Result<(), Refusal> {
    if gw.password_confirmed(found).await {
        Ok(())
    } else if found.session.about.passwordless {
        Err(reauthenticate(gw))
    } else {
        Err(Refusal::new(403, "password_required", "Confirm your password first."))
    }
}

/// A user without a password whose sign-in is older than the confirmation
/// window signs in again (at the dashboard's sign-in page, through its
/// single sign-on) to confirm.
fn reauthenticate(gw: &Gateway) -> Refusal {
    Refusal {
        sign_in: Some(gw.config.upstream.sign_in_again.clone()),
        ..Refusal::new(
            403,
            "reauthentication_required",
            "Sign in again to confirm this change, then try again.",
        )
    }
}

/// Starts a TOTP enrollment; the password must have been confirmed.
pub async fn begin_totp(gw: &Arc<Gateway>, found: &Found) -> Result<Enrollment, Refusal> {
    require_confirmation(gw, found).await?;
    let user = user(gw, found).await?;
    gw.factors
        .begin_totp(&user.id, &user.email)
        .await
        .map_err(Refusal::from)
}

pub async fn current_enrollment(gw: &Arc<Gateway>, found: &Found) -> Result<Option<Enrollment>, Refusal> {
    require_confirmation(gw, found).await?;
    let user = user(gw, found).await?;
    gw.factors
        .current_enrollment(&user.id, &user.email)
        .await
        .map_err(Refusal::from)
}

/// Turns TOTP on with the first code from the app; returns recovery codes.
pub async fn confirm_totp(
    gw: &Arc<Gateway>,
    found: &Found,
    code: String,
    client: Option<&str>,
) -> Result<Vec<String>, Refusal> {
    well_formed(&code, ENROLLMENT_SHAPES, "enter the 6 digits the app shows")?;
    let user_id = found.session.user_id.to_string();
    let guess = guard::start(gw, &user_id, client, ENROLLMENT_CODE).await?;
    let id = user_id.clone();
    let codes = match gw.factors.confirm_totp(&id, &code).await.map_err(Refusal::from) {
        Ok(codes) => codes,
        Err(r) if r.error == "wrong_code" => return Err(guard::refusal(&guess.wrong().await, r)),
        Err(r) => return Err(r),
    };
    guess.right().await;
    gw.directory.set_factor(&user_id, Kind::Totp, true);
    Metrics::inc(&gw.metrics.enrollments);
    gw.audit(
        "totp_enabled",
        Some(&user_id),
        client.map(str::to_string),
        String::new(),
    );
    Ok(codes)
}

pub async fn disable_totp(gw: &Arc<Gateway>, found: &Found, client: Option<&str>) -> Result<(), Refusal> {
    let user_id = found.session.user_id.to_string();
    let id = user_id.clone();
    gw.factors.disable(&id).await.map_err(Refusal::from)?;
    gw.directory.set_factor(&user_id, Kind::Totp, false);
    gw.audit(
        "totp_disabled",
        Some(&user_id),
        client.map(str::to_string),
        String::new(),
    );
    Ok(())
}

pub async fn regenerate(gw: &Arc<Gateway>, found: &Found, client: Option<&str>) -> Result<Vec<String>, Refusal> {
    let user_id = found.session.user_id.to_string();
    let id = user_id.clone();
    let codes = gw.factors.regenerate(&id).await.map_err(Refusal::from)?;
    gw.audit(
        "recovery_codes_regenerated",
        Some(&user_id),
        client.map(str::to_string),
        String::new(),
    );
    Ok(codes)
}

/// The second step of sign-in. A right code releases the held upstream
/// session under a new gateway token; a wrong one counts towards lockout.
pub async fn pass_challenge(
    gw: &Arc<Gateway>,
    found: &Found,
    code: String,
    remember: bool,
    client: Option<&str>,
) -> Result<Released, Refusal> {
    well_formed(&code, SIGN_IN_SHAPES, SIGN_IN_HINT)?;
    let user_id = found.session.user_id.to_string();
    let owned_client = client.map(str::to_string);
    let guess = guard::start(gw, &user_id, client, SIGN_IN_CODE).await?;
    let id = user_id.clone();
    let typed = code.clone();
    let mut passed = {
        // Hashing work waits its turn instead of taking every core.
        let _permit = gw
            .code_work
            .acquire()
            .await
            .map_err(|e| Refusal::internal("code checks closed", e))?;
        gw.factors.verify_login(&id, &typed).await.map_err(Refusal::from)?
    };
    if passed.is_none() && sms::redeem_sign_in(gw, &user_id, &code).await? {
        passed = Some(Passed::Sms);
    }
    let Some(passed) = passed else {
        let after = guess.wrong().await;
        Metrics::inc(&gw.metrics.challenges_failed);
        let message = match after.attempts_left {
            1 => "That code is not right. One attempt left before a lockout.".to_string(),
            n => format!("That code is not right. {n} attempts left."),
        };
        return Err(guard::refusal(&after, Refusal::new(401, "wrong_code", message)));
    };
    guess.right().await;
    release(gw, found, passed, remember, owned_client).await
}

/// A second factor passed: the held upstream session is released under a
/// new gateway token, and the pass is counted and audited.
async fn release(
    gw: &Arc<Gateway>,
    found: &Found,
    passed: Passed,
    remember: bool,
    client: Option<String>,
) -> Result<Released, Refusal> {
    let user_id = found.session.user_id.to_string();
    let step_up = found.session.stage == crate::session::Stage::Authenticated;
    let device = match gw.config.second_factor.remember_device_days {
        days if remember && days > 0 => {
            let label = found.session.about.user_agent.as_deref().unwrap_or("A browser");
            match gw.factors.remember_device(&user_id, label, days).await {
                Ok(token) => {
                    gw.audit("device_remembered", Some(&user_id), client.clone(), label.to_string());
                    Some(token)
                }
                // The sign-in still passes; the next one asks again.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot remember a device");
                    None
                }
            }
        }
        _ => None,
    };
    let (token, set_cookies) = gw
        .release(&found.token_hash)
        .await
        .map_err(|e| Refusal::internal("cannot record a passed challenge", e))?
        .ok_or_else(|| Refusal::new(409, "no_challenge", "This sign-in has expired. Sign in again."))?;
    let how = match passed {
        Passed::Totp => "authenticator code".to_string(),
        Passed::Sms => "SMS code".to_string(),
        Passed::Webauthn => "security key".to_string(),
        Passed::Recovery { left } => {
            gw.audit(
                "recovery_code_used",
                Some(&user_id),
                client.clone(),
                format!("{left} left"),
            );
            "recovery code".to_string()
        }
    };
    if step_up {
        Metrics::inc(&gw.metrics.step_ups);
        gw.audit("step_up_passed", Some(&user_id), client, how);
    } else {
        Metrics::inc(&gw.metrics.challenges_passed);
        gw.audit("challenge_passed", Some(&user_id), client, how);
    }
    Ok(Released {
        token,
        set_cookies,
        passed,
        device,
    })
}

/// Forgets one of the user's remembered devices.
pub async fn forget_device(gw: &Arc<Gateway>, found: &Found, id: &str, client: Option<&str>) -> Result<(), Refusal> {
    let user_id = found.session.user_id.to_string();
    gw.factors.forget_device(&user_id, id).await.map_err(Refusal::from)?;
    gw.audit(
        "device_forgotten",
        Some(&user_id),
        client.map(str::to_string),
        String::new(),
    );
    Ok(())
}

/// An owner requires 2FA of every user of an account, or stops requiring it.
/// Turning it on needs the owner's own second factor first.
pub async fn set_requirement(
    gw: &Arc<Gateway>,
    found: &Found,
    account_id: &str,
    require: bool,
    client: Option<&str>,
) -> Result<(), Refusal> {
    let user_id = found.session.user_id.to_string();
    if !gw.directory.is_active(account_id) {
        return Err(Refusal::new(
            404,
            "not_found",
            "Two-factor authentication is not available for this account.",
        ));
    }
    match gw.directory.role(&user_id, account_id) {
        Some(crate::identity::Role::Owner) => {}
        Some(_) => {
            return Err(Refusal::new(
                403,
                "not_owner",
                "Only an owner of the account can change this.",
            ))
        }
        None => return Err(Refusal::new(404, "not_found", "You are not a member of this account.")),
    }
    if require && !gw.directory.has_second_factor(&user_id) {
        return Err(Refusal::new(
            409,
            "owner_needs_2fa",
            "Enable two-factor authentication for yourself before requiring it of everyone.",
        ));
    }
    let now = gw.env.now();
    let grace = gw.config.accounts.grace_secs;
    let name = gw
        .directory
        .account_name(account_id)
        .unwrap_or_else(|| account_id.to_string());
    let (id, by) = (account_id.to_string(), user_id.clone());
    let record = gw
        .store
        .update_account::<FactorError>(&id, &name, |acc| {
            if acc.require_2fa != require {
                acc.require_2fa = require;
                acc.require_changed_by = Some(by.clone());
                acc.require_changed_at = Some(now);
                acc.grace_until = (require && grace > 0).then_some(now + grace);
            }
            Ok(())
        })
        .await?;
    gw.directory.put_account(&record);
    let kind = if require { "requirement_on" } else { "requirement_off" };
    gw.audit_account(
        kind,
        Some(&user_id),
        Some(account_id),
        client.map(str::to_string),
        String::new(),
    );
    Ok(())
}
