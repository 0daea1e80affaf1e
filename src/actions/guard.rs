//! One guess at a secret the user is asked for (a sign-in code, an
//! enrollment code, a password), limited the same way wherever it is asked:
//! one check per user at a time, refused while the user (or their address,
//! see `throttle`) is locked out, and each wrong guess counted, saved and
//! audited. An endpoint that takes guesses without going through here is
//! one an attacker can loop on.

use std::sync::Arc;

use super::Refusal;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::throttle::{AfterFailure, Checking, Verdict};

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
    _checking: Checking<'a>,
}

/// Claims the user's one check and reads the lockout, in that order, so the
/// count it reads is final until this guess is settled.
pub(crate) fn start<'a>(
    gw: &'a Arc<Gateway>,
    user_id: &str,
    client: Option<&str>,
    secret: Secret,
) -> Result<Guess<'a>, Refusal> {
    let Some(checking) = gw.throttle.begin(user_id) else {
        return Err(Refusal::busy());
    };
    if let Verdict::Locked { retry_after_secs } = gw.throttle.check(user_id, client, gw.env.now()) {
        return Err(Refusal::locked(retry_after_secs));
    }
    Ok(Guess {
        gw,
        user_id: user_id.to_string(),
        client: client.map(str::to_string),
        secret,
        _checking: checking,
    })
}

impl Guess<'_> {
    /// Counts a wrong guess; the caller words the refusal, unless it must
    /// be `Refusal::locked` (`AfterFailure::retry_after`).
    pub async fn wrong(self) -> AfterFailure {
        let gw = self.gw;
        let after = gw.throttle.failure(&self.user_id, self.client.as_deref(), gw.env.now());
        gw.save_throttle(&self.user_id).await;
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

    /// A right guess: the user's count starts again (see `Throttle::success`).
    pub async fn right(self) {
        self.gw.throttle.success(&self.user_id, self.client.as_deref());
        self.gw.save_throttle(&self.user_id).await;
    }
}

/// The refusal after a wrong guess: the lockout if one now holds, else `wrong`.
pub(crate) fn refusal(after: &AfterFailure, wrong: Refusal) -> Refusal {
    after.retry_after.map_or(wrong, Refusal::locked)
}
