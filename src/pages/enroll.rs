//! Where a user is sent when an account requires a second factor they do not
//! have yet: which account asks, and the way to enable it. During a grace
//! period the page also lets them continue, once per session.

use super::request::{safe_next, OwnRequest, Shared};
use super::{html, html_reply, redirect, Reply};
use crate::directory::Due;

pub fn show(gw: &Shared, req: &OwnRequest) -> Reply {
    show_with(gw, req, None)
}

/// The page again, with why starting the enrollment failed.
pub fn show_with(gw: &Shared, req: &OwnRequest, error: Option<&str>) -> Reply {
    // A refused form posts its `next`; the page itself has it in the query.
    let next = super::request::next_of(req, &req.form()).unwrap_or_else(|| "/".into());
    let Some(found) = &req.found else {
        return redirect(&gw.config.upstream.login.path);
    };
    let now = gw.env.now();
    let (accounts, deadline) = match gw.directory.view(&found.session.user_id, now).due {
        Due::Nothing => return redirect(&next),
        Due::Required { accounts } => {
            if found.session.first_forced_enrollment() {
                gw.audit(
                    "enrollment_forced",
                    Some(&found.session.user_id),
                    req.client.clone(),
                    accounts.join(", "),
                );
            }
            (accounts, None)
        }
        Due::Grace { accounts, deadline } => (accounts, Some(remaining(deadline.saturating_sub(now)))),
    };
    let view = html::EnrollView {
        accounts: &accounts,
        deadline: deadline.as_deref(),
        next: &next,
        sms: gw.directory.sms_allowed(&found.session.user_id),
    };
    let mut frame = req.frame(gw);
    // Said beside the password field of the form that was refused.
    frame.failed = error.map(|message| html::Failed {
        action: "/settings/totp/enable",
        field: html::Field::Password,
        message,
    });
    html_reply(if error.is_some() { 403 } else { 200 }, html::enroll(&frame, &view))
}

/// "Not now" during a grace period: the notice is not shown again in this session.
pub fn later(gw: &Shared, req: &OwnRequest) -> Reply {
    let next = safe_next(req.query_param("next").as_deref());
    if let Some(found) = &req.found {
        if let Due::Grace { .. } = gw.directory.view(&found.session.user_id, gw.env.now()).due {
            found.session.acknowledge_grace();
            return redirect(&next);
        }
    }
    redirect(&format!(
        "{}/enroll?next={}",
        gw.config.prefix,
        crate::policy::encode_component(&next)
    ))
}

/// "6 days and 4 hours", "3 hours", "under an hour".
fn remaining(secs: u64) -> String {
    let (days, hours) = (secs / 86_400, (secs % 86_400) / 3600);
    match (days, hours) {
        (0, 0) => "under an hour".into(),
        (0, h) => format!("{h} hour(s)"),
        (d, 0) => format!("{d} day(s)"),
        (d, h) => format!("{d} day(s) and {h} hour(s)"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn remaining_time_reads_as_days_and_hours() {
        assert_eq!(super::remaining(6 * 86_400 + 4 * 3600 + 59), "6 day(s) and 4 hour(s)");
        assert_eq!(super::remaining(1800), "under an hour");
    }
}
