//! Step-up: paths of the dashboard that need a second factor passed
//! recently, whatever the session's age. A path is matched the way a
//! dashboard's server may read it, not as sent (see `paths`). Matching too
//! much asks for a code once more; matching too little would let a
//! spelling of the path through without one.

use super::paths::{is_plain, segments};
use super::{encode_component, ClientKind, Decision};
use crate::config::StepUp;

/// The longest age allowed for the first rule whose prefix holds `path`
/// (rules come longest prefix first).
pub fn max_age(rules: &[StepUp], path: &str) -> Option<u64> {
    if rules.is_empty() {
        return None;
    }
    let plain = is_plain(path);
    let mut read = None;
    rules
        .iter()
        .find(|r| {
            if plain && is_plain(&r.path_prefix) {
                // Nothing to decode or resolve on either side (most
                // requests): no allocation.
                let prefix = r.path_prefix.trim_end_matches('/');
                return path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            }
            // A prefix that is not plain (`/export.csv`) is read as a
            // server reads it too, and so is the path, once.
            let read: &Vec<String> = read.get_or_insert_with(|| segments(path));
            let prefix = segments(&r.path_prefix);
            read.len() >= prefix.len() && read[..prefix.len()] == prefix[..]
        })
        .map(|r| r.max_age_secs)
}

/// The step-up challenge, which comes back to `target` once passed.
pub fn challenge(prefix: &str, target: &str) -> String {
    format!("{prefix}/challenge?step_up=1&next={}", encode_component(target))
}

/// The answer to a request that needs a fresh second factor: the challenge
/// for a browser, which comes back to `target` once passed; a status a
/// script can act on otherwise.
pub fn answer(client: ClientKind, target: &str, prefix: &str) -> Decision {
    match client {
        ClientKind::Navigation => Decision::Redirect {
            location: challenge(prefix, target),
        },
        ClientKind::Api | ClientKind::WebSocket => Decision::Deny {
            status: 401,
            error: "step_up_required",
            message: "This needs your second factor again: pass the challenge, then retry.",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<StepUp> {
        vec![
            StepUp {
                path_prefix: "/settings/billing/export".into(),
                max_age_secs: 60,
            },
            StepUp {
                path_prefix: "/settings/billing".into(),
                max_age_secs: 300,
            },
        ]
    }

    #[test]
    fn a_rule_holds_its_path_and_below_not_a_longer_name() {
        let r = rules();
        assert_eq!(max_age(&r, "/settings/billing"), Some(300));
        assert_eq!(max_age(&r, "/settings/billing/"), Some(300));
        assert_eq!(max_age(&r, "/settings/billing/cards"), Some(300));
        assert_eq!(max_age(&r, "/settings/billing/export/x"), Some(60), "the longest rule");
        assert_eq!(max_age(&r, "/settings/billingx"), None);
        assert_eq!(max_age(&r, "/settings"), None);
        assert_eq!(max_age(&[], "/settings/billing"), None);
        let csv = [StepUp {
            path_prefix: "/export.csv".into(),
            max_age_secs: 60,
        }];
        assert_eq!(
            max_age(&csv, "/export"),
            Some(60),
            "a plain path, a prefix with a format"
        );
        assert_eq!(max_age(&csv, "/Export"), Some(60));
    }

    #[test]
    fn every_spelling_a_server_may_read_as_the_path_is_held() {
        let r = rules();
        for spelling in [
            "/settings//billing",
            "//settings/billing",
            "/Settings/BILLING",
            "/settings/./billing",
            "/settings/x/../billing",
            "/settings/%62illing",
            "/settings%2fbilling",
            "/settings/%252e/billing",
            "/settings\\billing",
            "/settings/billing;jsessionid=1",
            "/settings/billing.",
            "/settings/b%C4%B1lling",
            "/settings/b%C4%B0lling",
            "/settings/billing.html",
            "/settings/billing.json",
            "/%C5%BFettings/billing",
            "/x/../../settings/billing",
        ] {
            assert_eq!(max_age(&r, spelling), Some(300), "{spelling}");
        }
    }

    #[test]
    fn a_browser_is_sent_to_the_challenge_and_a_script_told_why() {
        let to = answer(ClientKind::Navigation, "/settings/billing?tab=1", "/_2fa");
        assert_eq!(
            to,
            Decision::Redirect {
                location: "/_2fa/challenge?step_up=1&next=/settings/billing%3Ftab%3D1".into()
            }
        );
        assert!(matches!(
            answer(ClientKind::Api, "/", "/_2fa"),
            Decision::Deny {
                status: 401,
                error: "step_up_required",
                ..
            }
        ));
    }
}
