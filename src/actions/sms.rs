//! The SMS factor's actions: send a code to a new number, enable SMS with
//! it, disable SMS, and send a sign-in code. A provider failure is a clear
//! refusal, a log line without the code, and a metric; nothing is lost, the
//! user just asks again.

use std::sync::Arc;

use super::{guard, Refusal, ENROLLMENT_CODE};
use crate::factors::Kind;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::session::Found;
use crate::sms::{Phone, Purpose, SmsService};

fn service(gw: &Gateway) -> Result<&SmsService, Refusal> {
    gw.sms
        .as_ref()
        .ok_or_else(|| Refusal::new(404, "sms_not_offered", "SMS codes are not offered here."))
}

/// Sends a code (checked against the send limit) to `phone` for `purpose`.
async fn send_code(
    gw: &Arc<Gateway>,
    user_id: &str,
    phone: &Phone,
    purpose: Purpose,
    client: Option<&str>,
) -> Result<(), Refusal> {
    let sms = service(gw)?;
    let now = gw.env.now();
    let allowed = sms.limit.try_send(user_id, phone, now).await;
    if let Err(wait) = allowed.map_err(|e| Refusal::from(crate::factors::FactorError::from(e)))? {
        return Err(Refusal {
            status: 429,
            error: "too_many_codes",
            message: format!(
                "Too many codes were sent. Try again in {} minute(s).",
                wait.div_ceil(60)
            ),
            retry_after: Some(wait),
            sign_in: None,
        });
    }
    let code = sms
        .codes
        .issue(&gw.env, user_id, purpose)
        .await
        .map_err(|e| Refusal::from(crate::factors::FactorError::from(e)))?;
    let body = format!(
        "{} security code: {code}. It expires in {} minutes.",
        gw.config.dashboard_name,
        gw.config.sms.code_ttl_secs / 60
    );
    match sms.provider.send(phone.e164(), &body).await {
        Ok(()) => {
            Metrics::inc(&gw.metrics.sms_sent);
            gw.audit(
                "sms_code_sent",
                Some(user_id),
                client.map(str::to_string),
                phone.masked(),
            );
            Ok(())
        }
        Err(e) => {
            // The error names the provider and status, never the message.
            tracing::error!(provider = sms.provider.name(), error = %e, "SMS could not be sent");
            Metrics::inc(&gw.metrics.sms_failures);
            gw.audit(
                "sms_provider_failed",
                Some(user_id),
                client.map(str::to_string),
                sms.provider.name().into(),
            );
            Err(Refusal::new(
                502,
                "sms_failed",
                "The text message could not be sent. Please try again in a moment.",
            ))
        }
    }
}

/// Starts SMS enrollment: validates the number and sends it a code. The
/// password must have been confirmed.
pub async fn enroll(
    gw: &Arc<Gateway>,
    found: &Found,
    country: &str,
    number: &str,
    client: Option<&str>,
) -> Result<Phone, Refusal> {
    service(gw)?;
    let user_id = found.session.user_id.to_string();
    if !gw.directory.sms_allowed(&user_id) {
        return Err(Refusal::new(
            403,
            "sms_not_allowed",
            "SMS is not allowed for your account: use an authenticator app.",
        ));
    }
    if !gw.password_confirmed(found).await {
        return Err(Refusal::new(403, "password_required", "Confirm your password first."));
    }
    if super::factors(gw, found).await?.sms_on() {
        return Err(Refusal::new(
            409,
            "already_enabled",
            "SMS is already on. To change the number, disable SMS first.",
        ));
    }
    let phone = Phone::parse(country, number).map_err(|e| Refusal::new(400, "invalid_phone", e.to_string()))?;
    send_code(gw, &user_id, &phone, Purpose::Enroll(phone.clone()), client).await?;
    Ok(phone)
}

/// Enables SMS if `code` is the one sent to the new number.
pub async fn verify(gw: &Arc<Gateway>, found: &Found, code: &str, client: Option<&str>) -> Result<(), Refusal> {
    let sms = service(gw)?;
    super::well_formed(code, super::ENROLLMENT_SHAPES, "enter the 6 digits the message shows")?;
    let user_id = found.session.user_id.to_string();
    // Six digits: without the limit, all of them fit in a code's lifetime.
    let guess = guard::start(gw, &user_id, client, ENROLLMENT_CODE).await?;
    let redeemed = sms.codes.redeem(&user_id, code, false, gw.env.now()).await;
    let Some(Purpose::Enroll(phone)) = redeemed.map_err(|e| Refusal::from(crate::factors::FactorError::from(e)))?
    else {
        let wrong = Refusal::new(403, "wrong_code", "That code is not right, or it has expired.");
        return Err(guard::refusal(&guess.wrong().await, wrong));
    };
    guess.right().await;
    let (id, p) = (user_id.clone(), phone.clone());
    gw.factors.enable_sms(&id, &p).await.map_err(Refusal::from)?;
    gw.directory.set_factor(&user_id, Kind::Sms, true);
    Metrics::inc(&gw.metrics.enrollments);
    gw.audit(
        "sms_enabled",
        Some(&user_id),
        client.map(str::to_string),
        phone.masked(),
    );
    Ok(())
}

pub async fn disable(gw: &Arc<Gateway>, found: &Found, client: Option<&str>) -> Result<(), Refusal> {
    let user_id = found.session.user_id.to_string();
    let id = user_id.clone();
    gw.factors.disable_sms(&id).await.map_err(Refusal::from)?;
    gw.directory.set_factor(&user_id, Kind::Sms, false);
    gw.audit(
        "sms_disabled",
        Some(&user_id),
        client.map(str::to_string),
        String::new(),
    );
    Ok(())
}

/// Sends a sign-in code to the number of a user waiting at the challenge.
pub async fn send_sign_in_code(gw: &Arc<Gateway>, found: &Found, client: Option<&str>) -> Result<String, Refusal> {
    service(gw)?;
    let user_id = found.session.user_id.to_string();
    let id = user_id.clone();
    let phone = gw
        .factors
        .sms_phone(&id)
        .await
        .map_err(Refusal::from)?
        .ok_or_else(|| Refusal::new(409, "sms_not_enabled", "SMS codes are not set up for this account."))?;
    send_code(gw, &user_id, &phone, Purpose::SignIn, client).await?;
    Ok(phone.masked())
}

/// A sign-in code, checked after TOTP and recovery codes did not match.
pub async fn redeem_sign_in(gw: &Gateway, user_id: &str, typed: &str) -> Result<bool, Refusal> {
    let Some(sms) = gw.sms.as_ref() else {
        return Ok(false);
    };
    let redeemed = sms.codes.redeem(user_id, typed, true, gw.env.now()).await;
    Ok(redeemed
        .map_err(|e| Refusal::from(crate::factors::FactorError::from(e)))?
        .is_some())
}
