//! One guess at a secret the user is asked for (a sign-in code, an
//! enrollment code, a password), limited the same way wherever it is asked:
//! one check per user at a time on each replica, refused while the user (or
//! their address, see `throttle`) is locked out, counted in the store as a
//! failure before it is checked and taken back if right, and audited when
//! wrong. An endpoint that takes guesses without going through here is one
//! an attacker can loop on.

use std::sync::Arc;

use super::Refusal;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::throttle::{AfterFailure, Checking, Refused, Reserved};

/// What was guessed, for the audit trail.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Secret {
    /// The audit event of a wrong guess.
    pub failed_event: &'static str,
    /// The detail of the lockout event it may start.
    pub lockout_detail: &'static str,
}

pub(crate) struct Guess<'a> {
    gw: &'a Arc<Gateway>,
    user_id: String,
    client: Option<String>,
    secret: Secret,
    /// Taken by `wrong` or `right`; a guess dropped unjudged gives it back.
    reserved: Option<Reserved>,
    _checking: Checking<'a>,
}

impl Drop for Guess<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.reserved.take() {
            let gw = self.gw.clone();
            tokio::spawn(async move {
                if let Err(e) = gw.throttle.cancel(r).await {
                    tracing::debug!(error = %e, "cannot take back an unjudged guess's count");
                }
            });
        }
    }
}

/// Claims the user's one check here, then counts the guess as a failure
/// unless a lockout refuses it.
pub(crate) async fn start<'a>(
    gw: &'a Arc<Gateway>,
    user_id: &str,
    client: Option<&str>,
    secret: Secret,
) -> Result<Guess<'a>, Refusal> {
    let Some(checking) = gw.throttle.begin(user_id) else {
        return Err(Refusal::busy());
    };
    let reserved = match gw.throttle.reserve(user_id, client, gw.env.now()).await {
        Ok(r) => r,
        Err(Refused::Locked { retry_after_secs }) => return Err(Refusal::locked(retry_after_secs)),
        Err(Refused::Store(e)) => return Err(Refusal::from(crate::factors::FactorError::from(e))),
    };
    Ok(Guess {
        gw,
        user_id: user_id.to_string(),
        client: client.map(str::to_string),
        secret,
        reserved: Some(reserved),
        _checking: checking,
    })
}

impl Guess<'_> {
    /// A wrong guess, already counted; the caller words the refusal,
    /// unless it must be `Refusal::locked` (`AfterFailure::retry_after`).
    pub async fn wrong(mut self) -> AfterFailure {
        let gw = self.gw;
        // Always there: `wrong` and `right` take the guess by value.
        let after = self.reserved.take().map(|r| r.after).unwrap_or_default();
        gw.audit(
            self.secret.failed_event,
            Some(&self.user_id),
            self.client.clone(),
            String::new(),
        );
        if after.locked_now {
            Metrics::inc(&gw.metrics.lockouts);
            gw.audit(
                "lockout",
                Some(&self.user_id),
                self.client.clone(),
                self.secret.lockout_detail.into(),
            );
            // None of the user's waiting sign-ins can be completed now.
            gw.end_pending(&self.user_id, self.client.clone()).await;
        }
        after
    }

    /// A right guess: its failure is taken back and the user's count starts
    /// again (see `Throttle::right`).
    pub async fn right(mut self) {
        let Some(reserved) = self.reserved.take() else { return };
        if let Err(e) = self.gw.throttle.right(reserved).await {
            // The guess still counts as wrong: safe, and the user is in.
            tracing::debug!(error = %e, "cannot take back a right guess's count");
        }
    }
}

/// The refusal after a wrong guess: the lockout if one now holds, else `wrong`.
pub(crate) fn refusal(after: &AfterFailure, wrong: Refusal) -> Refusal {
    after.retry_after.map_or(wrong, Refusal::locked)
}
